"""benchmarks/resnet50_pipeline.py --quick: Hopenet pipeline vs the SDK's precisions, JSON."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "resnet50_pipeline.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=900, cwd=REPO, check=False)


def test_quick_run(tmp_path: Path) -> None:
    for module in ("torch", "torchvision", "PIL", "gldpose_export", "onnxruntime"):
        pytest.importorskip(module, reason=f"{module} not installed")
    out = tmp_path / "resnet50.json"
    proc = _run("--quick", "--synthetic", "--json", str(out), "--variants", "openvino-f32",
                "openvino-int8", "onnxruntime-f32")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    rows = {r["variant"]: r for r in report["rows"]}
    assert {"hopenet", "onnxruntime-f32", "auto"} <= set(rows)
    assert rows["hopenet"]["speedup"] == 1.0
    for row in rows.values():
        assert row["ms"] > 0 and row["speedup"] > 0 and row["drift_deg"] >= 0
    # f32 runtimes agree with the reference (same weights, same preprocessing)
    assert rows["onnxruntime-f32"]["drift_deg"] < 0.05
    if "openvino-f32" in rows:
        assert rows["openvino-f32"]["drift_deg"] == 0.0
        assert "openvino-int8" in rows and rows["openvino-int8"]["precision"]
    assert report["model"]["input_px"] == 64 and "untrained" in report["model"]["weights"]
    assert report["crops"]["source"] == "synthetic" and report["settings"]["quick"]
    assert "numeric-drift proxy" in proc.stdout and "machine: " in proc.stdout


def test_missing_data_is_exit_2(tmp_path: Path) -> None:
    proc = _run("--quick", "--data", str(tmp_path), "--json", str(tmp_path / "x.json"))
    assert proc.returncode == 2
    assert "labels.csv" in proc.stderr and not (tmp_path / "x.json").exists()
