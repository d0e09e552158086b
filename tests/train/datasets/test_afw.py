"""AFW reader on an anno.mat written with scipy.io.savemat in the release's cell layout."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dataset_writers import write_afw
from gldpose_sdk.manifest import CropRule, InputSpec
from gldpose_sdk.preprocess import normalise, prepare_crop, read_image_bgr
from gldpose_train import TrainError
from gldpose_train.datasets import build_dataset

IMAGES = [
    {"name": "1004109301.jpg", "faces": [((60.0, 40.0, 140.0, 130.0), (-15.0, 0.0, 5.0)),
                                         ((200.0, 50.0, 250.0, 110.0), (90.0, -5.0, 0.0))]},
    {"name": "2088320181.jpg", "faces": [((150.0, 60.0, 100.0, 120.0), (45.0, 10.0, -3.0)),
                                         ((10.0, 10.0, 40.0, 50.0), (105.0, 0.0, 0.0))]},
]


@pytest.fixture(scope="module")
def afw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("afw")
    write_afw(root, IMAGES)
    return root


def test_faces_angles_and_filter(afw_dir: Path) -> None:
    ds = build_dataset("afw", afw_dir)
    assert ds.names == ["1004109301_1", "1004109301_2", "2088320181_1"]   # yaw 105 dropped
    np.testing.assert_allclose(ds.angles_deg(), [[-15, 0, 5], [90, -5, 0], [45, 10, -3]])


def test_box_corners_sorted_and_hopenet_crop(afw_dir: Path) -> None:
    ds = build_dataset("afw", afw_dir / "anno.mat", input_size_px=40)
    _, box = ds.sample(2)
    assert box == (100.0, 60.0, 150.0, 120.0)
    frame = read_image_bgr(afw_dir / "2088320181.jpg")
    ref = normalise(prepare_crop(frame, box, CropRule.hopenet(0.2), 40)[None],
                    InputSpec(size_px=40))[0]
    np.testing.assert_allclose(ds[2][0].numpy(), ref, atol=1e-5)


def test_missing_image_is_an_error(afw_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "anno.mat").write_bytes((afw_dir / "anno.mat").read_bytes())
    with pytest.raises(TrainError, match="1004109301.jpg"):
        build_dataset("afw", tmp_path)
