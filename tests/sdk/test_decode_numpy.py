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


def test_implementation_is_named_and_announced_once(monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    import importlib.util
    import logging

    from gldpose_sdk import decode

    built = importlib.util.find_spec("gldpose_sdk._decode") is not None
    assert decode.decode_implementation() == ("compiled" if built else "numpy")
    monkeypatch.setattr(decode, "_announced", False)
    with caplog.at_level(logging.INFO, logger="gldpose_sdk.decode"):
        decode_logits(np.zeros((1, 3, 66), np.float32), CENTRES)
        decode_logits(np.zeros((1, 3, 66), np.float32), CENTRES)
    assert [r.getMessage() for r in caplog.records] == [
        f"gldpose decode: using the {decode.decode_implementation()} implementation"]
    monkeypatch.setattr(decode, "_compiled", None)
    assert decode.decode_implementation() == "numpy"


class _SpyExtension:
    """Stands in for the compiled extension: records calls, answers like the numpy decode."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def decode(self, logits, centres, return_probs=False):  # type: ignore[no-untyped-def]
        self.calls.append((logits.dtype, centres.dtype, return_probs))
        return decode_logits_numpy(logits, centres, return_probs)


def test_compiled_path_gets_float32_centres_and_the_probs_flag(monkeypatch, rng) -> None:  # type: ignore[no-untyped-def]
    from gldpose_sdk import decode

    spy = _SpyExtension()
    monkeypatch.setattr(decode, "_compiled", spy)
    logits = rng.standard_normal((4, 3, 66)).astype(np.float32)
    out = decode_logits(logits, CENTRES.astype(np.float64), return_probs=True)
    assert len(out) == 3 and spy.calls == [(np.float32, np.float32, True)]
    ref = decode_logits_numpy(logits, CENTRES, return_probs=True)
    for got, want in zip(out, ref):
        np.testing.assert_allclose(got, want, atol=1e-5)
    # float64 logits and non-arrays never reach the extension (it takes float16/32 only)
    angles, std, probs = decode_logits(logits.astype(np.float64), CENTRES, return_probs=True)
    np.testing.assert_allclose(angles, ref[0], atol=1e-5)
    assert probs.shape == (4, 3, 66) and len(spy.calls) == 1
    with pytest.raises(InputError, match="numpy array"):
        decode_logits([[[0.0] * 66] * 3], CENTRES)
    assert len(spy.calls) == 1


def test_extension_errors_become_input_errors(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from gldpose_sdk import decode

    class Failing:
        def decode(self, *args):  # type: ignore[no-untyped-def]
            raise ValueError("NaN or Inf at row n=0, angle=1")

    monkeypatch.setattr(decode, "_compiled", Failing())
    with pytest.raises(InputError, match=r"^NaN or Inf at row n=0, angle=1$"):
        decode_logits(np.zeros((1, 3, 66), np.float32), CENTRES)


@pytest.mark.parametrize("logits, centres, phrase", [
    ([[[0.0] * 66] * 3], CENTRES, r"^logits must be a numpy array, got list$"),
    (np.zeros((3, 66), np.float32), CENTRES,
     r"^logits must have shape \[N, angles, bins\], got shape \(3, 66\)$"),
    (np.zeros((1, 3, 66), np.int32), CENTRES, r"^logits must be float16/float32/float64, got int32$"),
    (np.zeros((1, 3, 65), np.float32), CENTRES,
     r"^logits have 65 bins but the manifest gives \(66,\) centres$"),
    (np.zeros((1, 3, 66), np.float32), CENTRES[:, None],
     r"^logits have 66 bins but the manifest gives \(66, 1\) centres$"),
    (np.full((1, 3, 66), np.nan, np.float32), CENTRES,
     r"^logits contain NaN or Inf: the network output is not usable$"),
])
def test_numpy_decode_messages(logits, centres, phrase: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=phrase):
        decode_logits_numpy(logits, centres)


def test_numpy_decode_of_a_known_distribution() -> None:
    """Half the mass on each of two bins: angle midway, std half their distance."""
    logits = np.full((1, 3, 66), -1e4, np.float32)
    logits[0, :, 30] = logits[0, :, 36] = 0.0                   # centres -7.5 and 10.5
    angles, std, probs = decode_logits_numpy(logits, CENTRES, return_probs=True)
    np.testing.assert_allclose(angles, 1.5, atol=1e-5)
    np.testing.assert_allclose(std, 9.0, atol=1e-5)
    assert angles.dtype == std.dtype == probs.dtype == np.float32
    np.testing.assert_allclose(probs[0, 0, [30, 36]], 0.5, atol=1e-6)


def _maps():  # type: ignore[no-untyped-def]
    """An expectation map and a calibration shaped like a trained model's (hand-written)."""
    from gldpose_sdk.manifest import AngleCalibration, Calibration, ExpectationMap

    g = np.linspace(-99, 99, 23)
    shrink = np.where(np.abs(g) > 60, np.sign(g) * (np.abs(g) - 60) ** 2 / 80, 0.0)
    expectation_map = ExpectationMap(tuple(g - shrink), tuple(g), source="test")
    calibration = Calibration(
        AngleCalibration((5.0, 10.0, 20.0, 40.0), (2.0, 3.0, 7.0, 20.0)),
        AngleCalibration((8.0,), (4.0,)),                          # one knot: a scale above
        AngleCalibration((3.0, 30.0), (1.5, 12.0)))
    return expectation_map, calibration


@pytest.mark.parametrize("implementation", ["numpy", "auto"])
def test_decode_mapped_equals_map_then_calibration(rng, implementation: str) -> None:
    """One call (compiled when built) = the manifest's ExpectationMap.map + Calibration.apply,
    with expectations beyond the knots, raw stds below the first and above the last knot."""
    from gldpose_sdk.decode import decode_mapped, decode_mapped_numpy

    expectation_map, calibration = _maps()
    logits = np.concatenate([(rng.standard_normal((60, 3, 66)) * s).astype(np.float32)
                             for s in (0.05, 1.0, 8.0)])
    logits[:10, :, -1] += 40.0        # peaked at +99: expectations beyond the map's last knot
    logits[10:20, :, 0] += 40.0
    run = decode_mapped_numpy if implementation == "numpy" else decode_mapped
    angles, std, calibrated = run(logits, CENTRES, expectation_map.knots, calibration.knots)
    raw_angles, raw_std = decode_logits_numpy(logits, CENTRES)
    ref_angles, ref_std = expectation_map.map(raw_angles, raw_std)
    assert angles.dtype == std.dtype == calibrated.dtype == np.float32
    np.testing.assert_allclose(angles, ref_angles, atol=2e-5)
    np.testing.assert_allclose(std, ref_std, rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(calibrated, calibration.apply(ref_std), rtol=1e-5, atol=2e-5)
    assert ref_std.min() < 2.0 and ref_std[:, 0].max() > 40 and ref_std[:, 1].max() > 8
    plain = run(logits, CENTRES)
    np.testing.assert_allclose(plain[0], raw_angles, atol=2e-5)
    np.testing.assert_array_equal(plain[1], plain[2])


def _two_manifests_and_logits(rng, model_dir):  # type: ignore[no-untyped-def]
    """The tiny model's manifest without maps and with both, and random logits for them."""
    import dataclasses

    from gldpose_sdk.manifest import read_manifest

    expectation_map, calibration = _maps()
    bare = dataclasses.replace(read_manifest(model_dir), expectation_map=None, calibration=None)
    full = dataclasses.replace(bare, expectation_map=expectation_map, calibration=calibration)
    return bare, full, (rng.standard_normal((30, 3, 66)) * 3).astype(np.float32)


def test_decode_calibrated_is_the_estimators_decode(rng, tiny_model_dir) -> None:
    """inference.decode_calibrated (what estimate() runs) = angles_from_logits +
    calibrated_std, for a manifest with a map and a calibration and for one without."""
    from gldpose_sdk.inference import angles_from_logits, calibrated_std, decode_calibrated

    bare, full, logits = _two_manifests_and_logits(rng, tiny_model_dir)
    for manifest in (bare, full):
        angles, raw_std = angles_from_logits(logits, manifest)
        got = decode_calibrated(logits, manifest)
        np.testing.assert_allclose(got[0], angles, atol=2e-5)
        np.testing.assert_allclose(got[1], raw_std, rtol=1e-5, atol=2e-5)
        np.testing.assert_allclose(got[2], calibrated_std(raw_std, manifest), rtol=1e-5,
                                   atol=2e-5)
    assert not np.allclose(decode_calibrated(logits, full)[2], decode_calibrated(logits, bare)[2])


def test_pose_decoder_is_decode_calibrated(rng, tiny_model_dir) -> None:
    """PoseDecoder.decode (what estimate() runs, prepared once) gives decode_calibrated's
    numbers, and turns NaN logits into InputError like it."""
    from gldpose_sdk.config import QualityThresholds
    from gldpose_sdk.inference import PoseDecoder, decode_calibrated

    bare, full, logits = _two_manifests_and_logits(rng, tiny_model_dir)
    for manifest in (bare, full):
        decoder = PoseDecoder(manifest, QualityThresholds())
        for got, want in zip(decoder.decode(logits), decode_calibrated(logits, manifest)):
            np.testing.assert_array_equal(got, want)
        for dtype in (np.float16, np.float64):   # compiled and numpy paths
            for got, want in zip(decoder.decode(logits.astype(dtype)),
                                 decode_calibrated(logits.astype(dtype), manifest)):
                np.testing.assert_array_equal(got, want)
    bad = logits.copy()
    bad[3, 1, 7] = np.nan
    with pytest.raises(InputError, match="NaN"):
        PoseDecoder(full, QualityThresholds()).decode(bad)
