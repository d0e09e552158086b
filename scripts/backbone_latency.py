"""Per-face CPU latency of each candidate backbone at a given input size, side by side.

    python scripts/backbone_latency.py --size 96 --json docs/results/default_model/backbone_latency.json

Random weights (latency does not depend on them); ONNX Runtime fp32 and OpenVINO (default hint)
at batch 1, median of repeated runs after warm-up, all in one process so ratios are meaningful.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import openvino as ov
import torch

from gldpose_sdk.model import BACKBONES, PoseNet

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from latency import median_ms  # noqa: E402  (the one timing helper of the benchmarks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--json", type=Path, default=Path("runs/backbone_latency.json"))
    args = parser.parse_args()
    x = np.random.default_rng(0).standard_normal((1, 3, args.size, args.size)).astype(np.float32)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in sorted(BACKBONES):
            path = Path(tmp) / f"{name}.onnx"
            torch.onnx.export(PoseNet(name).eval(), torch.from_numpy(x), str(path),
                              input_names=["input"], output_names=["logits"], dynamo=False)
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            compiled = ov.Core().compile_model(str(path), "CPU")
            results[name] = {
                "onnxruntime_fp32_ms": median_ms(lambda: sess.run(None, {"input": x}), args.runs, 5),
                "openvino_default_ms": median_ms(lambda: compiled(x), args.runs, 5),
                "params_m": sum(p.numel() for p in PoseNet(name).parameters()) / 1e6,
            }
    ref = results["mobilenet_v3_large"]["onnxruntime_fp32_ms"]
    print(f"{'backbone':22s} {'params M':>9s} {'ORT ms':>8s} {'OV ms':>8s} {'ORT ratio':>10s}")
    for name, r in results.items():
        r["ratio_vs_mobilenet_v3_large"] = r["onnxruntime_fp32_ms"] / ref
        print(f"{name:22s} {r['params_m']:9.2f} {r['onnxruntime_fp32_ms']:8.2f} "
              f"{r['openvino_default_ms']:8.2f} {r['ratio_vs_mobilenet_v3_large']:10.2f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"input_px": args.size, "batch": 1, **results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
