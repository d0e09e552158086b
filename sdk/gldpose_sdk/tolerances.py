"""Parity tolerances between a runtime and the PyTorch reference, in degrees (one place).

FP32 runtimes must agree with PyTorch FP32 within :data:`FP32_TOL_DEG` on every angle, FP16
ones within :data:`FP16_TOL_DEG`; bf16 and INT8 are accuracy trade-offs, measured and reported
rather than gated. Used by ``gldpose export --verify`` and by the TensorRT engine built on the
target.
"""
from __future__ import annotations

FP32_TOL_DEG = 0.05
FP16_TOL_DEG = 0.5
TOLERANCES_DEG: dict[str, float] = {"fp16": FP16_TOL_DEG, "fp32": FP32_TOL_DEG}
