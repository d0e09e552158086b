"""300W-LP / AFLW2000 / synthetic reader on .jpg + .mat fixtures, and on the real samples."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dataset_writers import landmarks, read_expected_pose, write_300wlp
from gldpose_sdk.manifest import CropRule, InputSpec
from gldpose_sdk.preprocess import normalise, prepare_crop, read_image_bgr
from gldpose_train import TrainError
from gldpose_train.datasets import DatasetOptions, build_dataset
from gldpose_train.transforms import AugmentConfig

POSES = {  # name -> (yaw, pitch, roll) degrees; out-of-range ones must be dropped
    "a/img_ok": (30.5, -12.25, 4.0),
    "a/img_edge_low": (-98.9, 0.0, 0.0),
    "b/img_yaw_hi": (99.1, 0.0, 0.0),
    "b/img_pitch_lo": (10.0, -99.1, 0.0),
    "img_roll_hi": (0.0, 5.0, 120.0),
    "img_missing_pts": (-40.0, 20.0, -10.0),
}


@pytest.fixture(scope="module")
def lp_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("300wlp")
    for i, (name, ypr) in enumerate(POSES.items()):
        missing = range(0, 10) if name == "img_missing_pts" else ()
        pts = landmarks(40.0 + i, 50.0, 120.0 + i, 140.0, count=21 if missing else 68,
                        missing=missing)
        write_300wlp(root, name, ypr, pts, seed=i)
    return root


def test_angles_exact_and_out_of_range_dropped(lp_dir: Path) -> None:
    ds = build_dataset("300wlp", lp_dir)
    assert ds.names == ["a/img_edge_low", "a/img_ok", "img_missing_pts"]
    expected = np.array([POSES[n] for n in ds.names])
    np.testing.assert_allclose(ds.angles_deg(), expected, atol=1e-9)
    assert ds.angles_deg().shape == (3, 3) and len(ds) == 3


def test_box_ignores_non_positive_points(lp_dir: Path) -> None:
    ds = build_dataset("aflw2000", lp_dir)
    i = ds.names.index("img_missing_pts")
    pts = landmarks(45.0, 50.0, 125.0, 140.0, count=21)[:, 10:]
    np.testing.assert_allclose(ds.boxes()[i], [pts[0].min(), pts[1].min(), pts[0].max(),
                                               pts[1].max()])


def test_eval_item_is_sdk_preprocessing(lp_dir: Path) -> None:
    ds = build_dataset("300wlp", lp_dir, input_size_px=64)
    image, angles = ds[1]
    assert image.dtype == torch.float32 and image.shape == (3, 64, 64)
    assert angles.dtype == torch.float32 and angles.shape == (3,)
    box = (40.0, 50.0, 120.0, 140.0)   # landmarks of "a/img_ok" span exactly this box
    frame = read_image_bgr(lp_dir / "a/img_ok.jpg")
    spec = InputSpec(size_px=64)
    ref = normalise(prepare_crop(frame, box, CropRule.hopenet(0.2), 64)[None], spec)[0]
    np.testing.assert_allclose(image.numpy(), ref, atol=1e-5)
    other = normalise(prepare_crop(frame, box, CropRule.hopenet(0.3), 64)[None], spec)[0]
    assert np.abs(image.numpy() - other).max() > 0.1   # the margin k really matters


def test_file_list_orders_and_checks(lp_dir: Path, tmp_path: Path) -> None:
    good = tmp_path / "list.txt"
    good.write_text("img_missing_pts\na/img_ok.jpg\nb/img_yaw_hi\n")
    ds = build_dataset("synthetic", lp_dir, options=DatasetOptions(file_list=good))
    assert ds.names == ["img_missing_pts", "a/img_ok"]
    bad = tmp_path / "bad.txt"
    bad.write_text("a/img_ok\nnot_there\n")
    with pytest.raises(TrainError, match="not_there"):
        build_dataset("300wlp", lp_dir, options=DatasetOptions(file_list=bad))


def test_max_samples_is_a_seeded_subset(lp_dir: Path) -> None:
    a = build_dataset("300wlp", lp_dir, options=DatasetOptions(max_samples=2, seed=3))
    b = build_dataset("300wlp", lp_dir, options=DatasetOptions(max_samples=2, seed=3))
    assert len(a) == 2 and a.names == b.names


def test_training_items_are_seeded(lp_dir: Path) -> None:
    opts = DatasetOptions(seed=5, augment=AugmentConfig(flip_prob=0.5, jitter_prob=1.0))
    outs = []
    for _ in range(2):
        torch.manual_seed(11)
        ds = build_dataset("300wlp", lp_dir, train=True, input_size_px=48, options=opts)
        outs.append([ds[i] for i in range(len(ds))])
    for (xa, ya), (xb, yb) in zip(*outs):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert xa.shape == (3, 48, 48)
    for (_, y), ref in zip(outs[0], build_dataset("300wlp", lp_dir).angles_deg()):
        np.testing.assert_allclose(np.abs(y.numpy()), np.abs(ref), atol=1e-4)


def test_missing_and_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(TrainError, match=r"does not exist.*Pose_Para"):
        build_dataset("300wlp", tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainError, match="empty"):
        build_dataset("aflw2000", tmp_path / "empty")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "readme.txt").write_text("x")
    with pytest.raises(TrainError, match="no samples"):
        build_dataset("aflw2000", tmp_path / "junk")


@pytest.mark.parametrize("fixture,folder,count", [("aflw2000-sample", "aflw2000-sample", 16),
                                                  ("300w-lp-sample", "300w-lp-sample", 1)])
def test_real_samples_match_expected_pose(shared_data: Path, fixture: str, folder: str,
                                          count: int) -> None:
    expected = read_expected_pose(shared_data, fixture)
    ds = build_dataset("aflw2000", shared_data / "real-format" / folder, input_size_px=32)
    assert len(ds) == len(expected) == count
    got = dict(zip(ds.names, ds.angles_deg()))
    for name, ypr in expected.items():
        np.testing.assert_allclose(got[Path(name).stem], ypr, atol=1e-3, err_msg=name)
    image, _ = ds[0]
    assert torch.isfinite(image).all()
