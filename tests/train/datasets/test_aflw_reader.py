"""AFLW readers: aflw.sqlite (fixture written with sqlite3) and Hopenet's .txt export (+ real)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dataset_writers import read_expected_pose, write_aflw_sqlite, write_aflw_txt
from gldpose_sdk.manifest import InputSpec
from gldpose_sdk.preprocess import normalise, prepare_crop, read_image_bgr
from gldpose_train import TrainError
from gldpose_train.datasets import DatasetOptions, build_dataset
from gldpose_train.transforms import NO_MARGIN, full_box, pad_rule

FACES = [  # radians, AFLW database convention
    {"face_id": 39341, "filepath": "0/image00002.jpg", "yaw": 0.5, "pitch": -0.1, "roll": 0.2,
     "rect": (30, 20, 60, 70), "seed": 1},
    {"face_id": 39342, "filepath": "0/image00002.jpg", "yaw": -1.9, "pitch": 0.0, "roll": 0.0,
     "rect": (100, 30, 50, 50), "seed": 1},      # |yaw| = 108.9 deg: dropped
    {"face_id": 40000, "filepath": "2/image13000.jpg", "yaw": -0.7, "pitch": 0.3, "roll": -0.4,
     "rect": (-10, 40, 80, 90), "seed": 2},      # rectangle partly outside the image
]


@pytest.fixture(scope="module")
def aflw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("aflw")
    write_aflw_sqlite(root, FACES)
    return root


def test_sqlite_angles_roll_negated_and_filter(aflw_dir: Path) -> None:
    ds = build_dataset("aflw", aflw_dir)
    assert ds.names == ["0/image00002_39341", "2/image13000_40000"]
    kept = [FACES[0], FACES[2]]
    expected = np.degrees([[f["yaw"], f["pitch"], -f["roll"]] for f in kept])
    np.testing.assert_allclose(ds.angles_deg(), expected, atol=1e-9)


def test_sqlite_crop_is_the_face_rectangle(aflw_dir: Path) -> None:
    ds = build_dataset("aflw", aflw_dir / "aflw.sqlite", input_size_px=32)
    image, box = ds.sample(1)
    assert box == (-10.0, 40.0, 70.0, 130.0)
    frame = read_image_bgr(aflw_dir / "flickr" / "2" / "image13000.jpg")
    ref = normalise(prepare_crop(frame, box, NO_MARGIN, 32)[None], InputSpec(size_px=32))[0]
    np.testing.assert_allclose(ds[1][0].numpy(), ref, atol=1e-5)
    spec = InputSpec(size_px=32)
    black = -np.asarray(spec.mean_rgb) / np.asarray(spec.std_rgb)
    np.testing.assert_allclose(ref[:, :, 0], np.repeat(black[:, None], 32, 1), atol=1e-5)


def test_sqlite_missing_database_points_to_txt_reader(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("y")
    with pytest.raises(TrainError, match="aflw_txt"):
        build_dataset("aflw", tmp_path)


@pytest.fixture(scope="module")
def txt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("aflw_txt")
    write_aflw_txt(root, "image70000", (0.25, -0.125, 0.0625), size=60, seed=3)
    write_aflw_txt(root, "image70001", (1.75, 0.0, 0.0), size=50, seed=4)   # 100.3 deg: dropped
    return root


def test_txt_reader_angles_and_whole_image(txt_dir: Path) -> None:
    ds = build_dataset("aflw_txt", txt_dir, input_size_px=32, options=DatasetOptions(pad_frac=0.1))
    assert ds.names == ["image70000"]
    np.testing.assert_allclose(ds.angles_deg()[0], np.degrees([0.25, -0.125, -0.0625]), atol=1e-9)
    frame = read_image_bgr(txt_dir / "image70000.png")
    ref = normalise(prepare_crop(frame, full_box(frame), pad_rule(0.1), 32)[None],
                    InputSpec(size_px=32))[0]
    np.testing.assert_allclose(ds[0][0].numpy(), ref, atol=1e-5)


def test_real_aflw_original_sample(shared_data: Path) -> None:
    expected = read_expected_pose(shared_data, "aflw-original-sample")
    ds = build_dataset("aflw_txt", shared_data / "real-format" / "aflw-original-sample")
    assert len(ds) == len(expected) == 6
    got = dict(zip(ds.names, ds.angles_deg()))
    for name, ypr in expected.items():
        np.testing.assert_allclose(got[Path(name).stem], ypr, atol=1e-3, err_msg=name)
