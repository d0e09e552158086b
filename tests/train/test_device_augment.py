"""Device augmentation: the image turns the way the labels say, flips and rotations compose."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed")

from gldpose_sdk.manifest import BinSpec  # noqa: E402
from gldpose_sdk.rotation import rotate_in_plane, rotation_matrices  # noqa: E402
from gldpose_train.config import ResidentAugment  # noqa: E402
from gldpose_train.device_augment import augment_batch  # noqa: E402

PLAIN = dict(zoom_range=(1.0, 1.0), shift_frac=0.0, brightness=0.0, contrast=0.0,
             saturation=0.0, gray_prob=0.0, blur_prob=0.0)


def _project(rotation: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Orthographic image coordinates (u right, v down) of head points under ``rotation``."""
    cam = points @ rotation.T
    return np.stack([cam[:, 0], -cam[:, 1]], axis=1)


@pytest.mark.parametrize("pose", [(0, 0, 0), (35, -10, 5), (-70, 20, -15), (10, 45, 30)])
@pytest.mark.parametrize("phi", [-25.0, 12.0])
def test_rotate_in_plane_matches_turning_the_projected_points(pose, phi):
    points = np.random.default_rng(0).normal(size=(40, 3))
    before = _project(rotation_matrices(np.array([pose]))[0], points)
    c, s = np.cos(np.radians(phi)), np.sin(np.radians(phi))
    # clockwise as seen, with v pointing down: (u, v) -> (u c - v s, u s + v c)
    turned = np.stack([before[:, 0] * c - before[:, 1] * s, before[:, 0] * s + before[:, 1] * c], 1)
    new_pose = rotate_in_plane(np.array([pose], float), np.array([phi]))[0]
    after = _project(rotation_matrices(new_pose[None])[0], points)
    np.testing.assert_allclose(after, turned, atol=1e-9)


def test_frontal_face_turned_clockwise_gains_that_much_roll():
    new = rotate_in_plane(np.array([[0.0, 0.0, 5.0]]), np.array([20.0]))[0]
    np.testing.assert_allclose(new, [0.0, 0.0, 25.0], atol=1e-9)


def _dot_image(size: int = 33) -> torch.Tensor:
    img = torch.zeros(1, size, size, 3, dtype=torch.uint8)
    img[0, 4, size // 2] = 255          # a bright dot straight above the centre
    return img


def _dot_xy(img: torch.Tensor) -> tuple[float, float]:
    plane = img[0].sum(0)
    y, x = np.unravel_index(int(plane.argmax()), plane.shape)
    return float(x), float(y)


def test_rotation_turns_the_image_clockwise_and_labels_follow():
    aug = ResidentAugment(**PLAIN, flip_prob=0.0, rotate_deg=30.0, rotate_prob=1.0)
    angles = torch.tensor([[0.0, 0.0, 0.0]])
    gen = torch.Generator().manual_seed(3)
    out, new = augment_batch(_dot_image(), angles, aug, BinSpec(), gen)
    roll = float(new[0, 2])
    assert abs(roll) > 1.0
    x, y = _dot_xy(out)
    centre = 16.0
    # a clockwise turn (positive roll) moves the top dot to the right, and vice versa
    assert np.sign(x - centre) == np.sign(roll)
    measured = np.degrees(np.arctan2(x - centre, centre - y))
    assert measured == pytest.approx(roll, abs=4.0)


def test_flip_mirrors_the_image_and_negates_yaw_and_roll():
    aug = ResidentAugment(**PLAIN, flip_prob=1.0)
    img = torch.zeros(1, 16, 16, 3, dtype=torch.uint8)
    img[0, 8, 2] = 255
    out, new = augment_batch(img, torch.tensor([[30.0, 10.0, -5.0]]), aug, BinSpec(),
                             torch.Generator().manual_seed(0))
    x, _ = _dot_xy(out)
    assert x > 8
    np.testing.assert_allclose(new.numpy(), [[-30.0, 10.0, 5.0]])


def test_rotation_that_leaves_the_bin_range_is_not_applied():
    aug = ResidentAugment(**PLAIN, flip_prob=0.0, rotate_deg=30.0, rotate_prob=1.0)
    angles = torch.tensor([[0.0, 0.0, 95.0]] * 16)
    _, new = augment_batch(torch.zeros(16, 8, 8, 3, dtype=torch.uint8), angles, aug, BinSpec(),
                           torch.Generator().manual_seed(1))
    assert torch.all(new[:, 2] < 99.0) and torch.all(new[:, 2] >= -99.0)
    assert (new[:, 2] == 95.0).any()
