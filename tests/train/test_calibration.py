"""Std calibration: coverage near 68% for known error laws; monotone maps; manifest round trip."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gldpose_sdk.manifest import Manifest, read_manifest, write_manifest
from gldpose_train import TrainError
from gldpose_train.calibration import (
    ONE_SIGMA,
    coverage,
    cross_fitted_coverage,
    fit_angle,
    fit_calibration,
)


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw std nearly constant (12-15) while the true error scale varies 4x with it."""
    rng = np.random.default_rng(seed)
    raw = rng.uniform(12.0, 15.0, (n, 3))
    sigma = 2.0 + 2.0 * (raw - 12.0)            # true sigma 2..8 deg, rising with raw std
    err = np.abs(rng.normal(0.0, sigma))
    return raw, err


def test_calibrated_band_covers_one_sigma_out_of_sample() -> None:
    raw, err = _synthetic(4000, 0)
    cal = fit_calibration(raw, err, fitted_on="synthetic")
    fresh_raw, fresh_err = _synthetic(4000, 1)
    cov = coverage(cal, fresh_raw, fresh_err)
    assert all(abs(c - ONE_SIGMA) < 0.04 for c in cov["within_1std"]), cov
    assert all(abs(c - 0.954) < 0.03 for c in cov["within_2std"]), cov
    # the band follows the error: low raw std -> narrow band, high -> wide
    low, high = cal.apply(np.array([[12.2] * 3]))[0], cal.apply(np.array([[14.8] * 3]))[0]
    assert np.all(high > 2 * low)
    # the uncalibrated std (12-15) would cover nearly everything
    assert np.mean(fresh_err <= fresh_raw) > 0.95
    assert all(abs(c - ONE_SIGMA) < 0.04 for c in cal.within_1std)


def test_map_is_monotone_even_when_bins_disagree() -> None:
    raw = np.linspace(10, 14, 400)
    err = np.where(raw < 12, 6.0, 2.0) * np.random.default_rng(0).uniform(0.1, 1.5, 400)
    angle = fit_angle(raw, err)
    assert all(b >= a for a, b in zip(angle.std_deg, angle.std_deg[1:]))
    assert all(b > a for a, b in zip(angle.raw_std_deg, angle.raw_std_deg[1:]))


def test_too_few_samples_and_nan_are_refused() -> None:
    with pytest.raises(TrainError, match="at least"):
        fit_angle(np.ones(5), np.ones(5))
    with pytest.raises(TrainError, match="finite"):
        fit_angle(np.full(100, np.nan), np.ones(100))
    assert cross_fitted_coverage(np.ones((10, 3)), np.ones((10, 3))) is None


def test_calibration_round_trips_through_the_manifest(tmp_path) -> None:
    raw, err = _synthetic(600, 2)
    cal = fit_calibration(raw, err, fitted_on="val")
    write_manifest(tmp_path, dataclasses.replace(Manifest(backbone="resnet18"), calibration=cal))
    back = read_manifest(tmp_path).calibration
    assert back == cal
    np.testing.assert_allclose(back.apply(raw), cal.apply(raw))
    # a manifest without calibration (older models) still reads
    write_manifest(tmp_path, Manifest(backbone="resnet18"))
    assert read_manifest(tmp_path).calibration is None
