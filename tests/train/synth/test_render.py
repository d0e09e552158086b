"""Renderer, writer and CLI of the synthetic heads: labels, determinism, format, errors."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from gldpose_train import TrainError
from gldpose_train.synth import pose, scene
from gldpose_train.synth.raster import Canvas, rasterize
from gldpose_train.synth.render import SynthConfig, render_frame, render_sample

scipy_io = pytest.importorskip("scipy.io", reason="scipy not installed (pip install .[train])")


def test_rasterizer_depth_test_and_coverage() -> None:
    verts = np.array([[2, 2, 5.0], [60, 2, 5.0], [2, 40, 5.0],      # far, drawn first
                      [10, 10, 1.0], [50, 10, 1.0], [10, 30, 1.0]])  # near
    faces = np.array([[0, 2, 1], [3, 5, 4]])  # counter-clockwise on screen (y down)
    colors = np.repeat([[1.0, 0, 0]] * 3 + [[0, 1.0, 0]] * 3, 1, axis=0)
    for order in ([0, 1], [1, 0]):
        canvas = Canvas.empty(48, 64)
        for i in order:
            rasterize(canvas, verts, faces[i:i + 1], colors, mesh_id=i)
        assert canvas.ids[15, 15] == 1 and canvas.color[15, 15, 1] == pytest.approx(1.0)
        assert canvas.ids[35, 4] == 0 and canvas.depth[35, 4] == pytest.approx(5.0)
        # Covered area is close to the triangles' union area (58*38/2 = 1102 px).
        assert abs((canvas.ids >= 0).sum() - 1102) < 70
    back = Canvas.empty(48, 64)
    assert rasterize(back, verts, faces[:, ::-1], colors) == 0  # clockwise: culled


def test_rasterizer_splits_large_triangles() -> None:
    verts = np.array([[0, 0, 2.0], [0, 299, 2.0], [399, 0, 2.0]])
    canvas = Canvas.empty(300, 400)
    drawn = rasterize(canvas, verts, np.array([[0, 1, 2]]), np.ones((3, 3)))
    assert abs(drawn - 400 * 300 / 2) < 0.02 * 400 * 300 / 2
    assert canvas.ids[10, 10] == 0 and canvas.ids[290, 390] == -1


def test_render_sample_labels() -> None:
    config = SynthConfig(size_px=128, pose_dist="uniform", seed=5)
    for index in range(4):
        image, label, quality = render_sample(config, index)
        assert image.shape == (128, 128, 3) and image.dtype == np.uint8
        assert 40 <= quality <= 95
        p = label.placement
        assert abs(p.yaw_deg) <= 90 and abs(p.pitch_deg) <= 60 and abs(p.roll_deg) <= 45
        vis = label.landmarks_px[label.visible]
        assert len(vis) >= 20
        assert (vis >= -0.5).all() and (vis <= 127.5).all()


def test_visibility_follows_the_pose() -> None:
    light = scene.Light((0.0, 0.4, 0.9), 0.4, 0.6, 0.1, 20.0, (1.0, 1.0, 1.0))
    labels = {}
    for yaw in (0.0, 75.0):
        canvas = Canvas.empty(160, 160)
        place = scene.Placement(yaw, 0.0, 0.0, (80.0, 60.0), 5.0, 90.0)
        labels[yaw] = scene.render_head(canvas, np.random.default_rng(0), place, light)
    assert labels[0.0].visible[17:68].all()  # frontal: the whole inner face is visible
    # +75 yaw turns the face to the image left: its image-left side (eye 36-41) turns away and
    # is hidden, its image-right side (eye 42-47) faces the camera.
    assert labels[75.0].visible[42:48].sum() >= 4 and labels[75.0].visible[36:42].sum() <= 2


def test_render_is_deterministic_per_seed() -> None:
    config = SynthConfig(size_px=96, pose_dist="imbalanced", seed=11)
    a, la, qa = render_sample(config, 3)
    b, lb, qb = render_sample(config, 3)
    assert np.array_equal(a, b) and qa == qb
    np.testing.assert_array_equal(la.landmarks_px, lb.landmarks_px)
    c, _, _ = render_sample(SynthConfig(size_px=96, pose_dist="imbalanced", seed=12), 3)
    assert not np.array_equal(a, c)


def test_generate_is_worker_independent_and_reader_compatible(tmp_path: Path) -> None:
    from gldpose_train.synth.writer import generate

    config = SynthConfig(size_px=96, pose_dist="uniform", seed=2)
    generate(config, tmp_path / "one", 4, workers=1)
    generate(config, tmp_path / "two", 4, workers=2)
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert len(names) == 9 and names == sorted(p.name for p in (tmp_path / "two").iterdir())
    for name in names:
        if name.endswith(".jpg"):
            assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    for index in range(4):
        _, label, _ = render_sample(config, index)
        mat = scipy_io.loadmat(str(tmp_path / "one" / f"synth_{index:07d}.mat"))
        assert mat["Pose_Para"].shape == (1, 7) and mat["pt2d"].shape == (2, 68)
        pitch, yaw, roll = np.degrees(mat["Pose_Para"][0, :3])
        p = label.placement
        np.testing.assert_allclose([yaw, pitch, roll], [p.yaw_deg, p.pitch_deg, p.roll_deg],
                                   rtol=0, atol=1e-9)
        np.testing.assert_allclose(mat["pt2d"].T, label.landmarks_px)
        assert cv2.imread(str(tmp_path / "one" / f"synth_{index:07d}.jpg")).shape == (96, 96, 3)
    pytest.importorskip("torch", reason="torch not installed (the 300W-LP reader needs it)")
    try:
        from gldpose_train.datasets import build_dataset
    except ImportError:
        pytest.skip("gldpose_train.datasets not available yet")
    data = build_dataset("synthetic", tmp_path / "one")
    read = data.angles_deg()
    expected = [[render_sample(config, i)[1].placement.yaw_deg] for i in range(4)]
    assert len(read) == 4
    np.testing.assert_allclose(read[:, :1], expected, atol=1e-6)


def test_pose_distributions_have_the_intended_shape() -> None:
    rng = np.random.default_rng(0)
    imb = np.array([pose.POSE_DISTS["imbalanced"](rng) for _ in range(4000)])
    uni = np.array([pose.POSE_DISTS["uniform"](rng) for _ in range(4000)])
    assert 0.01 < (np.abs(imb[:, 0]) > 60).mean() < 0.08      # few large yaws
    assert (np.abs(imb[:, 0]) < 30).mean() > 0.7              # mostly near frontal
    assert (np.abs(imb[:, 2]) <= 20).mean() > 0.9             # roll mostly within 20
    assert 0.3 < (np.abs(uni[:, 0]) > 60).mean() < 0.37       # uniform: a third beyond 60
    assert np.abs(uni).max(0) == pytest.approx([90, 60, 45], abs=0.5)


def test_bad_config_raises_train_error() -> None:
    with pytest.raises(TrainError, match="unknown pose distribution"):
        SynthConfig(pose_dist="gaussian")
    with pytest.raises(TrainError, match="at least 32"):
        SynthConfig(size_px=8)
    with pytest.raises(TrainError, match="imbalanced"):
        pose.get_pose_dist("nope")


def test_two_heads_in_one_frame() -> None:
    rng = np.random.default_rng(4)
    places = [scene.Placement(30.0, 0.0, 0.0, (60.0, 60.0), 3.0, 100.0),
              scene.Placement(-40.0, 10.0, 5.0, (150.0, 70.0), 3.5, 90.0)]
    image, labels = render_frame(rng, 220, 160, places)
    assert image.shape == (160, 220, 3) and len(labels) == 2
    assert labels[0].box[2] < labels[1].box[0]  # side by side


def test_cli_writes_a_set(tmp_path: Path) -> None:
    from gldpose_train.synth.cli import main

    assert main(["--out", str(tmp_path), "--count", "2", "--size", "64", "--workers", "1",
                 "--pose-dist", "uniform", "--seed", "1"]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.mat")) == ["synth_0000000.mat",
                                                              "synth_0000001.mat"]
    assert main(["--count", "1"]) == 2  # no --out
    assert main(["--out", str(tmp_path), "--count", "1", "--size", "8"]) == 1  # logged error
