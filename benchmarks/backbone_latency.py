"""Network latency per face of each candidate backbone at one or more input sizes, side by side.

Each backbone of ``gldpose_sdk.model.BACKBONES`` gets random weights (latency does not depend on
them), is saved as a model folder (``gldpose_sdk.model.save_model``) and exported with the public
export API (``gldpose_export.cli.run_export``: ONNX with ``model_u8.onnx``, OpenVINO IR) into a
temporary folder, then loaded through ``PoseEstimator`` on ONNX Runtime and on OpenVINO (the
plugin's default precision). ``backend.infer`` at batch 1 on a ready input is timed for all of
them round-robin (``bench_common.time_interleaved``), so the ratios against
mobilenet_v3_large at the first size hold on a shared machine too.

    python benchmarks/backbone_latency.py [--size 96 112 128] [--backbones a b] [--runs 50] [--quick]
        [--json docs/results/default_model/backbone_latency.json] [--machine-shared auto|yes|no]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import bench_common as bc
from gldpose_sdk import PoseEstimator
from gldpose_sdk.backends import missing_packages
from gldpose_sdk.manifest import InputSpec, Manifest, TrainingInfo

REFERENCE = "mobilenet_v3_large"
BACKENDS = ("onnxruntime", "openvino")


def export_backbone(name: str, size_px: int, tmp: Path, exporter: str) -> tuple[Path, float]:
    """A random-weight PoseNet of ``name`` exported into ``tmp/name``; (folder, params in M)."""
    import torch
    from gldpose_export.cli import run_export
    from gldpose_export.config import ExportConfig
    from gldpose_sdk.model import PoseNet, save_model

    torch.manual_seed(0)
    model = PoseNet(name).eval()
    checkpoint = tmp / f"{name}_weights"
    save_model(checkpoint, model, Manifest(backbone=name, input=InputSpec(size_px=size_px),
                                           training=TrainingInfo(dataset="none (random)")))
    formats = ("onnx", "openvino") if not missing_packages("openvino") else ("onnx",)
    run_export(ExportConfig(checkpoint=checkpoint, out_dir=tmp / name, formats=formats,
                            onnx_exporter=exporter, angles_onnx=False))
    return tmp / name, sum(p.numel() for p in model.parameters()) / 1e6


def _row_key(name: str, size: int, sizes: list[int]) -> str:
    """A table row's name: the backbone, with its size when several sizes are timed."""
    return name if len(sizes) == 1 else f"{name}@{size}"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Export, load and time every backbone on every backend; the JSON-able report."""
    load_at_start = bc.load_average()
    rows: dict[str, dict[str, Any]] = {}
    estimators: list[PoseEstimator] = []
    fns = {}
    with tempfile.TemporaryDirectory(prefix="gldpose_backbones_") as tmp:
        try:
            for size in args.size:
                for name in args.backbones:
                    key = _row_key(name, size, args.size)
                    bc.log_to_stderr(f"exporting {name} at {size} px")
                    folder, params_m = export_backbone(name, size, Path(tmp) / str(size),
                                                       args.exporter)
                    rows[key] = {"params_m": params_m, "input_px": size}
                    for backend in (b for b in BACKENDS if not missing_packages(b)):
                        est = PoseEstimator(folder, backend=backend, detector="none")
                        estimators.append(est)
                        x = est.backend.example_input(1)
                        fns[f"{key}|{backend}"] = lambda b=est.backend, x=x: b.infer(x)
                        rows[key][f"{backend}_precision"] = est.backend.describe().precision
            bc.log_to_stderr(f"timing {len(fns)} networks x {args.runs} runs")
            timings = bc.time_interleaved(fns, args.runs, args.warmup, args.block)
        finally:
            for est in estimators:
                est.close()
    for key, t in timings.items():
        name, backend = key.split("|")
        rows[name][f"{backend}_ms"] = t.median_ms
        rows[name][f"{backend}_min_ms"] = t.min_ms
        rows[name][f"{backend}_timing"] = t.to_dict()
    for backend in BACKENDS:
        ref = rows.get(_row_key(REFERENCE, args.size[0], args.size), {}).get(f"{backend}_min_ms")
        for row in rows.values():
            row[f"{backend}_ratio_vs_{REFERENCE}"] = (row[f"{backend}_min_ms"] / ref
                                                      if ref and f"{backend}_min_ms" in row
                                                      else None)
    return {"input_px": args.size, "batch": 1, "runs": args.runs, "exporter": args.exporter,
            "backbones": rows, "machine": bc.machine_info(args.machine_shared, load_at_start)}


def format_report(report: dict[str, Any]) -> str:
    """Table (medians, minima and the minima's ratio to the reference) and the machine line."""
    short = {"onnxruntime": "ort", "openvino": "ov"}
    columns = [("backbone", "<24"), ("params_m", ">8.2f", "params M")]
    for backend in BACKENDS:
        columns += [(f"{backend}_ms", ">8.2f", f"{short[backend]} ms"),
                    (f"{backend}_min_ms", ">8.2f", f"{short[backend]} min"),
                    (f"{backend}_ratio_vs_{REFERENCE}", ">8.2f", f"{short[backend]} x ref")]
    rows = [{"backbone": name, **row} for name, row in report["backbones"].items()]
    return "\n".join([
        bc.format_table(columns, rows),
        (f"ms per face at batch 1, {report['input_px']} px, random weights; medians and minima "
         f"of {report['runs']} runs; x ref: ratio of the minima against {REFERENCE} at "
         f"{report['input_px'][0]} px (ort: "
         "ONNX Runtime fp32, model_u8.onnx; ov: OpenVINO, plugin's default precision)"),
        bc.shared_note(report["machine"])])


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    from gldpose_sdk.model import BACKBONES

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, nargs="+", default=[96],
                   help="input side(s), px; several are timed side by side in one run")
    p.add_argument("--backbones", nargs="+", choices=sorted(BACKBONES), default=sorted(BACKBONES))
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--block", type=int, default=10, help="calls in a row per network and round")
    p.add_argument("--exporter", choices=("dynamo", "torchscript"), default="torchscript",
                   help="ONNX exporter (torchscript: seconds instead of tens of seconds)")
    bc.add_common_arguments(p, bc.REPO_ROOT / "runs" / "benchmarks" / "backbone_latency.json")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write the JSON; 2 on a gldpose error."""
    args = build_parser().parse_args(argv)
    if args.quick:
        args.backbones = [b for b in args.backbones if b.startswith("mobilenet")] or \
            args.backbones[:1]
        args.runs, args.warmup, args.block = 4, 1, 2
    return bc.run_and_report("backbone_latency", args, run, format_report)


if __name__ == "__main__":
    sys.exit(main())
