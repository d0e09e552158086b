"""300W-LP, AFLW2000-3D and synthetic renders: ``NAME.jpg`` + ``NAME.mat`` (DESIGN section 4).

Each ``.mat`` holds ``Pose_Para`` (1x7: pitch, yaw, roll in radians, then translation and scale)
and ``pt2d`` (2x68 in 300W-LP, 2x21 in AFLW2000). The face box is the min/max of the landmarks,
ignoring points with a coordinate <= 0 (AFLW2000 marks missing points with -1); the crop is
Hopenet's rule with margin k (random in [0.2, 0.4) for training, ``crop_margin_k`` = 0.2 for
evaluation). Samples with any angle outside [-99, 99) are dropped, which leaves 1969 of
AFLW2000's 2000 images. Names are paths relative to the folder without extension, as in Hopenet's
file lists (``AFW/AFW_1051618982_1_0``); a file list option restricts and orders them.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import scipy.io

from gldpose_sdk.preprocess import IMAGE_SUFFIXES, Box, read_image_bgr
from gldpose_train import TrainError
from gldpose_train.datasets.base import DatasetOptions, PoseDataset, read_file_list, require_dir

LOG = logging.getLogger(__name__)
EXPECTED = "300W-LP-format pairs NAME.jpg + NAME.mat (Pose_Para, pt2d), in any subfolders"


def read_pose_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one annotation file.

    Returns:
        float64 ``[3]`` yaw, pitch, roll in degrees; float64 ``[2, K]`` landmarks (x row, y row).

    Raises:
        TrainError: unreadable file or missing ``Pose_Para``/``pt2d``.
    """
    try:
        mat = scipy.io.loadmat(str(path), variable_names=["Pose_Para", "pt2d"])
    except (OSError, ValueError, TypeError) as exc:
        raise TrainError(f"cannot read annotation {path}: {exc}") from exc
    missing = [k for k in ("Pose_Para", "pt2d") if k not in mat]
    if missing:
        raise TrainError(f"annotation {path} lacks {missing}; expected Pose_Para (1x7 radians) "
                         "and pt2d (2xK)")
    pose = np.asarray(mat["Pose_Para"], dtype=np.float64).ravel()
    pt2d = np.asarray(mat["pt2d"], dtype=np.float64)
    if pose.size < 3 or pt2d.ndim != 2 or pt2d.shape[0] != 2:
        raise TrainError(f"annotation {path}: Pose_Para {mat['Pose_Para'].shape} or pt2d "
                         f"{pt2d.shape} is not 1x7 / 2xK")
    pitch, yaw, roll = np.degrees(pose[:3])
    return np.array([yaw, pitch, roll]), pt2d


def landmark_box(pt2d: np.ndarray) -> Box | None:
    """Min/max box of the landmarks whose x and y are both > 0; None if it has no area."""
    valid = pt2d[:, np.all(pt2d > 0, axis=0)]
    if valid.shape[1] < 2:
        return None
    x0, y0 = valid.min(axis=1)
    x1, y1 = valid.max(axis=1)
    if x1 <= x0 or y1 <= y0:
        return None
    return float(x0), float(y0), float(x1), float(y1)


def _strip_suffix(name: str) -> str:
    for suffix in (".mat", *IMAGE_SUFFIXES):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


class MatPoseDataset(PoseDataset):
    """Reader for the 300W-LP ``.jpg`` + ``.mat`` format (300W-LP, AFLW2000, synthetic)."""

    random_margin = True

    def __init__(self, root: str | Path, *, train: bool, input_size_px: int,
                 options: DatasetOptions) -> None:
        super().__init__(root, train=train, input_size_px=input_size_px, options=options)
        folder = require_dir(self.root, EXPECTED)
        images = {p.relative_to(folder).with_suffix("").as_posix(): p
                  for suffix in IMAGE_SUFFIXES for p in folder.rglob(f"*{suffix}")}
        if options.file_list is not None:
            stems = [_strip_suffix(n) for n in read_file_list(options.file_list)]
            absent = [s for s in stems if s not in images or not (folder / f"{s}.mat").is_file()]
            if absent:
                raise TrainError(f"{len(absent)} names of {options.file_list} have no image + .mat "
                                 f"pair in {folder}, e.g. {absent[:3]}")
        else:
            stems = sorted(p.relative_to(folder).with_suffix("").as_posix()
                           for p in folder.rglob("*.mat"))
            stems = [s for s in stems if s in images]
        names, angles, boxes, paths = [], [], [], []
        for stem in stems:
            pose, pt2d = read_pose_mat(folder / f"{stem}.mat")
            box = landmark_box(pt2d)
            if box is None:
                LOG.warning("%s: fewer than two valid landmarks, sample skipped", stem)
                continue
            names.append(stem)
            angles.append(pose)
            boxes.append(box)
            paths.append(images[stem])
        self._paths = paths
        self._boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        self._setup(names, np.asarray(angles).reshape(-1, 3), EXPECTED)

    def boxes(self) -> np.ndarray:
        """Landmark face boxes of the kept samples, float64 ``[N, 4]`` (x0, y0, x1, y1) pixels."""
        return self._boxes[self._index].copy()

    def _load(self, index: int) -> tuple[np.ndarray, Box]:
        return read_image_bgr(self._paths[index]), tuple(self._boxes[index])
