"""AFLW: its sqlite annotation database, and Hopenet's per-face ``.txt`` export of it.

``aflw`` reads ``aflw.sqlite`` as released (tables ``Faces(face_id, file_id)``,
``FaceImages(file_id, filepath)``, ``FacePose(face_id, roll, pitch, yaw)`` in radians and
``FaceRect(face_id, x, y, w, h)`` in pixels), with the images under ``flickr/`` beside it
(``flickr/0/image00002.jpg``). One sample per face; the crop is the face rectangle as it is (the
AFLW rectangle already includes the forehead; Hopenet's AFLW crops are exactly these rectangles),
optionally padded by ``pad_frac``.

``aflw_txt`` reads Hopenet's export (``NAME.png`` face crop + ``NAME.txt`` holding
``src_path yaw pitch roll x y w h``, radians): the image is already the crop.

Both convert AFLW's database convention as Hopenet's AFLW loader does: degrees, roll negated, so
that the angles use the AFLW2000 / 300W-LP signs.
"""
from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import numpy as np

from gldpose_sdk.manifest import CropRule
from gldpose_sdk.preprocess import Box, read_image_bgr
from gldpose_train import TrainError
from gldpose_train.datasets.base import DatasetOptions, PoseDataset, read_file_list, require_dir
from gldpose_train.transforms import full_box, pad_rule

LOG = logging.getLogger(__name__)
SQLITE_NAME = "aflw.sqlite"
EXPECTED_SQLITE = f"AFLW's {SQLITE_NAME} with the images under flickr/ beside it"
EXPECTED_TXT = ("Hopenet-style AFLW pairs NAME.png (face crop) + NAME.txt "
                "(path yaw pitch roll x y w h)")
FACES_QUERY = (
    "SELECT Faces.face_id, FaceImages.filepath, FacePose.yaw, FacePose.pitch, FacePose.roll, "
    "FaceRect.x, FaceRect.y, FaceRect.w, FaceRect.h FROM Faces "
    "JOIN FaceImages ON FaceImages.file_id = Faces.file_id "
    "JOIN FacePose ON FacePose.face_id = Faces.face_id "
    "JOIN FaceRect ON FaceRect.face_id = Faces.face_id ORDER BY Faces.face_id"
)


def aflw_to_degrees(yaw_rad: float, pitch_rad: float, roll_rad: float) -> np.ndarray:
    """AFLW database angles (radians) -> float64 ``[3]`` yaw, pitch, roll degrees, roll negated."""
    yaw, pitch, roll = np.degrees([yaw_rad, pitch_rad, roll_rad])
    return np.array([yaw, pitch, -roll])


def read_aflw_sqlite(path: Path) -> list[tuple]:
    """Rows ``(face_id, filepath, yaw, pitch, roll, x, y, w, h)``, one per face (first kept)."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            rows = conn.execute(FACES_QUERY).fetchall()
    except sqlite3.Error as exc:
        raise TrainError(f"cannot query {path}: {exc}; expected AFLW's tables Faces, FaceImages, "
                         "FacePose, FaceRect") from exc
    seen: set[int] = set()
    unique = []
    for row in rows:
        if row[0] not in seen:
            seen.add(row[0])
            unique.append(row)
    return unique


class AFLWSqliteDataset(PoseDataset):
    """AFLW from ``aflw.sqlite`` (``root`` is its folder or the file itself)."""

    random_margin = False

    def __init__(self, root: str | Path, *, train: bool, input_size_px: int,
                 options: DatasetOptions) -> None:
        super().__init__(root, train=train, input_size_px=input_size_px, options=options)
        if self.root.is_file():
            db = self.root
        else:
            db = require_dir(self.root, EXPECTED_SQLITE) / SQLITE_NAME
        if not db.is_file():
            raise TrainError(f"{db} not found; expected {EXPECTED_SQLITE} (for Hopenet's .txt "
                             "export use the 'aflw_txt' dataset)")
        flickr = db.parent / "flickr"
        if not flickr.is_dir():
            raise TrainError(f"image folder {flickr} not found; expected {EXPECTED_SQLITE}")
        wanted = set(read_file_list(options.file_list)) if options.file_list else None
        names, angles, boxes, paths, absent = [], [], [], [], 0
        for face_id, filepath, yaw, pitch, roll, x, y, w, h in read_aflw_sqlite(db):
            name = f"{Path(filepath).with_suffix('').as_posix()}_{face_id}"
            if wanted is not None and name not in wanted:
                continue
            if w <= 0 or h <= 0:
                continue
            if not (flickr / filepath).is_file():
                absent += 1
                continue
            names.append(name)
            angles.append(aflw_to_degrees(yaw, pitch, roll))
            boxes.append((x, y, x + w, y + h))
            paths.append(flickr / filepath)
        if absent:
            LOG.warning("%s: %d faces skipped, their image is missing under %s", db, absent, flickr)
        self._paths = paths
        self._boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        self._setup(names, np.asarray(angles).reshape(-1, 3), EXPECTED_SQLITE)

    @property
    def crop_rule(self) -> CropRule:
        return pad_rule(self.options.pad_frac)

    def _load(self, index: int) -> tuple[np.ndarray, Box]:
        return read_image_bgr(self._paths[index]), tuple(self._boxes[index])


def read_aflw_txt(path: Path) -> np.ndarray:
    """One Hopenet AFLW ``.txt`` -> float64 ``[3]`` yaw, pitch, roll degrees (roll negated)."""
    fields = path.read_text().split()
    try:
        yaw, pitch, roll = (float(v) for v in fields[1:4])
    except (ValueError, IndexError) as exc:
        raise TrainError(f"{path}: expected 'src_path yaw pitch roll x y w h', got "
                         f"{' '.join(fields[:8])!r}") from exc
    return aflw_to_degrees(yaw, pitch, roll)


class AFLWTxtDataset(PoseDataset):
    """AFLW face crops with Hopenet's ``.txt`` labels; the whole image is the face."""

    random_margin = False

    def __init__(self, root: str | Path, *, train: bool, input_size_px: int,
                 options: DatasetOptions) -> None:
        super().__init__(root, train=train, input_size_px=input_size_px, options=options)
        folder = require_dir(self.root, EXPECTED_TXT)
        images = {p.relative_to(folder).with_suffix("").as_posix(): p
                  for suffix in (".png", ".jpg") for p in folder.rglob(f"*{suffix}")}
        if options.file_list is not None:
            stems = [Path(n).with_suffix("").as_posix() if n.endswith((".png", ".jpg", ".txt"))
                     else n for n in read_file_list(options.file_list)]
            absent = [s for s in stems if s not in images or not (folder / f"{s}.txt").is_file()]
            if absent:
                raise TrainError(f"{len(absent)} names of {options.file_list} have no image + .txt "
                                 f"pair in {folder}, e.g. {absent[:3]}")
        else:
            stems = sorted(p.relative_to(folder).with_suffix("").as_posix()
                           for p in folder.rglob("*.txt"))
            stems = [s for s in stems if s in images]
        self._paths = [images[s] for s in stems]
        angles = [read_aflw_txt(folder / f"{s}.txt") for s in stems]
        self._setup(stems, np.asarray(angles).reshape(-1, 3), EXPECTED_TXT)

    @property
    def crop_rule(self) -> CropRule:
        return pad_rule(self.options.pad_frac)

    def _load(self, index: int) -> tuple[np.ndarray, Box]:
        image = read_image_bgr(self._paths[index])
        return image, full_box(image)
