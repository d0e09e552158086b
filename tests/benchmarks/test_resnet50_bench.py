"""benchmarks/resnet50_pipeline.py --quick: Hopenet pipeline vs the SDK's precisions, JSON."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import cv2
import numpy as np
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
    assert not report["model"]["trained"] and not report["model"]["scored_on_labels"]
    assert report["crops"]["source"] == "synthetic" and report["settings"]["quick"]
    assert "numeric-drift proxy" in proc.stdout and "machine: " in proc.stdout


def test_missing_data_is_exit_2(tmp_path: Path) -> None:
    proc = _run("--quick", "--data", str(tmp_path), "--json", str(tmp_path / "x.json"))
    assert proc.returncode == 2
    assert "labels.csv" in proc.stderr and not (tmp_path / "x.json").exists()


def _labelled_crops(folder: Path, count: int = 8) -> np.ndarray:
    """An aflw-crops-style folder (labels.csv + images.tar) of face-like crops; their labels."""
    rng = np.random.default_rng(5)
    folder.mkdir()
    labels = rng.uniform(-40, 40, (count, 3)).round(3)
    lines = ["name,yaw_annotated,yaw_teacher,pitch_teacher,roll_teacher,split"]
    with tarfile.open(folder / "images.tar", "w") as tar:
        for i in range(count):
            img = rng.integers(0, 80, (120, 120, 3), dtype=np.uint8)
            cv2.ellipse(img, (60, 60), (30, 40), float(rng.uniform(-30, 30)), 0, 360,
                        (200, 180, 160), -1)
            data = cv2.imencode(".jpg", img)[1].tobytes()
            info = tarfile.TarInfo(f"image{i:05d}.jpg")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            y, p, r = labels[i]
            lines.append(f"image{i:05d}.jpg,{y},{y + 5},{p},{r},{'val' if i < 4 else 'train'}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return labels[:4]


def test_trained_model_reports_validation_mae_and_its_change(tmp_path: Path,
                                                             tiny_model_dir: Path) -> None:
    """``--model``: the model's own input size and bins, and per row the MAE against the labels
    (yaw_annotated, pitch_teacher, roll_teacher of the val split) and its change against the
    reference; the target then judges the MAE change, not the drift."""
    for module in ("torch", "torchvision", "PIL", "gldpose_export", "onnxruntime"):
        pytest.importorskip(module, reason=f"{module} not installed")
    data = tmp_path / "crops"
    labels = _labelled_crops(data)
    out = tmp_path / "trained.json"
    proc = _run("--quick", "--model", str(tiny_model_dir), "--data", str(data), "--json",
                str(out), "--variants", "openvino-f32", "onnxruntime-f32")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["model"]["trained"] and report["model"]["scored_on_labels"]
    assert report["model"]["input_px"] == 64
    # --quick evaluates 3 crops
    assert report["model"]["backbone"] == "resnet18" and report["crops"]["evaluation"] == 3
    rows = {r["variant"]: r for r in report["rows"]}
    ref = rows.get("openvino-f32", rows["onnxruntime-f32"])
    for row in rows.values():
        assert len(row["mae_ypr_deg"]) == 3
        assert row["mae_deg"] == pytest.approx(np.mean(row["mae_ypr_deg"]))
        assert row["mae_change_deg"] == pytest.approx(row["mae_deg"] - ref["mae_deg"])
        assert row["meets_target"] == (row["speedup"] >= 4.0 and row["mae_change_deg"] <= 0.3)
    # the labels really are the val rows' columns: a constant predictor of 0 would score their
    # mean |label|; the model's angles (tiny spread around 0) land near it, not near 0
    assert abs(ref["mae_deg"] - np.abs(labels[:3]).mean()) < 15.0 and ref["mae_deg"] > 5.0
    assert abs(rows["onnxruntime-f32"]["mae_change_deg"]) < 0.05
    assert "MAE change" in proc.stdout and "trained: " in proc.stdout
