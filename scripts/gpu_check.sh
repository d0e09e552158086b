#!/usr/bin/env bash
# GPU parity check for a lent GPU machine (the repo copied there as a working tree, not installed).
# Usage: scripts/gpu_check.sh [MODEL_DIR]   (default: a seeded random resnet50 at 224 px)
# Prints the GPU, PyTorch CUDA FP32/TF32/FP16/BF16 vs CPU FP32 |delta| deg per angle, then
# onnxruntime CUDA and TensorRT FP16 (execute_async_v3) where installed; writes $OUT/gpu_check.json
# when OUT is set. Missing pieces are skipped with a message; finishes in under 2 minutes.
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="sdk:train:export${PYTHONPATH:+:$PYTHONPATH}"
PYTHON="${PYTHON:-python3}"
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv 2>/dev/null \
    || echo "nvidia-smi: not available"
exec timeout 115 "$PYTHON" scripts/gpu_check.py "$@"
