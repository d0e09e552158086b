"""Absolute accuracy of the shipped model on independent ground truth, through the full path.

Data: the 16 AFLW2000-3D faces and the 300W-LP face of ``../shared/data/real-format/`` in their
published format (450 x 450 JPEG + ``.mat``), with ``expected_pose.csv`` (yaw, pitch, roll from
``Pose_Para``, the DESIGN 1 convention). None of these faces is in the training crops (the
AFLW2000 faces and their near-duplicates were removed from ``aflw-crops``). Each face goes
through ``PoseEstimator.estimate`` on the whole frame: once with its tight landmark box (min/max
of ``pt2d``, points <= 0 ignored, DESIGN 4) as ``boxes=...``, so the manifest's crop rule, the
cut, the channel order, the network and the decode all run; once found by the built-in detector.

What to expect, and why the floors are what they are: the model learned pitch and roll from the
FSA-Net teacher and yaw from the AFLW annotation. On all 1,969 AFLW2000 faces that teacher scores
yaw / pitch / roll MAE 3.92 / 5.95 / 4.49 (mean 4.79), and the annotation agrees with AFLW2000
yaw to MAE 5.44 (shared/data/README.md); on the validation crops the model is within 3 degrees
of the teacher on pitch and roll. An intact pipeline therefore lands near the teacher, about 5
on average. With 17 faces the standard error of a per-angle MAE is about a quarter of it, so the
floors sit a few standard errors above that: mean of the three MAE below ``MEAN_FLOOR_DEG``,
and each angle below its own floor. A pipeline broken grossly enough to matter on real faces
(crop rule ignored: mean 6.9 when measured; yaw and pitch swapped: 21; bin centres reversed: 31)
fails. Smaller slips (channel order, the square rule's side, a 1.5 degree decode offset) move
these 17 faces by less than their noise; they are caught by name in test_preprocess.py,
test_crop_rules.py, the decode tests, and the colour-order check on 883 validation crops in
test_default_model.py.
"""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from gldpose_sdk import PoseEstimator

scipy_io = pytest.importorskip("scipy.io", reason="scipy not installed (pip install .[train])")

FIXTURES = ("aflw2000-sample", "300w-lp-sample")
#: Floors in degrees (see the module docstring): yaw, pitch, roll, and the mean of the three.
FLOOR_DEG = (8.0, 10.0, 7.0)
MEAN_FLOOR_DEG = 6.0
#: The detector must find at least this many of the 17 faces (|yaw| <= 71 here; MTCNN finds
#: most faces up to about 60 degrees, docs/results/detectors.md).
MIN_FOUND = 14
MIN_IOU = 0.5


def landmark_box(points: np.ndarray) -> tuple[float, float, float, float]:
    """Tight box of the landmarks ``[2, K]``, ignoring points <= 0 (AFLW2000's missing ones)."""
    valid = (points[0] > 0) & (points[1] > 0)
    xs, ys = points[0][valid], points[1][valid]
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


@pytest.fixture(scope="module")
def faces(shared_data: Path) -> list[tuple[str, np.ndarray, tuple, np.ndarray]]:
    """(name, frame BGR, landmark box, [yaw, pitch, roll] deg) for the 17 faces."""
    root = shared_data / "real-format"
    out = []
    with open(root / "expected_pose.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["fixture"] not in FIXTURES:
                continue
            image_path = root / row["fixture"] / row["name"]
            frame = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
            mat = scipy_io.loadmat(str(image_path.with_suffix(".mat")))
            truth = np.array([float(row[k]) for k in ("yaw", "pitch", "roll")])
            # The csv is Pose_Para in degrees: yaw = [1], pitch = [0], roll = [2].
            pitch, yaw, roll = np.degrees(mat["Pose_Para"][0][:3])
            np.testing.assert_allclose(truth, (yaw, pitch, roll), atol=2e-3)
            out.append((row["name"], frame, landmark_box(mat["pt2d"]), truth))
    assert len(out) == 17
    return out


@pytest.fixture(scope="module")
def estimator() -> PoseEstimator:
    est = PoseEstimator()          # the shipped model, the best backend here, the built-in detector
    yield est
    est.close()


def _check_floors(errors: np.ndarray) -> None:
    mae = errors.mean(axis=0)
    assert mae.mean() < MEAN_FLOOR_DEG, f"MAE yaw/pitch/roll {mae.round(2)}"
    assert np.all(mae < FLOOR_DEG), f"MAE yaw/pitch/roll {mae.round(2)}"


def test_accuracy_with_landmark_boxes(estimator: PoseEstimator, faces: list) -> None:  # type: ignore[type-arg]
    errors = []
    for name, frame, box, truth in faces:
        (pose,) = estimator.estimate(frame, boxes=[box])
        assert pose.box == box, name
        errors.append(np.abs(np.array(pose.angles_deg) - truth))
    _check_floors(np.array(errors))


def _iou(a: tuple, b: tuple) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.slow
def test_accuracy_with_the_detector(estimator: PoseEstimator, faces: list) -> None:  # type: ignore[type-arg]
    errors = []
    for _, frame, box, truth in faces:
        poses = [p for p in estimator.estimate(frame) if _iou(p.box, box) >= MIN_IOU]
        if poses:
            best = max(poses, key=lambda p: _iou(p.box, box))
            errors.append(np.abs(np.array(best.angles_deg) - truth))
    assert len(errors) >= MIN_FOUND, f"the detector found {len(errors)} of {len(faces)} faces"
    _check_floors(np.array(errors))
