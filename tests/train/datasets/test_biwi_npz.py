"""FSA-Net's pre-cropped BIWI .npz (arrays 'image', 'pose', 'img_size') written with np.savez."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dataset_writers import face_image
from gldpose_sdk.manifest import InputSpec
from gldpose_sdk.preprocess import normalise, prepare_crop
from gldpose_train import TrainError
from gldpose_train.datasets import DatasetOptions, build_dataset
from gldpose_train.transforms import full_box, pad_rule
from worker_loader import batches_from_worker_processes

POSE = np.array([[10.0, -5.0, 2.5], [-99.5, 0.0, 0.0], [45.0, 30.0, -20.0], [0.0, 98.9, 0.0]])


@pytest.fixture(scope="module")
def npz_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("biwi_npz") / "BIWI_test.npz"
    images = np.stack([face_image(64, 64, seed=i) for i in range(len(POSE))])
    np.savez(path, image=images, pose=POSE, img_size=64)
    return path


def test_angles_filter_and_names(npz_path: Path) -> None:
    ds = build_dataset("biwi_npz", npz_path.parent)
    assert ds.names == ["BIWI_test:0", "BIWI_test:2", "BIWI_test:3"]
    np.testing.assert_array_equal(ds.angles_deg(), POSE[[0, 2, 3]])


def test_item_is_padded_whole_image(npz_path: Path) -> None:
    ds = build_dataset("biwi_npz", npz_path, input_size_px=48,
                       options=DatasetOptions(pad_frac=0.125))
    with np.load(npz_path) as npz:
        image = npz["image"][2]
    ref = normalise(prepare_crop(image, full_box(image), pad_rule(0.125), 48)[None],
                    InputSpec(size_px=48))[0]
    np.testing.assert_allclose(ds[1][0].numpy(), ref, atol=1e-5)


def test_workers_load_their_own_copy(npz_path: Path) -> None:
    ds = build_dataset("biwi_npz", npz_path, train=True, input_size_px=32)
    ds[0]   # loads the images in this process; they must not be pickled to workers
    assert "_images" in ds.__getstate__() and ds.__getstate__()["_images"] is None
    batches = batches_from_worker_processes("biwi_npz", npz_path, size_px=32, batch_size=2)
    assert sorted(images[0] for images, _ in batches) == [1, 2]
    assert all(images[1:] == [3, 32, 32] for images, _ in batches)


def test_wrong_keys_are_reported(tmp_path: Path) -> None:
    np.savez(tmp_path / "bad.npz", images=np.zeros((1, 8, 8, 3), np.uint8), pose=POSE[:1])
    ds = build_dataset("biwi_npz", tmp_path / "bad.npz")
    with pytest.raises(TrainError, match="'image'"):
        ds[0]
    np.savez(tmp_path / "nopose.npz", image=np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(TrainError, match="nopose.npz"):
        build_dataset("biwi_npz", tmp_path / "nopose.npz")
