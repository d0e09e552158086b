"""Pack a labelled crop set (CSV + images) into one compact file, and load it back as arrays.

The pack holds every crop already passed through the SDK's preprocessing (crop rule, resize to
the network input, RGB), re-encoded as JPEG, with all label columns and the split. It is what
:mod:`gldpose_train.preloaded` trains from, and small enough to send to a GPU machine.
"""
from __future__ import annotations

import csv
import tarfile
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from gldpose_sdk.manifest import CropRule
from gldpose_sdk.preprocess import prepare_crop
from gldpose_train import TrainError
from gldpose_train.preloaded import CropArrays

ANGLE_COLUMNS = ("yaw_annotated", "yaw_teacher", "pitch_teacher", "roll_teacher")


def _read_rows(labels_csv: Path) -> list[dict[str, str]]:
    if not labels_csv.is_file():
        raise TrainError(f"labels file not found: {labels_csv}")
    with open(labels_csv, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    missing = {"name", "split", *ANGLE_COLUMNS} - set(rows[0] if rows else {})
    if missing:
        raise TrainError(f"{labels_csv} lacks column(s) {sorted(missing)}")
    return rows


def _image_bytes(images: Path):
    """Yield ``name -> bytes`` lookups from an uncompressed tar or a folder."""
    if images.is_dir():
        return lambda name: (images / name).read_bytes()
    if not tarfile.is_tarfile(images):
        raise TrainError(f"{images} is neither a folder nor a tar file of images")
    tar = tarfile.open(images)
    members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
    return lambda name: tar.extractfile(members[name]).read()


def pack_crops(labels_csv: Path, images: Path, out_path: Path, size_px: int,
               crop: CropRule = CropRule(0, 0, 0, 0), quality: int = 90,
               limit: int = 0) -> Path:
    """Preprocess every crop to ``size_px`` with ``crop`` (box = whole image) and pack it."""
    rows = _read_rows(Path(labels_csv))[: limit or None]
    read = _image_bytes(Path(images))
    blobs: list[bytes] = []
    for row in tqdm(rows, desc="packing crops", unit="img"):
        raw = np.frombuffer(read(row["name"]), np.uint8)
        img = cv2.imdecode(raw, cv2.IMREAD_COLOR)
        if img is None:
            raise TrainError(f"cannot decode {row['name']} in {images}")
        rgb = prepare_crop(img, (0, 0, img.shape[1], img.shape[0]), crop, size_px)
        ok, enc = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, quality])
        blobs.append(enc.tobytes())
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    np.savez(out_path, jpeg=np.frombuffer(b"".join(blobs), np.uint8), offsets=offsets,
             names=np.array([r["name"] for r in rows]), split=np.array([r["split"] for r in rows]),
             size_px=np.int64(size_px),
             **{c: np.array([float(r[c]) for r in rows], np.float32) for c in ANGLE_COLUMNS})
    return Path(out_path)


def load_packed(path: Path, split: str, yaw_column: str = "yaw_annotated") -> CropArrays:
    """Decode one split of a pack. Training angles use ``yaw_column``; evaluation angles use
    the annotated yaw (the only human label) with teacher pitch and roll."""
    if yaw_column not in ("yaw_annotated", "yaw_teacher"):
        raise TrainError(f"yaw_column must be yaw_annotated or yaw_teacher, got {yaw_column!r}")
    data = np.load(path)
    keep = np.flatnonzero(data["split"] == split)
    if keep.size == 0:
        raise TrainError(f"pack {path} has no samples in split {split!r}")
    jpeg, off = data["jpeg"], data["offsets"]
    images = np.stack([
        cv2.cvtColor(cv2.imdecode(jpeg[off[i]:off[i + 1]], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        for i in keep])
    pitch, roll = data["pitch_teacher"][keep], data["roll_teacher"][keep]
    train_angles = np.stack([data[yaw_column][keep], pitch, roll], axis=1)
    eval_angles = np.stack([data["yaw_annotated"][keep], pitch, roll], axis=1)
    return CropArrays(images=images, angles_deg=train_angles, eval_angles_deg=eval_angles,
                      names=[str(n) for n in data["names"][keep]])
