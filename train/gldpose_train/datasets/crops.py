"""Labelled face crops: a CSV of ``name,<angle columns>[,split]`` plus the images.

The CSV names its columns in a header row. Three of them give yaw, pitch and roll in degrees
(``options.label_columns``; by default ``yaw,pitch,roll`` or, failing that, the shared AFLW crops'
``yaw_teacher,pitch_teacher,roll_teacher``); an optional ``split`` column selects rows. Images live
in an uncompressed ``images.tar`` beside the CSV, read in place (member offsets indexed once, the
archive opened once per process, no extraction), or else in an ``images/`` folder or the CSV's own
folder. Each image is the whole face: the crop step is the image padded by ``pad_frac`` of black
on every side, resized to S. Rows with a non-finite label or outside [-99, 99) are dropped.
"""
from __future__ import annotations

import csv
import tarfile
from pathlib import Path

import cv2
import numpy as np

from gldpose_sdk.errors import InputError
from gldpose_sdk.manifest import CropRule
from gldpose_sdk.preprocess import Box, read_image_bgr
from gldpose_train import TrainError
from gldpose_train.datasets.base import DatasetOptions, PoseDataset, require_dir
from gldpose_train.transforms import full_box, pad_rule

CSV_NAME, TAR_NAME, IMAGE_DIR = "labels.csv", "images.tar", "images"
EXPECTED = (f"{CSV_NAME} (name, three angle columns, optional split) with the images in "
            f"{TAR_NAME}, {IMAGE_DIR}/ or the same folder")
DEFAULT_COLUMNS = (("yaw", "pitch", "roll"), ("yaw_teacher", "pitch_teacher", "roll_teacher"))


def read_labels_csv(path: Path, columns: tuple[str, str, str] | None,
                    split: str | None) -> tuple[list[str], np.ndarray]:
    """Names and float64 ``[N, 3]`` angles of the rows of ``split`` (all rows if None)."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        rows = list(reader)
    if "name" not in header:
        raise TrainError(f"{path}: no 'name' column in header {header}; expected {EXPECTED}")
    if columns is None:
        columns = next((c for c in DEFAULT_COLUMNS if set(c) <= set(header)), None)
        if columns is None:
            raise TrainError(f"{path}: header {header} has none of the default label columns "
                             f"{DEFAULT_COLUMNS}; choose three with label_columns")
    absent = [c for c in columns if c not in header]
    if absent:
        raise TrainError(f"{path}: label columns {absent} not in header {header}")
    if split is not None:
        if "split" not in header:
            raise TrainError(f"{path} has no 'split' column; build it with split=None")
        values = sorted({r["split"] for r in rows})
        rows = [r for r in rows if r["split"] == split]
        if not rows:
            raise TrainError(f"{path}: no row has split {split!r}; splits present: {values}")
    try:
        angles = np.array([[float(r[c]) if r[c] not in ("", None) else np.nan for c in columns]
                           for r in rows], dtype=np.float64).reshape(-1, 3)
    except ValueError as exc:
        raise TrainError(f"{path}: a label in columns {columns} is not a number: {exc}") from exc
    return [r["name"] for r in rows], angles


def index_tar(path: Path) -> dict[str, tuple[int, int]]:
    """Member name (and its base name) -> (data offset, size) for the regular files of a tar."""
    index: dict[str, tuple[int, int]] = {}
    try:
        with tarfile.open(path, mode="r:") as tar:
            for member in tar:
                if member.isfile():
                    entry = (member.offset_data, member.size)
                    index[member.name] = entry
                    index.setdefault(Path(member.name).name, entry)
    except tarfile.TarError as exc:
        raise TrainError(f"cannot index {path}: {exc}; expected an uncompressed tar") from exc
    return index


class CropsDataset(PoseDataset):
    """Labelled crops (``--dataset crops``); ``root`` is the CSV's folder or the CSV itself."""

    random_margin = False
    has_split = True
    _per_process = ("_tar",)

    def __init__(self, root: str | Path, *, split: str | None, train: bool, input_size_px: int,
                 options: DatasetOptions) -> None:
        super().__init__(root, train=train, input_size_px=input_size_px, options=options)
        table = self.root if self.root.is_file() else require_dir(self.root, EXPECTED) / CSV_NAME
        if not table.is_file():
            raise TrainError(f"{table} not found; expected {EXPECTED}")
        names, angles = read_labels_csv(table, options.label_columns, split)
        self._tar_path: Path | None = None
        self._tar = None
        tar_path, image_dir = table.parent / TAR_NAME, table.parent / IMAGE_DIR
        if tar_path.is_file():
            self._tar_path = tar_path
            self._members = index_tar(tar_path)
            absent = [n for n in names if n not in self._members]
            where = tar_path
        else:
            self._dir = image_dir if image_dir.is_dir() else table.parent
            absent = [n for n in names if not (self._dir / n).is_file()]
            where = self._dir
        if absent:
            raise TrainError(f"{len(absent)} images named in {table} are not in {where}, "
                             f"e.g. {absent[:3]}")
        self._files = names
        self._setup(names, angles, EXPECTED)

    @property
    def crop_rule(self) -> CropRule:
        return pad_rule(self.options.pad_frac)

    def _open(self) -> None:
        if self._tar_path is not None:
            self._tar = open(self._tar_path, "rb")  # noqa: SIM115 - kept open for the process

    def _load(self, index: int) -> tuple[np.ndarray, Box]:
        name = self._files[index]
        if self._tar is None:
            image = read_image_bgr(self._dir / name)
        else:
            offset, size = self._members[name]
            self._tar.seek(offset)
            data = np.frombuffer(self._tar.read(size), dtype=np.uint8)
            image = cv2.imdecode(data, cv2.IMREAD_COLOR)
            if image is None:
                raise InputError(f"cannot decode {name} in {self._tar_path}")
        return image, full_box(image)
