"""``gldpose export``: checkpoint folder -> model folder with ONNX / OpenVINO IR / TensorRT engine.

    gldpose export --checkpoint runs/x --out models/x --formats onnx,openvino,tensorrt \\
        [--fp16] [--int8 --calib DIR] [--batch 1:8:32] [--verify]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shutil
import time
from pathlib import Path

from gldpose_export import ParityError
from gldpose_export.config import ONNX_EXPORTERS, ExportConfig
from gldpose_export.formats import FORMATS, preflight_format, resolve_format
from gldpose_sdk.errors import GldposeError
from gldpose_sdk.manifest import Manifest, ParityResult, verify_artefact, write_manifest

_LOG = logging.getLogger("gldpose_export")


def run_export(config: ExportConfig) -> Manifest:
    """Export ``config.checkpoint`` into ``config.out_dir``; return the manifest written.

    The weights and their manifest entry are copied; each format adds its artefacts. Formats
    built from ONNX (openvino, tensorrt) export ONNX first. With ``config.verify`` the parity
    figures are measured and appended to each artefact's notes.

    Raises:
        ExportError: bad checkpoint, missing package, or a failed export step.
        ParityError: verification failed.
        ManifestMismatchError: the checkpoint's weights do not match its manifest.
    """
    from gldpose_sdk.model import load_model  # torch: only once an export is really asked for

    formats = _ordered(config.formats)
    for name in formats:
        preflight_format(name, config)
    model, manifest = load_model(config.checkpoint)
    out = config.out_dir
    out.mkdir(parents=True, exist_ok=True)
    weights = manifest.find("safetensors")
    if out.resolve() != config.checkpoint.resolve():
        shutil.copyfile(verify_artefact(config.checkpoint, weights), out / weights.path)
    manifest = dataclasses.replace(manifest, artefacts=(weights,))
    write_manifest(out, manifest)
    for name in formats:
        export = resolve_format(name)
        start = time.perf_counter()
        for art in export(model, manifest, out, config):
            manifest = manifest.with_artefact(art)
        write_manifest(out, manifest)  # after each format, so a later failure keeps the rest
        _LOG.info("format %s done in %.1f s", name, time.perf_counter() - start)
    if config.verify:
        manifest = _verify_into_notes(out, manifest, config)
    return manifest


def _ordered(formats: tuple[str, ...]) -> list[str]:
    from_onnx = sorted(f for f in formats if FORMATS[f].needs_onnx)
    wanted = set(formats) | ({"onnx"} if from_onnx else set())
    if "onnx" not in formats and "onnx" in wanted:
        _LOG.info("exporting onnx too: %s is built from it", ", ".join(from_onnx))
    return [name for name in FORMATS if name in wanted]


def _verify_into_notes(out: Path, manifest: Manifest, config: ExportConfig) -> Manifest:
    from gldpose_export.verify import list_images, verify_model_dir

    images = list_images(config.verify_images, "--verify-images") if config.verify_images else []
    report = verify_model_dir(out, n_random=config.verify_random, n_crops=config.verify_crops,
                              images=images, raise_on_failure=False)
    for art in manifest.artefacts:
        rows = [r for r in report.rows if r.artefact == art.path and not r.skipped]
        if rows:
            results = tuple(ParityResult(
                reference=f"pytorch fp32 vs {r.runtime} ({r.precision})", inputs=report.n_inputs,
                max_abs_diff_deg=tuple(float(v) for v in r.max_deg),
                mean_abs_diff_deg=tuple(float(v) for v in r.mean_deg),
                tolerance_deg=float(r.tolerance_deg or 0.0),
                passed=r.passed) for r in rows)
            manifest = manifest.with_artefact(dataclasses.replace(art, parity=results))
    write_manifest(out, manifest)
    (out / "parity.json").write_text(json.dumps(report.to_dict(), indent=2, sort_keys=True)
                                     + "\n", encoding="utf-8")
    if report.failures:
        raise ParityError("parity check failed for " + ", ".join(
            f"{r.artefact} ({r.runtime}): max {max(r.max_deg):.4f} deg > {r.tolerance_deg} deg"
            for r in report.failures))
    return manifest


def _batch(text: str) -> tuple[int, int, int]:
    try:
        values = tuple(int(v) for v in text.split(":"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--batch wants MIN:OPT:MAX integers, got {text!r}") \
            from exc
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"--batch wants MIN:OPT:MAX, got {text!r}")
    return values  # type: ignore[return-value]


def _formats(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown format(s) {unknown or text!r}; choose from "
                                         f"{', '.join(sorted(FORMATS))} (comma-separated)")
    return names


def build_parser() -> argparse.ArgumentParser:
    """The ``gldpose export`` argument parser."""
    p = argparse.ArgumentParser(prog="gldpose export", description="Export a checkpoint folder "
                                "to ONNX, OpenVINO IR and TensorRT engines, with parity checks.")
    p.add_argument("--checkpoint", required=True, type=Path,
                   help="model folder with model.safetensors + manifest.json")
    p.add_argument("--out", required=True, type=Path, help="model folder to write")
    p.add_argument("--formats", type=_formats, default=("onnx",),
                   help=f"comma-separated, from: {', '.join(sorted(FORMATS))} (default onnx)")
    p.add_argument("--fp16", action="store_true",
                   help="also FP16: OpenVINO IR with FP16 weights; TensorRT FP16 engine")
    p.add_argument("--int8", action="store_true", help="also an INT8 OpenVINO IR (NNCF)")
    p.add_argument("--calib", type=Path, help="folder of face-crop images for --int8")
    p.add_argument("--calib-size", type=int, default=300, help="calibration images used")
    p.add_argument("--batch", type=_batch, default=(1, 8, 32),
                   help="TensorRT batch profile MIN:OPT:MAX (default 1:8:32)")
    p.add_argument("--exporter", choices=ONNX_EXPORTERS, default="dynamo",
                   help="ONNX exporter (default dynamo; torchscript is the legacy one)")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset (>= 17; dynamo writes 18)")
    p.add_argument("--no-angles-onnx", action="store_true",
                   help="skip model_angles.onnx (decode in the graph)")
    p.add_argument("--no-uint8-onnx", action="store_true",
                   help="skip model_u8.onnx (uint8 BGR input, normalisation in the graph)")
    p.add_argument("--no-simplify", action="store_true", help="do not run onnxslim")
    p.add_argument("--workspace-mib", type=int, default=1024, help="TensorRT workspace, MiB")
    p.add_argument("--timing-cache", type=Path, help="TensorRT timing cache file")
    p.add_argument("--verify", action="store_true",
                   help="check every artefact against PyTorch; fail beyond tolerance")
    p.add_argument("--verify-images", type=Path,
                   help="folder of real face crops added to the --verify inputs")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def config_from_args(args: argparse.Namespace) -> ExportConfig:
    """Map parsed arguments to an :class:`ExportConfig` (the one place that does)."""
    return ExportConfig(
        checkpoint=args.checkpoint, out_dir=args.out, formats=args.formats, fp16=args.fp16,
        int8=args.int8, calib_dir=args.calib, calib_subset=args.calib_size,
        batch_min_opt_max=args.batch, onnx_exporter=args.exporter, opset=args.opset,
        angles_onnx=not args.no_angles_onnx, uint8_onnx=not args.no_uint8_onnx,
        simplify=not args.no_simplify,
        workspace_mib=args.workspace_mib, timing_cache=args.timing_cache, verify=args.verify,
        verify_images=args.verify_images)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``gldpose export``; returns 0 on success, 1 on a gldpose error."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("gldpose_export", "gldpose_sdk"):  # the exporters' own INFO logs are chatter
        logging.getLogger(name).setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        manifest = run_export(config_from_args(args))
    except GldposeError as exc:
        _LOG.error("%s: %s", type(exc).__name__, exc)
        return 1
    for art in manifest.artefacts:
        files = [args.out / art.path] + ([(args.out / art.path).with_suffix(".bin")]
                                         if art.format == "openvino" else [])
        size_mib = sum(f.stat().st_size for f in files) / 2**20
        _LOG.info("%-28s %-11s %-5s %-7s %8.2f MiB", art.path, art.format, art.precision,
                  art.output, size_mib)
    return 0
