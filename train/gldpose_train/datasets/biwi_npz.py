"""BIWI pre-cropped by FSA-Net (``BIWI_noTrack.npz``, ``BIWI_train.npz``, ``BIWI_test.npz``).

FSA-Net's ``data/TYY_create_db_biwi.py`` writes
``np.savez(path, image=..., pose=..., img_size=...)``:
``image`` uint8 ``[N, 64, 64, 3]`` BGR face crops (cv2, MTCNN box with margin 0.4), ``pose``
``[N, 3]`` yaw, pitch, roll in degrees (from the same rotation formula as the raw reader). The image
is already the crop, so the crop step is the whole image, optionally padded by ``pad_frac``.
``root`` is one ``.npz`` file or a folder whose ``*.npz`` files are read in name order. The images
are loaded once per process on first use; the labels at construction.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from gldpose_sdk.manifest import CropRule
from gldpose_sdk.preprocess import Box
from gldpose_train import TrainError
from gldpose_train.datasets.base import DatasetOptions, PoseDataset, require_dir
from gldpose_train.transforms import full_box, pad_rule

EXPECTED = "FSA-Net BIWI .npz files with arrays 'image' [N, H, W, 3] uint8 and 'pose' [N, 3]"
IMAGE_KEY, POSE_KEY = "image", "pose"


def _load_key(path: Path, key: str) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as npz:
            if key not in npz.files:
                raise TrainError(f"{path} has arrays {npz.files}; expected {EXPECTED}")
            return npz[key]
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise TrainError(f"cannot read {path}: {exc}; expected {EXPECTED}") from exc


class BIWINpzDataset(PoseDataset):
    """Pre-cropped BIWI faces from FSA-Net's ``.npz``; names are ``FILESTEM:INDEX``."""

    random_margin = False
    _per_process = ("_images",)

    def __init__(self, root: str | Path, *, train: bool, input_size_px: int,
                 options: DatasetOptions) -> None:
        super().__init__(root, train=train, input_size_px=input_size_px, options=options)
        if self.root.is_file():
            files = [self.root]
        else:
            files = sorted(require_dir(self.root, EXPECTED).glob("*.npz"))
            if not files:
                raise TrainError(f"no .npz file in {self.root}; expected {EXPECTED}")
        names, poses, self._where = [], [], []
        for f, path in enumerate(files):
            pose = np.asarray(_load_key(path, POSE_KEY), dtype=np.float64)
            if pose.ndim != 2 or pose.shape[1] != 3:
                raise TrainError(f"{path}: 'pose' has shape {pose.shape}; expected [N, 3]")
            names += [f"{path.stem}:{i}" for i in range(len(pose))]
            poses.append(pose)
            self._where += [(f, i) for i in range(len(pose))]
        self._files = files
        self._images: list[np.ndarray] | None = None
        self._setup(names, np.concatenate(poses), EXPECTED)

    @property
    def crop_rule(self) -> CropRule:
        return pad_rule(self.options.pad_frac)

    def _open(self) -> None:
        images = [_load_key(path, IMAGE_KEY) for path in self._files]
        for path, arr in zip(self._files, images):
            if arr.ndim != 4 or arr.shape[3] != 3 or arr.dtype != np.uint8:
                raise TrainError(f"{path}: 'image' is {arr.dtype} {arr.shape}; expected {EXPECTED}")
        self._images = images

    def _load(self, index: int) -> tuple[np.ndarray, Box]:
        f, i = self._where[index]
        image = np.ascontiguousarray(self._images[f][i])
        return image, full_box(image)
