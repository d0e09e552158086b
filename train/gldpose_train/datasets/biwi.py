"""BIWI Kinect Head Pose, raw release: ``NN/frame_XXXXX_rgb.png`` + ``NN/frame_XXXXX_pose.txt``.

``pose.txt`` holds the head rotation (3 rows of 3) and then the head centre (1 row of 3,
millimetres, in the depth camera's frame). Angles use DESIGN section 4's formula (the
one Hopenet and FSA-Net use): R <- R^T; roll = -atan2(R10, R00),
yaw = -atan2(-R20, sqrt(R21^2 + R22^2)), pitch = atan2(R21, R22).

Face box: BIWI ships none (Hopenet used boxes from a face detector, FSA-Net ran MTCNN). Here the box
is geometric: the head centre is mapped into the RGB camera with the sequence's ``rgb.cal``
(intrinsics K, 4 distortion terms which are ignored, then the RGB camera's extrinsics R, T relative
to the depth camera: X_rgb = R X_depth + T), projected with K, and a box of
``FACE_SIZE_MM`` (width, height) at the head's depth is centred on that point. Without ``rgb.cal``
the nominal Kinect intrinsics ``DEFAULT_K`` and identity extrinsics are used. The crop is then
Hopenet's rule with margin k, as for the other box-based sets. Frames outside [-99, 99) are dropped.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from gldpose_sdk.preprocess import Box, read_image_bgr
from gldpose_train import TrainError
from gldpose_train.datasets.base import DatasetOptions, PoseDataset, read_file_list, require_dir

LOG = logging.getLogger(__name__)
EXPECTED = "BIWI sequence folders NN/ with frame_XXXXX_rgb.png + frame_XXXXX_pose.txt (+ rgb.cal)"
FACE_SIZE_MM = (140.0, 140.0)
DEFAULT_K = np.array([[517.679, 0.0, 320.0], [0.0, 517.679, 240.5], [0.0, 0.0, 1.0]])


def _numbers(path: Path) -> np.ndarray:
    try:
        return np.array([float(v) for v in path.read_text().split()])
    except ValueError as exc:
        raise TrainError(f"{path}: not a whitespace-separated list of numbers") from exc


def read_biwi_pose(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``frame_*_pose.txt`` -> (rotation float64 ``[3, 3]``, head centre float64 ``[3]`` mm)."""
    values = _numbers(path)
    if values.size != 12:
        raise TrainError(f"{path}: {values.size} numbers; expected 12 (3x3 rotation, translation)")
    return values[:9].reshape(3, 3), values[9:]


def biwi_angles_deg(rotation: np.ndarray) -> np.ndarray:
    """BIWI rotation matrix -> float64 ``[3]`` yaw, pitch, roll in degrees (DESIGN section 4)."""
    r = np.asarray(rotation, dtype=np.float64).T
    roll = -np.arctan2(r[1, 0], r[0, 0])
    yaw = -np.arctan2(-r[2, 0], np.hypot(r[2, 1], r[2, 2]))
    pitch = np.arctan2(r[2, 1], r[2, 2])
    return np.degrees([yaw, pitch, roll])


def read_rgb_cal(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``rgb.cal`` -> (K ``[3, 3]``, R ``[3, 3]``, T ``[3]`` mm); distortion terms skipped."""
    values = _numbers(path)
    if values.size != 25:
        raise TrainError(f"{path}: {values.size} numbers; expected 25 (K 3x3, 4 distortion, "
                         "R 3x3, T 3)")
    return values[:9].reshape(3, 3), values[13:22].reshape(3, 3), values[22:]


def head_box(centre_mm: np.ndarray, k: np.ndarray, r: np.ndarray, t: np.ndarray,
             size_mm: tuple[float, float] = FACE_SIZE_MM) -> Box:
    """Face box ``(x0, y0, x1, y1)`` px: ``size_mm`` at the head's depth, centred on its image."""
    cam = r @ np.asarray(centre_mm, dtype=np.float64) + t
    if cam[2] <= 0:
        raise TrainError(f"head centre {centre_mm} is behind the camera (z = {cam[2]:.1f} mm)")
    u, v = (k @ cam)[:2] / cam[2]
    half_w = k[0, 0] * size_mm[0] / 2 / cam[2]
    half_h = k[1, 1] * size_mm[1] / 2 / cam[2]
    return float(u - half_w), float(v - half_h), float(u + half_w), float(v + half_h)


class BIWIDataset(PoseDataset):
    """BIWI raw frames; names are ``NN/frame_XXXXX`` (also the form of a file list)."""

    random_margin = True

    def __init__(self, root: str | Path, *, train: bool, input_size_px: int,
                 options: DatasetOptions) -> None:
        super().__init__(root, train=train, input_size_px=input_size_px, options=options)
        folder = require_dir(self.root, EXPECTED)
        if options.file_list is not None:
            stems = [n.removesuffix("_rgb.png").removesuffix("_pose.txt")
                     for n in read_file_list(options.file_list)]
        else:
            stems = sorted(p.relative_to(folder).as_posix().removesuffix("_pose.txt")
                           for p in folder.rglob("*_pose.txt"))
        calib: dict[Path, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        names, angles, boxes = [], [], []
        for stem in stems:
            pose_path, image_path = folder / f"{stem}_pose.txt", folder / f"{stem}_rgb.png"
            if not pose_path.is_file() or not image_path.is_file():
                if options.file_list is not None:
                    raise TrainError(f"{stem} of {options.file_list}: {pose_path.name} or "
                                     f"{image_path.name} missing in {pose_path.parent}")
                continue
            seq = pose_path.parent
            if seq not in calib:
                cal = seq / "rgb.cal"
                calib[seq] = read_rgb_cal(cal) if cal.is_file() else (DEFAULT_K, np.eye(3),
                                                                      np.zeros(3))
                if not cal.is_file():
                    LOG.warning("%s: no rgb.cal, projecting with nominal Kinect intrinsics", seq)
            rotation, centre = read_biwi_pose(pose_path)
            names.append(stem)
            angles.append(biwi_angles_deg(rotation))
            boxes.append(head_box(centre, *calib[seq]))
        self._stems = names
        self._boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        self._setup(names, np.asarray(angles).reshape(-1, 3), EXPECTED)

    def boxes(self) -> np.ndarray:
        """Projected face boxes of the kept samples, float64 ``[N, 4]`` pixels."""
        return self._boxes[self._index].copy()

    def _load(self, index: int) -> tuple[np.ndarray, Box]:
        path = self.root / f"{self._stems[index]}_rgb.png"
        return read_image_bgr(path), tuple(self._boxes[index])
