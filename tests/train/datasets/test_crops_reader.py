"""Labelled crops: CSV + images in an uncompressed tar (read in place) or a folder; the real set."""
from __future__ import annotations

import csv
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from dataset_writers import write_crops
from gldpose_sdk.manifest import InputSpec
from gldpose_sdk.preprocess import normalise, prepare_crop
from gldpose_train import TrainError
from gldpose_train.datasets import DatasetOptions, build_dataset
from gldpose_train.transforms import full_box, pad_rule
from worker_loader import batches_from_worker_processes

HEADER = ["name", "yaw_annotated", "yaw_teacher", "pitch_teacher", "roll_teacher", "split"]
ROWS = [
    {"name": "image00001.jpg", "yaw_annotated": "10.5", "yaw_teacher": "12.0",
     "pitch_teacher": "-3.25", "roll_teacher": "1.0", "split": "train"},
    {"name": "image00002.jpg", "yaw_annotated": "-45.0", "yaw_teacher": "-40.5",
     "pitch_teacher": "8.0", "roll_teacher": "-2.0", "split": "val"},
    {"name": "image00003.jpg", "yaw_annotated": "99.5", "yaw_teacher": "80.0",
     "pitch_teacher": "0.0", "roll_teacher": "0.0", "split": "train"},
    {"name": "image00004.jpg", "yaw_annotated": "", "yaw_teacher": "5.0",
     "pitch_teacher": "5.0", "roll_teacher": "5.0", "split": "train"},
    {"name": "image00005.jpg", "yaw_annotated": "0.0", "yaw_teacher": "1.0",
     "pitch_teacher": "2.0", "roll_teacher": "3.0", "split": "train"},
]
ANNOTATED = ("yaw_annotated", "pitch_teacher", "roll_teacher")


@pytest.fixture(scope="module", params=[True, False], ids=["tar", "folder"])
def crops(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("crops")
    return root, write_crops(root, ROWS, HEADER, as_tar=request.param)


def test_default_columns_are_teacher_and_split_filters(crops) -> None:
    root, _ = crops
    ds = build_dataset("crops", root, split="train")
    assert ds.names == ["image00001.jpg", "image00003.jpg", "image00004.jpg", "image00005.jpg"]
    np.testing.assert_array_equal(ds.angles_deg()[0], [12.0, -3.25, 1.0])
    assert len(build_dataset("crops", root, split=None)) == 5


def test_chosen_columns_filter_and_nan_drop(crops) -> None:
    root, _ = crops
    ds = build_dataset("crops", root / "labels.csv", split="train",
                       options=DatasetOptions(label_columns=ANNOTATED))
    assert ds.names == ["image00001.jpg", "image00005.jpg"]   # 99.5 and empty yaw dropped
    np.testing.assert_array_equal(ds.angles_deg(), [[10.5, -3.25, 1.0], [0.0, 2.0, 3.0]])


def test_items_read_the_right_image(crops) -> None:
    root, decoded = crops
    ds = build_dataset("crops", root, input_size_px=32, options=DatasetOptions(pad_frac=0.125))
    spec = InputSpec(size_px=32)
    for i, name in enumerate(ds.names):
        image = decoded[name]
        ref = normalise(prepare_crop(image, full_box(image), pad_rule(0.125), 32)[None], spec)[0]
        np.testing.assert_allclose(ds[i][0].numpy(), ref, atol=1e-5, err_msg=name)


def test_dataloader_workers(crops) -> None:
    root, _ = crops
    assert batches_from_worker_processes("crops", root, size_px=24, batch_size=5) == [
        [[5, 3, 24, 24], [5, 3]]]


def test_errors_name_the_problem(crops, tmp_path: Path) -> None:
    root, _ = crops
    with pytest.raises(TrainError, match=r"splits present: \['train', 'val'\]"):
        build_dataset("crops", root, split="test")
    with pytest.raises(TrainError, match="not in header"):
        build_dataset("crops", root, options=DatasetOptions(label_columns=("a", "b", "c")))
    write_crops(tmp_path, [{"name": "x.jpg", "yaw": "1", "pitch": "2", "roll": "3"}],
                ["name", "yaw", "pitch", "roll"], as_tar=False)
    assert build_dataset("crops", tmp_path).angles_deg().tolist() == [[1.0, 2.0, 3.0]]
    with pytest.raises(TrainError, match="no 'split' column"):
        build_dataset("crops", tmp_path, split="train")
    (tmp_path / "images" / "x.jpg").unlink()
    with pytest.raises(TrainError, match="x.jpg"):
        build_dataset("crops", tmp_path)


def test_real_aflw_crops_tar(shared_data: Path) -> None:
    root = shared_data / "aflw-crops"
    opts = DatasetOptions(max_samples=4, seed=1, label_columns=ANNOTATED)
    ds = build_dataset("crops", root, split="val", input_size_px=64, options=opts)
    assert len(ds) == 4
    with open(root / "labels.csv", newline="") as fh:
        rows = {r["name"]: r for r in csv.DictReader(fh)}
    spec = InputSpec(size_px=64)
    with tarfile.open(root / "images.tar") as tar:
        for i, name in enumerate(ds.names):
            assert rows[name]["split"] == "val"
            np.testing.assert_allclose(ds.angles_deg()[i],
                                       [float(rows[name][c]) for c in ANNOTATED], atol=1e-9)
            blob = np.frombuffer(tar.extractfile(name).read(), np.uint8)
            image = cv2.imdecode(blob, cv2.IMREAD_COLOR)
            assert image.shape == (120, 120, 3)
            ref = normalise(prepare_crop(image, full_box(image), pad_rule(0.0), 64)[None], spec)[0]
            np.testing.assert_allclose(ds[i][0].numpy(), ref, atol=1e-5, err_msg=name)
