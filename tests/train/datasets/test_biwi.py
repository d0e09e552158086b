"""BIWI raw reader: frame_*_pose.txt rotations, rgb.cal projection, the ±99 filter."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dataset_writers import euler_to_biwi_rotation, write_biwi_frame, write_rgb_cal
from gldpose_sdk.manifest import CropRule, InputSpec
from gldpose_sdk.preprocess import normalise, prepare_crop, read_image_bgr
from gldpose_train.datasets import build_dataset
from gldpose_train.datasets.biwi import DEFAULT_K, FACE_SIZE_MM, biwi_angles_deg

K = np.array([[520.0, 0.0, 316.0], [0.0, 522.0, 241.0], [0.0, 0.0, 1.0]])
T_CAL = np.array([-25.0, 5.0, -13.0])
FRAMES = {  # (sequence, frame) -> (yaw, pitch, roll) degrees, head centre mm
    ("01", 3): ((20.0, -10.0, 5.0), (30.0, -20.0, 900.0)),
    ("01", 4): ((-60.0, 25.0, -15.0), (0.0, 0.0, 1000.0)),
    ("02", 7): ((100.0, 0.0, 0.0), (0.0, 0.0, 1000.0)),      # out of range: dropped
    ("02", 8): ((-5.0, 40.0, 30.0), (-50.0, 10.0, 800.0)),
}


@pytest.fixture(scope="module")
def biwi_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("biwi")
    for i, ((seq, frame), (ypr, centre)) in enumerate(FRAMES.items()):
        write_biwi_frame(root / seq, frame, euler_to_biwi_rotation(*ypr), centre, seed=i)
    write_rgb_cal(root / "01", K, np.eye(3), T_CAL)   # sequence 02 has no rgb.cal
    return root


def test_rotation_formula_known_cases() -> None:
    np.testing.assert_allclose(biwi_angles_deg(np.eye(3)), [0, 0, 0], atol=1e-12)
    for ypr in [(20.0, -10.0, 5.0), (-80.0, 45.0, -30.0), (0.0, 0.0, 60.0)]:
        np.testing.assert_allclose(biwi_angles_deg(euler_to_biwi_rotation(*ypr)), ypr, atol=1e-9)


def test_angles_and_filter(biwi_dir: Path) -> None:
    ds = build_dataset("biwi", biwi_dir)
    assert ds.names == ["01/frame_00003", "01/frame_00004", "02/frame_00008"]
    expected = [FRAMES[("01", 3)][0], FRAMES[("01", 4)][0], FRAMES[("02", 8)][0]]
    np.testing.assert_allclose(ds.angles_deg(), expected, atol=1e-6)


def test_box_projected_with_rgb_cal_or_default(biwi_dir: Path) -> None:
    ds = build_dataset("biwi", biwi_dir, input_size_px=32)
    boxes = ds.boxes()
    cam = np.array([30.0, -20.0, 900.0]) + T_CAL
    u, v = K[0, 0] * cam[0] / cam[2] + K[0, 2], K[1, 1] * cam[1] / cam[2] + K[1, 2]
    hw, hh = K[0, 0] * FACE_SIZE_MM[0] / 2 / cam[2], K[1, 1] * FACE_SIZE_MM[1] / 2 / cam[2]
    np.testing.assert_allclose(boxes[0], [u - hw, v - hh, u + hw, v + hh], atol=1e-9)
    f, (cx, cy) = DEFAULT_K[0, 0], DEFAULT_K[:2, 2]
    u2, v2 = f * -50.0 / 800.0 + cx, f * 10.0 / 800.0 + cy
    half = f * FACE_SIZE_MM[0] / 2 / 800.0
    np.testing.assert_allclose(boxes[2], [u2 - half, v2 - half, u2 + half, v2 + half], atol=1e-9)
    frame = read_image_bgr(biwi_dir / "01" / "frame_00003_rgb.png")
    ref = normalise(prepare_crop(frame, tuple(boxes[0]), CropRule.hopenet(0.2), 32)[None],
                    InputSpec(size_px=32))[0]
    np.testing.assert_allclose(ds[0][0].numpy(), ref, atol=1e-5)
