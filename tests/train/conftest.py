"""Fixtures for training tests: a tiny 300W-LP-format folder written here."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


def write_300wlp_folder(folder: Path, count: int, seed: int = 0, size_px: int = 96) -> Path:
    """``count`` pairs ``NAME.jpg`` + ``NAME.mat`` (Pose_Para radians, pt2d 2x68)."""
    scipy_io = pytest.importorskip("scipy.io", reason="scipy not installed")
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        yaw, pitch, roll = rng.uniform([-80, -40, -30], [80, 40, 30])
        img = cv2.resize(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), (size_px, size_px),
                         interpolation=cv2.INTER_CUBIC)
        # brightness encodes yaw so that a model can learn something quickly
        img = np.clip(img.astype(np.int16) // 2 + int(64 + yaw), 0, 255).astype(np.uint8)
        t = np.linspace(0, 1, 68)
        pt2d = np.stack([20 + 56 * t, 25 + 50 * t[::-1]])
        pose = np.radians([[pitch, yaw, roll]])
        scipy_io.savemat(str(folder / f"img_{i:03d}.mat"),
                         {"Pose_Para": np.concatenate([pose, [[0, 0, 0, 1.0]]], axis=1),
                          "pt2d": pt2d})
        cv2.imwrite(str(folder / f"img_{i:03d}.jpg"), img)
    return folder


@pytest.fixture()
def tiny_300wlp(tmp_path: Path) -> Path:
    """16 samples in the 300W-LP format."""
    return write_300wlp_folder(tmp_path / "300wlp", 16)


@pytest.fixture()
def make_300wlp():
    """The writer itself, for tests that need a second folder."""
    return write_300wlp_folder
