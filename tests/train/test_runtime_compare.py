"""`gldpose compare` on a tiny crops package: every runtime row, missing artefacts reported."""
from __future__ import annotations

import csv
import io
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch", reason="torch not installed")

from gldpose_train.runtime_compare import compare, format_comparison, load_val_crops  # noqa: E402


def _crops_package(root: Path, n: int = 10) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    with tarfile.open(root / "images.tar", "w") as tar, \
            open(root / "labels.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "yaw_annotated", "yaw_teacher", "pitch_teacher",
                         "roll_teacher", "split"])
        for i in range(n):
            ok, enc = cv2.imencode(".jpg", rng.integers(0, 255, (48, 48, 3), dtype=np.uint8))
            info = tarfile.TarInfo(f"c{i}.jpg")
            info.size = len(enc)
            tar.addfile(info, io.BytesIO(enc.tobytes()))
            writer.writerow([f"c{i}.jpg", 10.0 * i - 40, 0, 5.0, -5.0,
                             "val" if i % 2 else "train"])
    return root


def test_compare_runs_every_available_setting(tiny_model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
    from gldpose_export.cli import run_export
    from gldpose_export.config import ExportConfig

    exported_model_dir = tmp_path / "model"
    run_export(ExportConfig(checkpoint=tiny_model_dir, out_dir=exported_model_dir,
                            formats=("onnx",), onnx_exporter="torchscript", angles_onnx=False))
    data = _crops_package(tmp_path / "crops")
    crops, labels = load_val_crops(data)
    assert len(crops) == 5 and labels[:, 0].tolist() == [-30.0, -10.0, 10.0, 30.0, 50.0]
    results = compare(exported_model_dir, data, peers=None)
    assert "n" not in results and results["pytorch fp32"]["count"] == 5
    ran = [k for k, r in results.items() if "skipped" not in r]
    assert {"pytorch fp32", "onnxruntime fp32"} <= set(ran)
    # the folder has no OpenVINO IR: those rows are reported, not crashed
    assert "openvino" in results["openvino IR int8"]["skipped"].lower()
    # runtimes agree with each other on the same crops
    assert abs(results["pytorch fp32"]["mae"] - results["onnxruntime fp32"]["mae"]) < 0.05
    assert "| pytorch fp32 |" in format_comparison(results)
