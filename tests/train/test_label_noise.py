"""Annotation noise from near-duplicate entries: the pairs found, the figures, the command."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch", reason="torch not installed")

import gldpose_cli  # noqa: E402
from gldpose_sdk.model import load_model  # noqa: E402
from gldpose_train import TrainError  # noqa: E402
from gldpose_train.label_noise import (grey_thumbnail, near_duplicate_pairs,  # noqa: E402
                                       pair_label_noise)
from gldpose_train.model_eval import parse_eval_set, predictions  # noqa: E402


def _image(seed: int, size: int = 48) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


def _near_copy(image: np.ndarray, seed: int) -> np.ndarray:
    """The same photo, slightly brighter and with a little sensor noise."""
    noise = np.random.default_rng(seed).normal(0, 2, image.shape)
    return np.clip(image.astype(np.float64) * 1.05 + 3 + noise, 0, 255).astype(np.uint8)


def test_pairs_are_exactly_the_near_copies():
    images = [_image(s) for s in range(12)]
    images += [_near_copy(images[2], 1), _near_copy(images[7], 2), _near_copy(images[7], 3)]
    thumbs = np.stack([grey_thumbnail(im) for im in images])
    pairs = {tuple(p) for p in near_duplicate_pairs(thumbs, 0.99).tolist()}
    assert pairs == {(2, 12), (7, 13), (7, 14), (13, 14)}
    np.testing.assert_allclose(np.linalg.norm(thumbs, axis=1), 1.0, rtol=1e-5)


def test_thumbnail_of_a_box_and_of_a_flat_image():
    frame = np.zeros((60, 80, 3), np.uint8)
    frame[10:40, 20:50] = _image(5, 30)
    np.testing.assert_allclose(grey_thumbnail(frame, (20, 10, 50, 40)),
                               grey_thumbnail(_image(5, 30)), atol=1e-6)
    assert not np.any(grey_thumbnail(np.full((20, 20, 3), 7, np.uint8)))
    with pytest.raises(TrainError, match="empty"):
        grey_thumbnail(frame, (50, 10, 50, 40))


def test_pair_figures_by_hand():
    labels = np.array([0.0, 2.0, 10.0, 13.0, 50.0])
    pairs = np.array([[0, 1], [2, 3]])
    r = pair_label_noise(labels, pairs)
    assert r["pairs"] == 2 and r["label_diff_mae"] == pytest.approx(2.5)
    assert r["label_diff_median"] == pytest.approx(2.5)
    assert r["noise_std"] == pytest.approx(np.sqrt(np.var([-2.0, -3.0]) / 2))
    pred = np.array([1.0, 1.0, 12.0, 12.0, 0.0])
    r = pair_label_noise(labels, pairs, pred)
    assert r["model_mae"] == pytest.approx((1 + 1 + 2 + 1) / 4)
    assert r["model_mae_pair_mean"] == pytest.approx((0 + 0.5) / 2)
    assert r["model_pair_diff_mae"] == 0.0
    with pytest.raises(TrainError, match="no near-duplicate"):
        pair_label_noise(labels, np.zeros((0, 2), np.int64))
    with pytest.raises(TrainError, match="threshold"):
        near_duplicate_pairs(np.zeros((3, 4), np.float32), 1.5)


def _write_set(folder: Path) -> None:
    """Ten distinct crops and three near copies whose yaw was annotated again, 4 degrees off."""
    (folder / "images").mkdir(parents=True)
    rows = []
    for k in range(10):
        image = _image(100 + k)
        cv2.imwrite(str(folder / "images" / f"f{k}.png"), image)
        rows.append({"name": f"f{k}.png", "yaw": 10.0 * k - 40, "pitch": k, "roll": -k})
        if k in (1, 4, 8):
            cv2.imwrite(str(folder / "images" / f"f{k}b.png"), _near_copy(image, k))
            rows.append({"name": f"f{k}b.png", "yaw": 10.0 * k - 36, "pitch": k, "roll": -k})
    with open(folder / "labels.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["name", "yaw", "pitch", "roll"])
        writer.writeheader()
        writer.writerows(rows)


def test_command_reports_the_annotation_noise(tmp_path: Path, tiny_model_dir: Path):
    _write_set(tmp_path / "set")
    out = tmp_path / "noise.json"
    assert gldpose_cli.main(["label-noise", "--on", f"s=crops:{tmp_path / 'set'}",
                             "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["angles"]["yaw"]["pairs"] == 3
    assert report["angles"]["yaw"]["label_diff_mae"] == pytest.approx(4.0)
    assert report["angles"]["pitch"]["label_diff_mae"] == pytest.approx(0.0)
    assert "model_mae" not in report["angles"]["yaw"]
    assert gldpose_cli.main(["label-noise", "--on", f"s=crops:{tmp_path / 'set'}",
                             "--model", str(tiny_model_dir), "--json", str(out)]) == 0
    yaw = json.loads(out.read_text())["angles"]["yaw"]
    model, manifest = load_model(tiny_model_dir)
    pred, _, true = predictions(model, manifest, parse_eval_set(f"s=crops:{tmp_path / 'set'}"))
    i, j = np.array([1, 5, 10]), np.array([2, 6, 11])      # f1/f1b, f4/f4b, f8/f8b in CSV order
    assert yaw["pairs"] == 3
    assert yaw["model_mae"] == pytest.approx(
        np.abs(np.r_[pred[i, 0] - true[i, 0], pred[j, 0] - true[j, 0]]).mean(), abs=1e-4)
    assert yaw["model_pair_diff_mae"] == pytest.approx(np.abs(pred[i, 0] - pred[j, 0]).mean(),
                                                       abs=1e-4)
