"""AFW (Zhu & Ramanan, CVPR 2012): ``anno.mat`` + the test images.

``anno.mat`` holds ``anno``, an N x 4 MATLAB cell array, one row per image:
``anno{i,1}`` the image file name, ``anno{i,2}`` a cell of face boxes, each 2x2 ``[x1 y1; x2 y2]``,
``anno{i,3}`` a cell of poses, each 1x3 ``[yaw pitch roll]`` in degrees (yaw is a rough label in
15-degree steps), ``anno{i,4}`` a cell of 6x2 landmarks (not used here). One sample per face,
named ``IMAGESTEM_j``; the crop is Hopenet's rule with margin k around the annotated box. The images
are read from the folder of ``anno.mat``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from gldpose_sdk.preprocess import Box, read_image_bgr
from gldpose_train import TrainError
from gldpose_train.datasets.base import DatasetOptions, PoseDataset, read_file_list, require_dir

ANNO_NAME = "anno.mat"
EXPECTED = f"AFW's {ANNO_NAME} (cell array 'anno': name, boxes, poses, landmarks) and its images"


def _cells(value: object) -> list[np.ndarray]:
    """A MATLAB cell as loaded by scipy (object array, any shape) -> list of numeric arrays."""
    arr = np.asarray(value, dtype=object) if not isinstance(value, np.ndarray) else value
    if arr.dtype != object:
        return [np.asarray(arr, dtype=np.float64)]
    return [np.asarray(v, dtype=np.float64) for v in arr.ravel()]


def _text(value: object) -> str:
    """A MATLAB char array as loaded by scipy -> str."""
    arr = np.asarray(value)
    while arr.dtype == object and arr.size == 1:
        arr = np.asarray(arr.ravel()[0])
    return str(arr.ravel()[0]) if arr.size else ""


def read_afw_anno(path: Path) -> list[tuple[str, Box, np.ndarray]]:
    """Faces of ``anno.mat``: ``(image name, box (x0, y0, x1, y1), [yaw, pitch, roll] degrees)``."""
    try:
        anno = scipy.io.loadmat(str(path))["anno"]
    except (OSError, ValueError, KeyError) as exc:
        raise TrainError(f"cannot read {path}: {exc}; expected {EXPECTED}") from exc
    if anno.ndim != 2 or anno.shape[1] < 3:
        raise TrainError(f"{path}: 'anno' has shape {anno.shape}; expected N x 4 cells")
    faces = []
    for row in anno:
        image = _text(row[0])
        boxes, poses = _cells(row[1]), _cells(row[2])
        if len(boxes) != len(poses):
            raise TrainError(f"{path}: image {image} has {len(boxes)} boxes but {len(poses)} poses")
        for box, pose in zip(boxes, poses):
            (x1, y1), (x2, y2) = box.reshape(2, 2)
            faces.append((image, (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)),
                          pose.ravel()[:3].copy()))
    return faces


class AFWDataset(PoseDataset):
    """AFW faces from ``anno.mat`` (``root`` is its folder or the file itself)."""

    random_margin = True

    def __init__(self, root: str | Path, *, train: bool, input_size_px: int,
                 options: DatasetOptions) -> None:
        super().__init__(root, train=train, input_size_px=input_size_px, options=options)
        anno = self.root if self.root.is_file() else require_dir(self.root, EXPECTED) / ANNO_NAME
        if not anno.is_file():
            raise TrainError(f"{anno} not found; expected {EXPECTED}")
        wanted = set(read_file_list(options.file_list)) if options.file_list else None
        names, angles, boxes, paths, counts = [], [], [], [], {}
        for image, box, pose in read_afw_anno(anno):
            j = counts[image] = counts.get(image, 0) + 1
            name = f"{Path(image).stem}_{j}"
            if wanted is not None and name not in wanted:
                continue
            if not (anno.parent / image).is_file():
                raise TrainError(f"AFW image {anno.parent / image} named in {anno} is missing")
            names.append(name)
            angles.append(pose)
            boxes.append(box)
            paths.append(anno.parent / image)
        self._paths = paths
        self._boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        self._setup(names, np.asarray(angles).reshape(-1, 3), EXPECTED)

    def _load(self, index: int) -> tuple[np.ndarray, Box]:
        return read_image_bgr(self._paths[index]), tuple(self._boxes[index])
