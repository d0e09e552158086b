#!/usr/bin/env bash
# GPU parity check for a lent GPU machine (the repo copied there as a working tree, not installed).
# Usage: scripts/gpu_check.sh [--time-limit SECONDS] [MODEL_DIR]
#   default time limit 540 s; MODEL_DIR defaults to a seeded random resnet50 at 224 px.
# Prints the GPU, PyTorch CUDA FP32/TF32/FP16/BF16 vs CPU FP32 |delta| deg per angle, then
# onnxruntime CUDA, the TensorRT FP16 engine export, and the SDK building an engine on first use
# (then reusing its cache), where installed. Each row is appended to $OUT/gpu_check.jsonl the
# moment it is done (a run cut short keeps what it measured), and all of them go to
# $OUT/gpu_check.json at the end. Steps that no longer fit in the time limit are skipped, and
# `timeout` stops the whole run 20 s after the limit.
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="sdk:train:export${PYTHONPATH:+:$PYTHONPATH}"
PYTHON="${PYTHON:-python3}"
LIMIT=540
if [ "${1:-}" = "--time-limit" ]; then
    LIMIT="${2:?--time-limit needs a number of seconds}"
    shift 2
fi
case "$LIMIT" in
    ''|*[!0-9]*) echo "gpu_check.sh: --time-limit takes whole seconds, got '$LIMIT'" >&2; exit 2 ;;
esac
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv 2>/dev/null \
    || echo "nvidia-smi: not available"
exec timeout --kill-after=10 "$((LIMIT + 20))" "$PYTHON" scripts/gpu_check.py \
    --time-limit "$LIMIT" "$@"
