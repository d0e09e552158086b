"""The rotation convention: one function, checked against real AFLW2000 data and the renderer."""
from __future__ import annotations

import numpy as np
import pytest
from gldpose_sdk.rotation import angles_from_matrix, rotation_matrix
from gldpose_train.synth import geometry, scene
from gldpose_train.synth.raster import Canvas

scipy_io = pytest.importorskip("scipy.io", reason="scipy not installed (pip install .[train])")

NEUTRAL_LIGHT = scene.Light((0.0, 0.4, 0.9), 0.4, 0.6, 0.1, 20.0, (1.0, 1.0, 1.0))


def render_one(yaw: float, pitch: float, roll: float, seed: int = 3, size: int = 161,
               ) -> tuple[scene.HeadLabel, Canvas]:
    """One head at the image centre (pixel-centre symmetric) on a black canvas."""
    canvas = Canvas.empty(size, size)
    c = (size - 1) / 2
    place = scene.Placement(yaw, pitch, roll, (c, c - 20.0), 5.0, 90.0)
    label = scene.render_head(canvas, np.random.default_rng(seed), place, NEUTRAL_LIGHT)
    return label, canvas


def test_rotation_matrix_is_a_rotation_and_inverts(rng: np.random.Generator) -> None:
    for yaw, pitch, roll in rng.uniform([-89, -80, -80], [89, 80, 80], (50, 3)):
        r = rotation_matrix(yaw, pitch, roll)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)
        np.testing.assert_allclose(angles_from_matrix(r), (yaw, pitch, roll), atol=1e-9)


def test_rotation_matrix_equals_3ddfa_order() -> None:
    """Rx(-pitch) Ry(-yaw) Rz(-roll): each single angle is a rotation about one axis."""
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    np.testing.assert_allclose(rotation_matrix(30, 0, 0), [[c, 0, -s], [0, 1, 0], [s, 0, c]])
    np.testing.assert_allclose(rotation_matrix(0, 30, 0), [[1, 0, 0], [0, c, s], [0, -s, c]])
    np.testing.assert_allclose(rotation_matrix(0, 0, 30), [[c, s, 0], [-s, c, 0], [0, 0, 1]])
    combo = rotation_matrix(0, 20, 0) @ rotation_matrix(10, 0, 0) @ rotation_matrix(0, 0, 5)
    np.testing.assert_allclose(rotation_matrix(10, 20, 5), combo, atol=1e-12)


def _frontalised(mat_files: list, sign_yaw: float = 1.0) -> np.ndarray:
    """Undo each file's Pose_Para rotation on its pt3d_68 (image y flipped up); unit scale."""
    shapes = []
    for path in mat_files:
        m = scipy_io.loadmat(str(path))
        pitch, yaw, roll = np.degrees(m["Pose_Para"][0, :3])
        pts = m["pt3d_68"].astype(np.float64)
        pts = pts - pts.mean(1, keepdims=True)
        pts[1] *= -1  # image rows grow downward; the head frame's y is up
        head = rotation_matrix(sign_yaw * yaw, pitch, roll).T @ pts
        shapes.append(head / np.linalg.norm(head))
    return np.stack(shapes)


