"""``yaw_balance``: the resident feed shows rare large-pose crops more often."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="torch not installed")

from gldpose_sdk.manifest import BinSpec, InputSpec  # noqa: E402
from gldpose_train.config import ResidentAugment, TrainConfig  # noqa: E402
from gldpose_train.feeds import CropBank, ResidentFeed, yaw_band_weights  # noqa: E402

# a long-tailed yaw set like AFLW's: many frontal faces, few beyond 60 degrees
RNG = np.random.default_rng(3)
YAW = np.concatenate([RNG.uniform(-10, 10, 600), RNG.uniform(30, 40, 300),
                      RNG.uniform(-75, -70, 60), RNG.uniform(90, 99, 40)])


def band_shares(draws: np.ndarray) -> dict[int, float]:
    band = np.minimum(np.abs(YAW[draws]) // 10, 9).astype(int)
    return {b: float(np.mean(band == b)) for b in (0, 3, 7, 9)}


def test_band_weights_even_out_bands_at_one_and_are_uniform_at_zero() -> None:
    full = yaw_band_weights(YAW, 1.0)
    band = np.minimum(np.abs(YAW) // 10, 9).astype(int)
    per_band = [full[band == b].sum() for b in np.unique(band)]
    np.testing.assert_allclose(per_band, 1 / len(per_band))
    np.testing.assert_allclose(yaw_band_weights(YAW, 0.0), 1 / len(YAW))
    half = yaw_band_weights(YAW, 0.5)
    assert half.sum() == pytest.approx(1.0)
    # frontal crops get less weight than uniform, large poses more, in between at 0.5
    frontal, large = band == 0, np.abs(YAW) >= 60
    assert full[frontal].sum() < half[frontal].sum() < frontal.mean()
    assert full[large].sum() > half[large].sum() > large.mean()


def test_feed_draws_large_poses_more_often_and_keeps_the_epoch_length() -> None:
    bank = CropBank(np.zeros((len(YAW), 16, 16, 3), np.uint8),
                    np.stack([YAW, np.zeros_like(YAW), np.zeros_like(YAW)], 1).astype(np.float32))

    def feed(balance: float) -> ResidentFeed:
        return ResidentFeed([bank], [], 50, spec=InputSpec(size_px=16), bins=BinSpec(),
                            augment=ResidentAugment(), device="cpu", seed=0,
                            yaw_balance=balance)

    plain, balanced = feed(0.0), feed(1.0)
    assert plain.steps_per_epoch == balanced.steps_per_epoch == len(YAW) // 50
    once = plain._epoch_indices(0)
    assert sorted(once.tolist()) == list(range(len(YAW)))      # each crop once per epoch
    draws = np.concatenate([balanced._epoch_indices(e) for e in range(20)])
    shares = band_shares(draws)
    assert shares[0] == pytest.approx(0.25, abs=0.03)          # 4 bands, about 1/4 each
    assert shares[9] == pytest.approx(0.25, abs=0.03)          # from 4 % of the crops
    assert band_shares(once)[9] == pytest.approx(0.04)
    # reproducible per seed and epoch (a resumed run sees the same draws)
    np.testing.assert_array_equal(balanced._epoch_indices(3), feed(1.0)._epoch_indices(3))


def test_yaw_balance_is_checked() -> None:
    base = dict(dataset="crops", data="d", out_dir="o", resident=True)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="yaw_balance"):
            TrainConfig(**base, yaw_balance=bad)
    with pytest.raises(ValueError, match="resident"):
        TrainConfig(**{**base, "resident": False}, yaw_balance=0.5)
    assert TrainConfig(**base, yaw_balance=0.5).yaw_balance == 0.5
