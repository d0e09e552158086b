"""Training augmentation and the evaluation transform (train/gldpose_train/transforms.py)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dataset_writers import face_image
from gldpose_sdk.manifest import CropRule, InputSpec
from gldpose_sdk.preprocess import normalise, prepare_crop
from gldpose_train.transforms import (NO_MARGIN, AugmentConfig, EvalTransform, TrainTransform,
                                      colour_jitter, full_box, pad_rule, random_resized_crop)

SPEC = InputSpec(size_px=32)
QUIET = AugmentConfig(flip_prob=0.0, blur_prob=0.0, jitter_prob=0.0, resize_ratio=1.0)


def test_eval_transform_is_prepare_crop_plus_normalise() -> None:
    image = face_image(90, 120, seed=1)
    box = (20.5, 10.0, 80.0, 70.25)
    rule = CropRule.hopenet(0.2)
    out = EvalTransform(SPEC, rule)(image, box)
    ref = normalise(prepare_crop(image, box, rule, 32)[None], SPEC)[0]
    assert out.shape == (3, 32, 32) and out.dtype == np.float32
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_flip_mirrors_image_and_negates_yaw_and_roll() -> None:
    image = face_image(50, 50, seed=2)
    angles = np.array([30.0, -10.0, 7.5])
    plain, a0 = TrainTransform(SPEC, NO_MARGIN, QUIET, random_margin=False)(
        image, full_box(image), angles, np.random.default_rng(0))
    flip_cfg = dataclasses.replace(QUIET, flip_prob=1.0)
    flipped, a1 = TrainTransform(SPEC, NO_MARGIN, flip_cfg, random_margin=False)(
        image, full_box(image), angles, np.random.default_rng(0))
    np.testing.assert_array_equal(a0, angles)
    np.testing.assert_array_equal(a1, [-30.0, -10.0, -7.5])
    np.testing.assert_allclose(flipped, plain[:, :, ::-1], atol=1e-6)
    assert np.abs(flipped - plain).max() > 0.5
    ref = EvalTransform(SPEC, NO_MARGIN)(image, full_box(image))
    np.testing.assert_allclose(plain, ref, atol=1e-5)   # nothing random left: equals evaluation


def test_same_generator_seed_same_output() -> None:
    image = face_image(80, 100, seed=3)
    cfg = AugmentConfig(blur_prob=0.5, jitter_prob=0.5)
    tf = TrainTransform(SPEC, CropRule.hopenet(0.2), cfg, random_margin=True)
    box, angles = (30.0, 20.0, 70.0, 60.0), np.zeros(3)
    a = [tf(image, box, angles, np.random.default_rng(7))[0] for _ in range(2)]
    b = tf(image, box, angles, np.random.default_rng(8))[0]
    np.testing.assert_array_equal(a[0], a[1])
    assert not np.array_equal(a[0], b)


def test_random_margin_k_in_range() -> None:
    tf = TrainTransform(SPEC, CropRule.hopenet(0.2), AugmentConfig(), random_margin=True)
    rng = np.random.default_rng(0)
    ks = np.array([tf.crop_rule(rng).top_frac / 2 for _ in range(500)])
    assert ks.min() >= 0.2 and ks.max() < 0.4 and ks.max() - ks.min() > 0.15
    fixed = TrainTransform(SPEC, pad_rule(0.1), AugmentConfig(), random_margin=False)
    assert fixed.crop_rule(rng) == pad_rule(0.1)


def test_random_resized_crop_size_and_position() -> None:
    region = np.arange(40 * 80 * 3, dtype=np.uint32).reshape(40, 80, 3).astype(np.uint8)
    out = random_resized_crop(region, 32, 40, np.random.default_rng(0))
    assert out.shape == (32, 32, 3)
    lefts = {random_resized_crop(region, 32, 40, np.random.default_rng(s))[0, 0, 0]
             for s in range(20)}
    assert len(lefts) > 3   # the crop window moves


def test_colour_jitter_identity_at_zero_and_bounded() -> None:
    image = face_image(30, 30, seed=4)
    zero = AugmentConfig(brightness=0.0, contrast=0.0, saturation=0.0)
    np.testing.assert_array_equal(colour_jitter(image, np.random.default_rng(0), zero), image)
    out = colour_jitter(image, np.random.default_rng(0), AugmentConfig(brightness=0.5))
    assert out.dtype == np.uint8 and out.shape == image.shape and not np.array_equal(out, image)


@pytest.mark.parametrize("field,value", [("flip_prob", 1.5), ("margin_k_range", (0.4, 0.2)),
                                         ("brightness", 1.0), ("resize_ratio", 0.9),
                                         ("blur_sigma_px", (0.0, 1.0))])
def test_augment_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        AugmentConfig(**{field: value})
