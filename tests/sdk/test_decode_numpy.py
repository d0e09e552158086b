"""The numpy softmax-expectation decode: reference agreement, stability, errors."""
from __future__ import annotations

import numpy as np
import pytest

from gldpose_sdk.decode import decode_logits, decode_logits_numpy
from gldpose_sdk.errors import InputError
from gldpose_sdk.manifest import BinSpec

CENTRES = BinSpec().centres_deg()


def reference(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = logits.astype(np.float64)
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    c = CENTRES.astype(np.float64)
    mean = (p * c).sum(-1)
    return mean, np.sqrt((p * (c - mean[..., None]) ** 2).sum(-1))


def test_matches_float64_reference(rng):
    logits = (rng.standard_normal((50, 3, 66)) * 5).astype(np.float32)
    angles, std = decode_logits_numpy(logits, CENTRES)
    ref_a, ref_s = reference(logits)
    np.testing.assert_allclose(angles, ref_a, atol=1e-4)
    np.testing.assert_allclose(std, ref_s, atol=1e-4)


def test_stable_at_extreme_logits():
    logits = np.zeros((2, 3, 66), np.float32)
    logits[0, :, 10] = 1e4          # one-hot at bin 10
    logits[1] = -1e4                # all equal, very negative
    angles, std = decode_logits(logits, CENTRES)
    assert np.all(np.isfinite(angles)) and np.all(np.isfinite(std))
    np.testing.assert_allclose(angles[0], CENTRES[10], atol=1e-4)
    np.testing.assert_allclose(std[0], 0, atol=1e-3)
    np.testing.assert_allclose(angles[1], 0, atol=1e-3)
    np.testing.assert_allclose(std[1], np.std(CENTRES), atol=1e-3)


def test_probabilities_sum_to_one(rng):
    _, _, p = decode_logits_numpy(rng.standard_normal((4, 3, 66)).astype(np.float32), CENTRES,
                                  return_probs=True)
    np.testing.assert_allclose(p.sum(-1), 1, atol=1e-5)


@pytest.mark.parametrize("bad, phrase", [
    (np.full((1, 3, 66), np.nan, np.float32), "NaN"),
    (np.full((1, 3, 66), np.inf, np.float32), "NaN or Inf"),
    (np.zeros((3, 66), np.float32), "shape|dimensions"),
    (np.zeros((1, 3, 65), np.float32), "bins"),
    (np.zeros((1, 3, 66), np.int32), "float"),
    ([[[0.0] * 66] * 3], "numpy array"),
])
def test_rejects_bad_logits(bad, phrase):
    with pytest.raises(InputError, match=phrase):
        decode_logits(bad, CENTRES)
    with pytest.raises(ValueError):
        decode_logits_numpy(bad, CENTRES)
