"""The SDK's committed sample frames and clip agree with their generator and with poses.json."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from gldpose_train.synth import samples

SAMPLES = Path(__file__).resolve().parents[3] / "sdk" / "gldpose_sdk" / "samples"


@pytest.fixture(scope="module")
def poses() -> dict:
    return json.loads((SAMPLES / "poses.json").read_text())


def test_frames_match_their_poses(poses: dict) -> None:
    frames = poses["frames"]
    assert len(frames) == len(samples.FRAME_HEADS) and sum(len(f["heads"]) == 2 for f in frames) >= 2
    for record, heads in zip(frames, samples.FRAME_HEADS, strict=True):
        image = cv2.imread(str(SAMPLES / record["file"]))
        assert image.shape == (480, 640, 3)
        for head, spec in zip(record["heads"], heads, strict=True):
            assert [head["yaw_deg"], head["pitch_deg"], head["roll_deg"]] == pytest.approx(spec[:3])
            x0, y0, x1, y1 = head["box"]
            assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 480 and x1 - x0 > 40


def test_clip_is_smooth_and_readable(poses: dict) -> None:
    clip = poses["clip"]
    cap = cv2.VideoCapture(str(SAMPLES / clip["file"]))
    count = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert frame.shape == (clip["size"][1], clip["size"][0], 3)
        count += 1
    cap.release()
    assert count == len(clip["frames"]) == samples.CLIP_FRAMES
    angles = np.array([[f["heads"][0][k] for k in ("yaw_deg", "pitch_deg", "roll_deg")]
                       for f in clip["frames"]])
    np.testing.assert_allclose(angles, [samples.clip_pose(i) for i in range(count)], atol=1e-3)
    assert np.abs(np.diff(angles, axis=0)).max() < 10  # smooth: under 10 degrees per frame
    assert np.ptp(angles[:, 0]) > 90                   # and it does turn


def test_samples_stay_small() -> None:
    total = sum(p.stat().st_size for p in SAMPLES.iterdir() if p.is_file())
    assert total < 1.5 * 1024 * 1024
