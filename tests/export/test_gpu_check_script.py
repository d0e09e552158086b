"""scripts/gpu_check.sh on a machine without CUDA: the CUDA rows are skipped with their reason,
the export is verified, every row is written as it finishes. (Its CUDA rows ran on a lent H200:
docs/results/gpu_check_h200_round2.json.)"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch not installed")
pytest.importorskip("onnxruntime", reason="onnxruntime not installed")

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_check.sh"


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_gpu_check_without_cuda_verifies_the_export_and_says_what_it_skipped(
        tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"
    env = dict(os.environ, PYTHON=sys.executable, GLDPOSE_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run(["bash", str(SCRIPT), "--time-limit", "300", str(tiny_model_dir),
                           "--out", str(out)], env=env, capture_output=True, text=True,
                          timeout=400)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == json.loads(out.with_suffix(".json").read_text())["rows"]
    by_run = {r["run"]: r for r in rows}
    assert by_run["machine"]["cuda"] is False
    assert not any(r["run"].startswith("torch CUDA") for r in rows)
    assert by_run["tensorrt"]["skipped"] == "no CUDA device"
    verified = [r for r in rows if r["run"].startswith("model.onnx via onnxruntime")]
    assert verified and all(r["passed"] for r in verified)


def test_gpu_check_refuses_a_bad_time_limit() -> None:
    done = subprocess.run(["bash", str(SCRIPT), "--time-limit", "soon"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "whole seconds" in done.stderr
