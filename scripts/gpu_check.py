"""GPU parity check (run through scripts/gpu_check.sh): PyTorch CUDA, onnxruntime CUDA, TensorRT.

Every run is compared with PyTorch FP32 on the CPU on the same inputs (random tensors and
synthetic crops), decoded with the manifest's bins; rows report max and mean |delta| in degrees
per angle and, where timed, the median latency of one batch. Missing pieces are skipped.

Each row is written the moment it is finished, as one JSON line of ``--out`` (default
``$OUT/gpu_check.jsonl``), so a run stopped by its time limit still leaves what it measured;
the whole set is written again as ``gpu_check.json`` beside it at the end. A step that would
not fit in what is left of ``--time-limit`` is skipped with that reason. TensorRT is checked
twice where it is installed: the engine export, and the SDK building an engine from the ONNX
file on first use (then loading it again from its cache).
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from gldpose_export.config import ExportConfig
from gldpose_export.verify import (
    FP16_TOL_DEG,
    FP32_TOL_DEG,
    make_inputs,
    verify_model_dir,
)
from gldpose_sdk.backends import load_backend_class, missing_packages
from gldpose_sdk.config import BackendOptions
from gldpose_sdk.decode import decode_logits
from gldpose_sdk.errors import GldposeError
from gldpose_sdk.manifest import Manifest, TrainingInfo, read_manifest
from gldpose_sdk.model import PoseNet, load_model, save_model

_LOG = logging.getLogger("gpu_check")
ANGLES = ("yaw", "pitch", "roll")
DEFAULT_TIME_LIMIT_S = 540.0
# Rough worst cases, seconds, for deciding whether a step still fits.
NEEDS_S = {"torch": 60.0, "export": 120.0, "tensorrt export": 600.0, "onnxruntime": 30.0,
           "tensorrt first use": 600.0}


class Rows:
    """Rows as they finish: logged, appended to a JSON-lines file (flushed), and kept."""

    def __init__(self, path: Path | None, deadline: float) -> None:
        self.path, self.deadline, self.rows = path, deadline, []
        self.start = time.monotonic()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")

    def left_s(self) -> float:
        """Seconds left before the time limit."""
        return self.deadline - time.monotonic()

    def fits(self, step: str, need_s: float | None = None) -> bool:
        """True when ``step`` fits in the time left; else a skipped row says why."""
        need = NEEDS_S[step] if need_s is None else need_s
        if self.left_s() >= need:
            return True
        self.add({"run": step, "precision": "-", "tolerance_deg": None, "latency_ms": None,
                  "skipped": f"time limit: {self.left_s():.0f} s left, the step may need "
                             f"{need:.0f} s (raise --time-limit)"})
        return False

    def add(self, row: dict) -> None:
        """Record one finished row now."""
        row = dict(row, t_s=round(time.monotonic() - self.start, 1))
        self.rows.append(row)
        _LOG.info("%s", table([row]).splitlines()[-1])
        if self.path is not None:
            with self.path.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
                fh.flush()
                os.fsync(fh.fileno())


def build_model(work: Path) -> Path:
    """A seeded resnet50 PoseNet at 224 px whose heads give logits of std ~2 over the bins.

    Random heads either give near-uniform softmaxes or (scaled up) saturated ones; both hide
    precision effects. Zero biases and a head scale fitted on a few inputs avoid that.
    """
    torch.manual_seed(0)
    model = PoseNet("resnet50").eval()
    manifest = Manifest(backbone="resnet50",
                        training=TrainingInfo(dataset="none (gpu_check random model)"))
    heads = (model.fc_yaw, model.fc_pitch, model.fc_roll)
    with torch.no_grad():
        for head in heads:
            head.bias.zero_()
        probe = torch.from_numpy(make_inputs(manifest.input, n_random=2, n_crops=2, seed=99))
        scale = 2.0 / float(model(probe).std(dim=2).mean())
        for head in heads:
            head.weight.mul_(scale)
    save_model(work / "model", model, manifest)
    return work / "model"


def row(name: str, precision: str, angles: np.ndarray | None, ref: np.ndarray,
        tol: float | None, latency_ms: float | None = None, skipped: str = "") -> dict:
    """One result row (dict, JSON-able)."""
    out = {"run": name, "precision": precision, "tolerance_deg": tol, "skipped": skipped,
           "latency_ms": latency_ms}
    if angles is not None:
        delta = np.abs(angles.astype(np.float64) - ref)
        out.update(max_deg=[float(v) for v in delta.max(0)],
                   mean_deg=[float(v) for v in delta.mean(0)])
        out["passed"] = tol is None or max(out["max_deg"]) <= tol
    return out


def timed(fn: Callable, *args: object, repeats: int = 20) -> tuple[object, float]:
    """Result of ``fn(*args)`` and its median wall time in ms (CUDA synchronised)."""
    result = fn(*args)
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn(*args)
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return result, float(np.median(times))


def torch_rows(model: PoseNet, manifest: Manifest, inputs: np.ndarray, ref: np.ndarray,
               rows: Rows) -> None:
    """PyTorch CUDA FP32 (TF32 off / on), BF16 (autocast) and FP16 (.half()) rows."""
    centres = manifest.bins.centres_deg()
    x32 = torch.from_numpy(inputs).cuda()
    net = model.cuda().eval()

    def forward(module: torch.nn.Module, x: torch.Tensor, bf16: bool = False) -> np.ndarray:
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            return module(x).float().cpu().numpy()

    for tf32 in (False, True):
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        logits, ms = timed(forward, net, x32)
        rows.add(row(f"torch CUDA fp32 (TF32 {'on' if tf32 else 'off'})",
                     "tf32" if tf32 else "fp32", decode_logits(logits, centres)[0], ref,
                     None if tf32 else FP32_TOL_DEG, ms))
    logits, ms = timed(forward, net, x32, True)
    rows.add(row("torch CUDA bf16 autocast", "bf16", decode_logits(logits, centres)[0], ref,
                 None, ms))
    half = PoseNet(manifest.backbone, manifest.bins.count)
    half.load_state_dict(model.state_dict())
    half = half.cuda().half().eval()
    logits, ms = timed(forward, half, x32.half())
    rows.add(row("torch CUDA fp16 (.half())", "fp16", decode_logits(logits, centres)[0], ref,
                 FP16_TOL_DEG, ms))
    model.cpu()


def ort_cuda_row(model_dir: Path, manifest: Manifest, inputs: np.ndarray,
                 ref: np.ndarray) -> dict:
    """onnxruntime CUDAExecutionProvider on model.onnx, if available."""
    if importlib.util.find_spec("onnxruntime") is None:
        return row("onnxruntime CUDA", "fp32", None, ref, None, skipped="onnxruntime missing")
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return row("onnxruntime CUDA", "fp32", None, ref, None,
                   skipped=f"no CUDAExecutionProvider (have {ort.get_available_providers()})")
    session = ort.InferenceSession(str(model_dir / "model.onnx"),
                                   providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    if session.get_providers()[0] != "CUDAExecutionProvider":
        return row("onnxruntime CUDA", "fp32", None, ref, None,
                   skipped=f"CUDA provider not applied: {session.get_providers()}")
    feed = {session.get_inputs()[0].name: inputs}
    logits, ms = timed(lambda: session.run(None, feed)[0])
    return row(f"onnxruntime {ort.__version__} CUDA", "fp32",
               decode_logits(np.asarray(logits), manifest.bins.centres_deg())[0], ref,
               FP32_TOL_DEG, ms)


def export_rows(model_dir: Path, out_dir: Path, with_tensorrt: bool, rows: Rows) -> None:
    """Export ONNX (+ the TensorRT FP16 engine when asked) and verify the folder."""
    from gldpose_export.cli import run_export

    formats = ("onnx", "tensorrt") if with_tensorrt else ("onnx",)
    start = time.perf_counter()
    run_export(ExportConfig(checkpoint=model_dir, out_dir=out_dir, formats=formats, fp16=True,
                            angles_onnx=False, batch_min_opt_max=(1, 8, 32)))
    rows.add({"run": f"export {'+'.join(formats)}", "precision": "-", "tolerance_deg": None,
              "latency_ms": None, "skipped": "", "seconds": round(time.perf_counter() - start, 1)})
    report = verify_model_dir(out_dir, n_random=16, n_crops=16, raise_on_failure=False)
    for r in report.rows:
        rows.add({"run": f"{r.artefact} via {r.runtime}", "precision": r.precision,
                  "tolerance_deg": r.tolerance_deg, "skipped": r.skipped, "latency_ms": None,
                  "max_deg": list(r.max_deg), "mean_deg": list(r.mean_deg), "passed": r.passed,
                  "max_deg_by_input": dict(r.max_deg_by_input)})


def onnx_only_copy(exported: Path, dst: Path) -> Path:
    """A model folder with the weights and ``model.onnx`` only: no engine for this GPU."""
    from gldpose_sdk.manifest import write_manifest

    manifest = read_manifest(exported)
    keep = [a for a in manifest.artefacts if a.format in ("safetensors", "onnx")]
    dst.mkdir(parents=True, exist_ok=True)
    for art in keep:
        for f in art.files:
            (dst / f.path).parent.mkdir(parents=True, exist_ok=True)
            (dst / f.path).write_bytes((exported / f.path).read_bytes())
    write_manifest(dst, dataclasses.replace(manifest, artefacts=tuple(keep)))
    return dst


def tensorrt_first_use_rows(model_dir: Path, inputs: np.ndarray, ref: np.ndarray,
                            rows: Rows) -> None:
    """The SDK builds an engine from the ONNX file (timed), then loads it from its cache."""
    backend_class = load_backend_class("tensorrt")
    manifest = read_manifest(model_dir)
    for label in ("tensorrt first use (build + parity + cache)", "tensorrt cached engine"):
        start = time.perf_counter()
        try:
            backend = backend_class.load(model_dir, manifest, BackendOptions(device="cuda"))
        except GldposeError as exc:
            rows.add(row(label, "-", None, ref, None, skipped=f"{type(exc).__name__}: {exc}"))
            return
        load_s = time.perf_counter() - start
        with backend:
            info = backend.describe()
            logits, ms = timed(backend.infer, inputs)
        result = row(f"{label} {info.runtime_version} {info.device}", info.precision,
                     decode_logits(logits, manifest.bins.centres_deg())[0], ref,
                     FP16_TOL_DEG if info.precision == "fp16" else FP32_TOL_DEG, ms)
        rows.add(dict(result, load_s=round(load_s, 1), engine=info.artefact_path))


def table(rows: list) -> str:
    """Plain-text table of the rows."""
    head = f"{'run':<52} {'prec':<5} " + " ".join(f"max_{a:<6}" for a in ANGLES) + \
        " " + " ".join(f"mean_{a:<5}" for a in ANGLES) + "   tol   ms/batch  status"
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.get("skipped") or "max_deg" not in r:
            lines.append(f"{r['run']:<52} {r['precision']:<5} "
                         + (f"skipped: {r['skipped']}" if r.get("skipped") else "done"))
            continue
        tol = "report" if r["tolerance_deg"] is None else f"{r['tolerance_deg']:.2f}"
        ms = "" if r.get("latency_ms") is None else f"{r['latency_ms']:.2f}"
        lines.append(f"{r['run']:<52} {r['precision']:<5} "
                     + " ".join(f"{v:10.4f}" for v in r["max_deg"]) + " "
                     + " ".join(f"{v:10.4f}" for v in r["mean_deg"])
                     + f"  {tol:<6} {ms:>8}  {'ok' if r['passed'] else 'FAIL'}")
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command line: ``[MODEL_DIR] [--time-limit S] [--out FILE.jsonl]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", nargs="?", type=Path,
                        help="model folder (default: a seeded random resnet50 at 224 px)")
    parser.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT_S,
                        help="seconds for the whole check; steps that no longer fit are skipped")
    out = Path(os.environ["OUT"]) / "gpu_check.jsonl" if os.environ.get("OUT") else None
    parser.add_argument("--out", type=Path, default=out,
                        help="JSON-lines file, one row per finished step (default "
                             "$OUT/gpu_check.jsonl)")
    return parser.parse_args(argv)


def run_steps(args: argparse.Namespace, rows: Rows, work: Path) -> None:
    """Every check, in order, each row recorded as soon as it is done."""
    has_cuda = torch.cuda.is_available()
    info = {"run": "machine", "precision": "-", "tolerance_deg": None, "latency_ms": None,
            "skipped": "", "python": sys.version.split()[0], "torch": torch.__version__,
            "cuda": has_cuda, "tensorrt_missing": list(missing_packages("tensorrt"))}
    if has_cuda:
        major, minor = torch.cuda.get_device_capability(0)
        info.update(gpu=torch.cuda.get_device_name(0), compute_capability=f"{major}.{minor}")
    rows.add(info)
    model_dir = args.model_dir or build_model(work)
    model, manifest = load_model(model_dir)
    inputs = make_inputs(manifest.input, n_random=16, n_crops=16, seed=0)
    with torch.no_grad():
        ref = decode_logits(model(torch.from_numpy(inputs)).numpy(),
                            manifest.bins.centres_deg())[0]
    if has_cuda and rows.fits("torch"):
        torch_rows(model, manifest, inputs, ref, rows)
    has_trt = has_cuda and not info["tensorrt_missing"]
    exported = work / "export"
    need = NEEDS_S["export"] + (NEEDS_S["tensorrt export"] if has_trt else 0.0)
    if rows.fits("export", need):
        try:
            export_rows(model_dir, exported, has_trt, rows)
        except Exception as exc:  # noqa: BLE001  (a script's top level: report and go on)
            rows.add({"run": "export + verify", "precision": "-", "tolerance_deg": None,
                      "latency_ms": None, "skipped": f"{type(exc).__name__}: {exc}"[:300]})
    onnx_ok = (exported / "model.onnx").is_file()
    if has_cuda and onnx_ok and rows.fits("onnxruntime"):
        rows.add(ort_cuda_row(exported, manifest, inputs, ref))
    if not has_trt:
        rows.add(row("tensorrt", "-", None, ref, None,
                     skipped=("no CUDA device" if not has_cuda else
                              f"{', '.join(info['tensorrt_missing'])} not installed")))
    elif onnx_ok and rows.fits("tensorrt first use"):
        tensorrt_first_use_rows(onnx_only_copy(exported, work / "onnx_only"), inputs, ref, rows)


def main(argv: list[str]) -> int:
    """Run the checks; return 0 unless a gated row failed."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)
    for name in ("gpu_check", "gldpose_export", "gldpose_sdk"):
        logging.getLogger(name).setLevel(logging.INFO)
    args = parse_args(argv)
    rows = Rows(args.out, time.monotonic() + args.time_limit)
    os.environ.setdefault("GLDPOSE_CACHE_DIR", str(Path(tempfile.gettempdir()) / "gldpose-gpu"))
    with tempfile.TemporaryDirectory() as tmp:
        run_steps(args, rows, Path(tmp))
    _LOG.info("|delta| vs PyTorch CPU fp32, degrees\n%s", table(rows.rows))
    if args.out is not None:
        summary = args.out.with_suffix(".json")
        summary.write_text(json.dumps({"rows": rows.rows}, indent=2) + "\n")
        _LOG.info("wrote %s and %s", args.out, summary)
    return 1 if any(r.get("passed") is False for r in rows.rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