def test_convention_matches_real_aflw2000_landmarks(shared_data) -> None:
    """De-rotating the real 3D landmarks by our matrix gives one frontal face for every image."""
    files = sorted((shared_data / "real-format" / "aflw2000-sample").glob("*.mat"))
    if len(files) < 8:
        pytest.skip("AFLW2000 sample .mat files not found")
    ours = _frontalised(files)
    flipped = _frontalised(files, sign_yaw=-1.0)
    spread = np.linalg.norm(ours - ours.mean(0), axis=(1, 2)).mean()
    spread_flipped = np.linalg.norm(flipped - flipped.mean(0), axis=(1, 2)).mean()
    assert spread < 0.1 and spread < 0.5 * spread_flipped
    mean = ours.mean(0)
    assert mean[2, 30] > mean[2].mean() + 0.05    # the nose tip points to +z (the camera)
    assert mean[0, 45] > mean[0, 36]              # point 45 is on the image right
    assert mean[1, 19] > mean[1, 8]               # brows above the chin: y is up
    # Our template has the same layout and the same zero pose as the real frontal face: fit a
    # similarity on the inner points (brows, nose, eyes, mouth; the jaw contour is placed
    # differently by 3DDFA) and check it needs almost no rotation.
    inner = slice(17, 68)
    real = mean[:, inner] - mean[:, inner].mean(1, keepdims=True)
    ours_t = geometry.landmarks_3d(geometry.HeadShape()).T[:, inner]
    ours_t = ours_t - ours_t.mean(1, keepdims=True)
    u, _, vt = np.linalg.svd(real @ ours_t.T)
    best_rot = u @ vt
    assert np.degrees(np.arccos(np.clip((np.trace(best_rot) - 1) / 2, -1, 1))) < 4
    aligned = best_rot @ ours_t
    scale = (aligned * real).sum() / (aligned * aligned).sum()
    residual = np.linalg.norm(real - scale * aligned, axis=0) / np.linalg.norm(real, axis=0).mean()
    assert np.median(residual) < 0.15


def test_yaw_sign_matches_real_300w_lp(shared_data) -> None:
    """Real 300W-LP face with yaw < 0: nose tip right of the eyes; our render agrees."""
    path = shared_data / "real-format" / "300w-lp-sample" / "IBUG_image_008_1_0.mat"
    if not path.is_file():
        pytest.skip("300W-LP sample not found")
    m = scipy_io.loadmat(str(path))
    pitch, yaw, roll = np.degrees(m["Pose_Para"][0, :3])
    real = m["pt2d"]
    label, _ = render_one(yaw, pitch, roll)
    ours = label.landmarks_px.T
    real_offset = real[0, 30] - real[0, 36:48].mean()
    our_offset = ours[0, 30] - ours[0, 36:48].mean()
    assert yaw < -30 and np.sign(real_offset) == np.sign(our_offset) == 1


@pytest.mark.parametrize("angle", [20.0, 45.0])
def test_signs_in_the_image(angle: float) -> None:
    """+yaw faces image left, +pitch faces up, +roll turns the head clockwise."""
    lm0 = render_one(0, 0, 0)[0].landmarks_px
    eyes = slice(36, 48)
    lm = render_one(angle, 0, 0)[0].landmarks_px
    assert lm[30, 0] - lm[eyes, 0].mean() < lm0[30, 0] - lm0[eyes, 0].mean() - 3
    lm = render_one(0, angle, 0)[0].landmarks_px
    # Face tilted up: the nose tip, nearer the camera than the eyes, rises toward the eye line.
    assert lm[30, 1] - lm[eyes, 1].mean() < lm0[30, 1] - lm0[eyes, 1].mean() - 3
    lm = render_one(0, 0, angle)[0].landmarks_px
    right_eye, left_eye = lm[36:42].mean(0), lm[42:48].mean(0)
    slope_deg = np.degrees(np.arctan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0]))
    assert slope_deg == pytest.approx(angle, abs=3.0)  # image y down: clockwise is positive


@pytest.mark.parametrize("pose", [(35.0, 10.0, 15.0), (-70.0, -20.0, 30.0)])
def test_horizontal_flip_negates_yaw_and_roll(pose: tuple[float, float, float]) -> None:
    yaw, pitch, roll = pose
    size = 161
    a, canvas_a = render_one(yaw, pitch, roll, size=size)
    b, canvas_b = render_one(-yaw, pitch, -roll, size=size)
    flipped = a.landmarks_px[geometry.FLIP_68].copy()
    flipped[:, 0] = (size - 1) - flipped[:, 0]
    np.testing.assert_allclose(flipped, b.landmarks_px, atol=1e-6)
    mask_a = (canvas_a.ids >= 0)[:, ::-1]
    mask_b = canvas_b.ids >= 0
    assert (mask_a != mask_b).mean() < 0.005
