"""Latency of every installed backend (and precision variant) x batch size, peers side by side.

For each variant the script loads the model folder through ``PoseEstimator`` and times, as the
median of ``--runs`` runs after ``--warmup`` runs:
  * network only: ``backend.infer`` on a normalised batch ``[B, 3, S, S]``;
  * end to end: ``estimate(frame, boxes)`` with B faces in a 640x480 frame (crop, resize,
    normalise, infer, decode).
Both are reported per batch and per face, with the speed-up against the reference row
(PyTorch FP32, batch 1, network only). Peers (FSA-Net ONNX on ONNX Runtime, OMZ
head-pose-estimation-adas-0001 on OpenVINO) run at batch 1 from ``--peers`` when that folder
exists. A table goes to stdout and everything to ``--json``.

    python benchmarks/latency.py [--model DIR] [--quick] [--json runs/benchmarks/latency.json]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from gldpose_sdk import GldposeError, PoseEstimator
from gldpose_sdk.backends import missing_packages
from gldpose_sdk.config import BackendOptions, EstimatorConfig
from gldpose_sdk.decode import decode_implementation
from gldpose_sdk.hardware import detect_platform
from gldpose_sdk.manifest import read_manifest
from gldpose_sdk.preprocess import cut_box

_LOG = logging.getLogger("latency")
REPO = Path(__file__).resolve().parents[1]
DEFAULT_PEERS = REPO.parent / "shared" / "data" / "peers"
REFERENCE = ("pytorch-fp32", 1)

# label -> (backend, option overrides); a variant that loads with the same backend, device and
# precision as an earlier one is reported as a duplicate, not timed twice.
VARIANTS: dict[str, tuple[str, dict[str, object]]] = {
    "onnxruntime-fp32": ("onnxruntime", {}),
    "openvino-bf16": ("openvino", {"openvino_precision": "bf16"}),
    "openvino-f32": ("openvino", {"openvino_precision": "f32"}),
    "pytorch-fp16": ("pytorch", {"torch_half_on_cuda": True}),
    "pytorch-fp32": ("pytorch", {"torch_half_on_cuda": False}),
    "tensorrt": ("tensorrt", {}),
}
VARIANT_ORDER = ("pytorch-fp32", "pytorch-fp16", "onnxruntime-fp32", "openvino-f32",
                 "openvino-bf16", "tensorrt")


@dataclass(frozen=True)
class Row:
    """One timed configuration; ``*_ms`` are medians in milliseconds."""

    variant: str
    batch: int
    runtime: str
    device: str
    precision: str
    net_ms: float
    net_ms_per_face: float
    e2e_ms: float | None
    e2e_ms_per_face: float | None
    speedup_vs_ref: float | None = None


def median_ms(fn: Callable[[], object], runs: int, warmup: int) -> float:
    """Median wall time of ``fn`` in ms over ``runs`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def face_frame(n_faces: int, rng: np.random.Generator) -> tuple[np.ndarray, list[tuple]]:
    """A 640x480 noise frame and ``n_faces`` boxes on a grid (overlapping when many)."""
    frame = rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    cols = int(np.ceil(np.sqrt(n_faces)))
    step_x, step_y = 600 / cols, 440 / cols
    boxes = [(20 + (i % cols) * step_x, 20 + (i // cols) * step_y,
              20 + (i % cols) * step_x + max(step_x * 0.8, 24),
              20 + (i // cols) * step_y + max(step_y * 0.8, 24)) for i in range(n_faces)]
    return frame, boxes


def bench_variant(label: str, model_dir: Path, batches: tuple[int, ...], runs: int,
                  warmup: int, base: BackendOptions, seen: dict[tuple[str, str, str], str]
                  ) -> tuple[list[Row], str | None]:
    """Rows for one variant, or a reason it was not timed."""
    name, overrides = VARIANTS[label]
    missing = missing_packages(name)
    if missing:
        return [], f"{', '.join(missing)} not installed"
    options = dataclasses.replace(base, **overrides)
    try:
        est = PoseEstimator(model_dir, backend=name, detector="none",
                            config=EstimatorConfig(backend=options))
    except (GldposeError, ValueError) as exc:
        return [], getattr(exc, "reason", None) or str(exc)
    with est:
        info = est.backend.describe()
        key = (info.name, info.device, info.precision)
        if key in seen:
            return [], f"same configuration as {seen[key]} ({info.device}, {info.precision})"
        seen[key] = label
        rows = []
        rng = np.random.default_rng(0)
        size = est.manifest.input.size_px
        for b in batches:
            x = rng.standard_normal((b, 3, size, size)).astype(np.float32)
            net = median_ms(lambda x=x: est.backend.infer(x), runs, warmup)
            frame, boxes = face_frame(b, rng)
            e2e = median_ms(lambda f=frame, bx=boxes: est.estimate(f, boxes=bx), runs, warmup)
            rows.append(Row(label, b, f"{info.name} {info.runtime_version.split('-')[0]}",
                            info.device, info.precision, net, net / b, e2e, e2e / b))
    return rows, None


def _peer_crop(frame: np.ndarray, box: tuple, size: int, bgr_scale: Callable) -> np.ndarray:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    region = cut_box(frame, (x0 - 0.25 * w, y0 - 0.25 * h, x1 + 0.25 * w, y1 + 0.25 * h))
    img = cv2.resize(region, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    return np.ascontiguousarray(bgr_scale(img).transpose(2, 0, 1)[None])


def bench_peers(peers: Path, runs: int, warmup: int,
                threads: int = 0) -> tuple[list[Row], list[tuple[str, str]]]:
    """Batch-1 rows for FSA-Net (ONNX Runtime, ensemble of two) and OMZ (OpenVINO)."""
    rows: list[Row] = []
    skipped: list[tuple[str, str]] = []
    frame, (box,) = face_frame(1, np.random.default_rng(1))
    fsa = sorted((peers / "fsanet").glob("*.onnx"))
    if fsa and not missing_packages("onnxruntime"):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        sessions = [ort.InferenceSession(str(p), sess_options=so,
                                         providers=["CPUExecutionProvider"]) for p in fsa]
        x = np.zeros((1, 3, 64, 64), np.float32)
        net_fn = lambda: [s.run(None, {s.get_inputs()[0].name: x}) for s in sessions]  # noqa: E731

        def e2e_fn() -> object:
            xi = _peer_crop(frame, box, 64, lambda im: (im - 127.5) / 128.0)
            return np.mean([s.run(None, {s.get_inputs()[0].name: xi})[0] for s in sessions], 0)

        rows.append(_peer_row(f"peer:fsanet x{len(sessions)}", f"onnxruntime {ort.__version__}",
                              median_ms(net_fn, runs, warmup), median_ms(e2e_fn, runs, warmup)))
    else:
        skipped.append(("peer:fsanet", "no ONNX files or onnxruntime missing"))
    omz = sorted((peers / "omz-head-pose-adas-0001").glob("*.xml"))
    if omz and not missing_packages("openvino"):
        import openvino as ov

        config = {"PERFORMANCE_HINT": "LATENCY"} | (
            {"INFERENCE_NUM_THREADS": threads} if threads else {})
        compiled = ov.Core().compile_model(str(omz[0]), "CPU", config)
        request = compiled.create_infer_request()
        x = np.zeros((1, 3, 60, 60), np.float32)
        net_fn = lambda: request.infer({0: x})  # noqa: E731
        e2e_fn = lambda: request.infer({0: _peer_crop(frame, box, 60, lambda im: im)})  # noqa: E731
        rows.append(_peer_row("peer:omz-adas-0001", f"openvino {ov.get_version().split('-')[0]}",
                              median_ms(net_fn, runs, warmup), median_ms(e2e_fn, runs, warmup)))
    else:
        skipped.append(("peer:omz-adas-0001", "no IR or openvino missing"))
    return rows, skipped


def _peer_row(label: str, runtime: str, net: float, e2e: float) -> Row:
    return Row(label, 1, runtime, "CPU", "as shipped", net, net, e2e, e2e)


def with_speedups(rows: list[Row]) -> list[Row]:
    """Fill ``speedup_vs_ref`` = reference network ms per face / row's network ms per face."""
    ref = next((r for r in rows if (r.variant, r.batch) == REFERENCE), None)
    if ref is None:
        return rows
    return [dataclasses.replace(r, speedup_vs_ref=ref.net_ms_per_face / r.net_ms_per_face)
            for r in rows]


def format_table(rows: list[Row]) -> str:
    """Fixed-width text table of the rows."""
    head = (f"{'variant':<20} {'batch':>5} {'runtime':<20} {'device':<28} {'prec':<10} "
            f"{'net ms':>8} {'net/face':>9} {'e2e ms':>8} {'e2e/face':>9} {'x ref':>6}")
    lines = [head, "-" * len(head)]
    for r in rows:
        e2e = f"{r.e2e_ms:8.2f} {r.e2e_ms_per_face:9.3f}" if r.e2e_ms is not None else " " * 18
        ratio = f"{r.speedup_vs_ref:6.2f}" if r.speedup_vs_ref is not None else ""
        lines.append(f"{r.variant:<20} {r.batch:>5} {r.runtime[:20]:<20} {r.device[:28]:<28} "
                     f"{r.precision:<10} {r.net_ms:8.2f} {r.net_ms_per_face:9.3f} {e2e} {ratio}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, default=None, help="model folder (default: built-in)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--runs", type=int, default=30, help="timed runs per cell (median)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads per runtime (0: each runtime's default)")
    p.add_argument("--variants", nargs="+", choices=VARIANT_ORDER, default=list(VARIANT_ORDER))
    p.add_argument("--peers", type=Path, default=DEFAULT_PEERS,
                   help="folder with fsanet/ and omz-head-pose-adas-0001/ (skipped if absent)")
    p.add_argument("--json", type=Path, default=REPO / "runs" / "benchmarks" / "latency.json")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: batches 1 and 4, 3 runs, 1 warm-up")
    return p


def run(args: argparse.Namespace) -> dict:
    """Time everything; return the JSON-able report."""
    if args.quick:
        args.batch_sizes, args.runs, args.warmup = [1, 4], 3, 1
    model_dir = args.model
    if model_dir is None:
        from gldpose_sdk.default_model import require_default_model

        model_dir = require_default_model()
    manifest = read_manifest(model_dir)
    rows: list[Row] = []
    skipped: list[tuple[str, str]] = []
    seen: dict[tuple[str, str, str], str] = {}
    base = BackendOptions(device=args.device, num_threads=args.threads)
    for label in args.variants:
        got, reason = bench_variant(label, Path(model_dir), tuple(args.batch_sizes), args.runs,
                                    args.warmup, base, seen)
        rows += got
        if reason:
            skipped.append((label, reason))
    if args.peers is not None and args.peers.is_dir():
        peer_rows, peer_skipped = bench_peers(args.peers, args.runs, args.warmup, args.threads)
        rows, skipped = rows + peer_rows, skipped + peer_skipped
    rows = with_speedups(rows)
    return {
        "model_dir": str(model_dir), "backbone": manifest.backbone,
        "input_size_px": manifest.input.size_px, "decode": decode_implementation(),
        "machine": {"platform": detect_platform().kind,
                    "cpu": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "python": sys.version.split()[0]},
        "settings": {"batch_sizes": args.batch_sizes, "runs": args.runs, "warmup": args.warmup,
                     "device": args.device, "threads": args.threads, "quick": args.quick,
                     "reference": list(REFERENCE)},
        "rows": [dataclasses.asdict(r) for r in rows],
        "skipped": [list(s) for s in skipped],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, write the JSON; 2 on a model or input error."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        report = run(args)
    except GldposeError as exc:
        print(f"latency: error: {exc}", file=sys.stderr)
        return 2
    print(format_table([Row(**r) for r in report["rows"]]))
    for label, reason in report["skipped"]:
        print(f"skipped {label}: {reason}")
    print(f"model {report['model_dir']} ({report['backbone']}, {report['input_size_px']} px), "
          f"decode {report['decode']}, medians of {args.runs} runs; x ref = speed-up per face "
          f"against {REFERENCE[0]} batch {REFERENCE[1]} (network only)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
