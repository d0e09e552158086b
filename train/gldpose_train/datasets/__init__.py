"""Dataset readers, one module per published format, resolved by name from :data:`DATASETS`.

Every reader is a ``torch.utils.data.Dataset`` of ``(image float32 [3, S, S] normalised, angles
float32 [3] yaw/pitch/roll degrees)`` with ``.angles_deg() -> [N, 3]`` and ``.names``. Modules are
imported only when their entry is resolved.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from torch.utils.data import Dataset

from gldpose_train import TrainError
from gldpose_train.datasets.base import DatasetOptions

DATASETS = {
    "300wlp": "gldpose_train.datasets.matpose:MatPoseDataset",
    "aflw": "gldpose_train.datasets.aflw:AFLWSqliteDataset",
    "aflw2000": "gldpose_train.datasets.matpose:MatPoseDataset",
    "aflw_txt": "gldpose_train.datasets.aflw:AFLWTxtDataset",
    "afw": "gldpose_train.datasets.afw:AFWDataset",
    "biwi": "gldpose_train.datasets.biwi:BIWIDataset",
    "biwi_npz": "gldpose_train.datasets.biwi_npz:BIWINpzDataset",
    "crops": "gldpose_train.datasets.crops:CropsDataset",
    "synthetic": "gldpose_train.datasets.matpose:MatPoseDataset",
}

__all__ = ["DATASETS", "DatasetOptions", "build_dataset", "dataset_class"]


def dataset_class(name: str) -> type:
    """Import and return the reader class registered as ``name``.

    Raises:
        TrainError: ``name`` is not in :data:`DATASETS` (the message lists the valid names).
    """
    if name not in DATASETS:
        raise TrainError(f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}")
    module_name, class_name = DATASETS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def build_dataset(name: str, root: str | Path, *, split: str | None = None, train: bool = False,
                  input_size_px: int = 224, options: DatasetOptions | None = None) -> Dataset:
    """Build the reader ``name`` on ``root``.

    Args:
        name: a key of :data:`DATASETS`.
        root: the data folder (or, for ``aflw``/``biwi_npz``/``crops``, also the annotation file).
        split: rows of this ``split`` column value (``crops``); None keeps all. Folder-based sets
            have no split column and ignore it (choose the folder or a file list instead).
        train: apply the training augmentation (else the evaluation transform).
        input_size_px: network input side S.
        options: reader options (defaults if None).

    Raises:
        TrainError: unknown name, missing or empty folder, unreadable annotations.
    """
    cls = dataset_class(name)
    opts = options if options is not None else DatasetOptions()
    kwargs = {"train": train, "input_size_px": input_size_px, "options": opts}
    if cls.has_split:
        kwargs["split"] = split
    return cls(Path(root), **kwargs)
