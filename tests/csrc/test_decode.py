"""The compiled decode ``gldpose_sdk._decode`` (csrc/decode.cpp) against a float64 reference."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

_decode = pytest.importorskip(
    "gldpose_sdk._decode",
    reason="compiled decode not built (pip install . , or cmake -S . -B build/dev && "
    "cmake --build build/dev for an in-place build)",
)

from gldpose_sdk import decode as sdk_decode  # noqa: E402
from gldpose_sdk.errors import InputError  # noqa: E402
from gldpose_sdk.manifest import BinSpec  # noqa: E402

TOL_DEG = 1e-4
CENTRES_DEG = BinSpec().centres_deg()
HOPENET_CENTRES_DEG = BinSpec(offset_deg=-99.0).centres_deg()


def reference(logits: np.ndarray, centres_deg: np.ndarray) -> tuple[np.ndarray, ...]:
    """Softmax-expectation in float64: (angle [N, A], std [N, A], probs [N, A, B])."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=2, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=2, keepdims=True)
    c = centres_deg.astype(np.float64)
    mean = p @ c
    var = (p * (c - mean[..., None]) ** 2).sum(axis=2)
    return mean, np.sqrt(var), p


def assert_matches_reference(logits: np.ndarray, centres_deg: np.ndarray = CENTRES_DEG) -> None:
    angles, std, probs = _decode.decode(logits, centres_deg, True)
    ref_angles, ref_std, ref_probs = reference(logits, centres_deg)
    assert angles.dtype == std.dtype == probs.dtype == np.float32
    assert angles.shape == std.shape == logits.shape[:2]
    assert probs.shape == logits.shape
    np.testing.assert_allclose(angles, ref_angles, rtol=0, atol=TOL_DEG)
    np.testing.assert_allclose(std, ref_std, rtol=0, atol=TOL_DEG)
    np.testing.assert_allclose(probs, ref_probs, rtol=0, atol=1e-6)


@pytest.mark.parametrize("scale", [1e-3, 0.3, 3.0, 30.0, 300.0, 1e4])
def test_random_logits_match_float64_reference(rng: np.random.Generator, scale: float) -> None:
    logits = (rng.standard_normal((40, 3, CENTRES_DEG.size)) * scale).astype(np.float32)
    assert_matches_reference(logits)


def test_extreme_logits_match_reference(rng: np.random.Generator) -> None:
    b = CENTRES_DEG.size
    rows = [
        np.full(b, 1e4), np.full(b, -1e4), np.zeros(b),  # all-equal rows: mean 0, std ~57 deg
        rng.choice([-1e4, 1e4], size=b),  # +-1e4 mixed
        np.where(np.arange(b) == 0, 1e4, -1e4),  # one-hot at each end: std 0
        np.where(np.arange(b) == b - 1, 1e4, -1e4),
        np.where(np.arange(b) == b - 1, 20.0, 0.0),  # peaked at +97.5, small spread
        np.where(np.arange(b) >= b - 2, 1e4, -1e4),  # two tied maxima: mean between them
        np.linspace(-1e4, 1e4, b), np.linspace(50.0, -50.0, b),
        np.where(np.arange(b) % 2 == 0, 88.0, -88.0),  # exp(-176): below float range
        np.where(np.arange(b) == 30, 3e38, -3e38),  # z - max overflows to -inf in float32
    ]
    logits = np.stack(rows).astype(np.float32)[:, None, :]
    assert_matches_reference(logits)
    angles, std = _decode.decode(logits, CENTRES_DEG)
    assert angles[4, 0] == pytest.approx(CENTRES_DEG[0]) and std[4, 0] == 0.0
    assert angles[7, 0] == pytest.approx(CENTRES_DEG[-2:].mean())


def test_hopenet_offset_centres(rng: np.random.Generator) -> None:
    logits = (rng.standard_normal((8, 3, 66)) * 5).astype(np.float32)
    assert_matches_reference(logits, HOPENET_CENTRES_DEG)


@pytest.mark.parametrize("view", ["transposed", "sliced", "reversed", "broadcast"])
def test_strided_views_read_without_copy(rng: np.random.Generator, view: str) -> None:
    b = CENTRES_DEG.size
    base = (rng.standard_normal((12, 4, 2 * b)) * 4).astype(np.float32)
    logits = {
        "transposed": np.ascontiguousarray(base[:, :3, :b].transpose(1, 0, 2)).transpose(1, 0, 2),
        "sliced": base[::2, 1:, ::2],
        "reversed": base[::-1, :3, b - 1::-1][:, :, :b],
        "broadcast": np.broadcast_to(base[:1, :3, :b], (5, 3, b)),
    }[view]
    assert not logits.flags.c_contiguous
    assert_matches_reference(logits)
    np.testing.assert_array_equal(_decode.decode(logits, CENTRES_DEG)[0],
                                  _decode.decode(np.ascontiguousarray(logits), CENTRES_DEG)[0])


def test_float16_logits_match_reference(rng: np.random.Generator) -> None:
    logits = (rng.standard_normal((30, 3, CENTRES_DEG.size)) * 8).astype(np.float16)
    logits[0, 0, :5] = [6.0e-8, -6.0e-8, 65504.0, 0.0, -0.0]  # subnormals, largest, zeros
    assert_matches_reference(logits)  # reference reads the same float16 values
    wide = (rng.standard_normal((9, 3, 2 * CENTRES_DEG.size)) * 8).astype(np.float16)
    assert_matches_reference(wide[:, ::-1, 1::2])  # strided float16


def test_half_conversion_is_exact_for_every_bit_pattern() -> None:
    bits = np.arange(1 << 16, dtype=np.uint16)
    got = _decode._half_bits_to_float(bits)
    want = bits.view(np.float16).astype(np.float32)
    np.testing.assert_array_equal(got.view(np.uint32)[~np.isnan(want)],
                                  want.view(np.uint32)[~np.isnan(want)])
    assert np.isnan(got[np.isnan(want)]).all()


def test_probs_sum_to_one_and_are_optional(rng: np.random.Generator) -> None:
    logits = (rng.standard_normal((64, 3, CENTRES_DEG.size)) * 10).astype(np.float32)
    out = _decode.decode(logits, CENTRES_DEG, return_probs=True)
    assert len(out) == 3 and (out[2] >= 0).all()
    np.testing.assert_allclose(out[2].sum(axis=2), 1.0, atol=1e-5)
    assert len(_decode.decode(logits, CENTRES_DEG)) == 2


def test_threaded_rows_equal_single_thread(rng: np.random.Generator) -> None:
    logits = (rng.standard_normal((999, 3, CENTRES_DEG.size)) * 6).astype(np.float32)
    one = _decode.decode(logits, CENTRES_DEG, True, threads=1)
    for threads in (2, 7):
        many = _decode.decode(logits, CENTRES_DEG, True, threads=threads)
        for a, b in zip(one, many):
            np.testing.assert_array_equal(a, b)


def test_negative_threads_is_rejected() -> None:
    with pytest.raises(ValueError, match="threads must be >= 0"):
        _decode.decode(np.zeros((1, 3, CENTRES_DEG.size), np.float32), CENTRES_DEG, threads=-1)


def test_empty_batch_gives_empty_outputs() -> None:
    angles, std = _decode.decode(np.zeros((0, 3, CENTRES_DEG.size), np.float32), CENTRES_DEG)
    assert angles.shape == std.shape == (0, 3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("threads", [1, 3])
def test_non_finite_logits_name_the_row(rng: np.random.Generator, bad: float,
                                        threads: int) -> None:
    logits = rng.standard_normal((20, 3, CENTRES_DEG.size)).astype(np.float32)
    logits[13, 2, 40] = bad
    logits[17, 0, 1] = bad  # a later bad row: the first one is reported
    with pytest.raises(ValueError, match=r"NaN or Inf at row n=13, angle=2"):
        _decode.decode(logits, CENTRES_DEG, threads=threads)


def test_non_finite_float16_is_rejected() -> None:
    logits = np.zeros((2, 3, CENTRES_DEG.size), np.float16)
    logits[1, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"row n=1, angle=0"):
        _decode.decode(logits, CENTRES_DEG)


@pytest.mark.parametrize(("logits", "centres", "phrase"), [
    (np.zeros((3, 66), np.float32), CENTRES_DEG, "3 dimensions"),
    (np.zeros((1, 1, 3, 66), np.float32), CENTRES_DEG, "3 dimensions"),
    (np.zeros((1, 3, 66), np.int32), CENTRES_DEG, "got int32"),
    (np.zeros((1, 3, 66), np.float64), CENTRES_DEG, "got float64"),
    (np.zeros((1, 3, 66), ">f4"), CENTRES_DEG, "got >f4"),
    (np.zeros((1, 3, 65), np.float32), CENTRES_DEG, "65 bins but centres have shape"),
    (np.zeros((1, 3, 0), np.float32), CENTRES_DEG[:0], "between 1 and"),
    (np.zeros((1, 3, 66), np.float32), CENTRES_DEG.astype(np.float64), "centres must be float32"),
    ([[[0.0] * 66]], CENTRES_DEG, "numpy array"),
])
def test_bad_input_raises_value_error(logits, centres, phrase: str) -> None:
    with pytest.raises(ValueError, match=phrase):
        _decode.decode(logits, centres)


def test_import_keeps_subnormals() -> None:
    """No crtfastmath.o: importing the extension must not switch on flush-to-zero."""
    code = (
        "import numpy as np; import gldpose_sdk._decode as d;"
        "c = np.arange(66, dtype=np.float32);"
        "d.decode(np.zeros((1, 3, 66), np.float32), c);"
        "assert np.float64(1e-310) * 1 != 0;"
        "assert np.finfo(np.float32).smallest_subnormal * np.float32(1) > 0"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert np.float64(1e-310) * 1 != 0  # and in this process, where it is already imported
    assert np.finfo(np.float32).smallest_subnormal * np.float32(1) > 0


def test_sdk_uses_compiled_decode_and_agrees_with_numpy(rng: np.random.Generator) -> None:
    assert sdk_decode.decode_implementation() == "compiled"
    for scale in (0.5, 20.0, 1e4):
        for dtype in (np.float32, np.float16):
            logits = (rng.standard_normal((16, 3, CENTRES_DEG.size)) * scale).astype(dtype)
            got = sdk_decode.decode_logits(logits, CENTRES_DEG, return_probs=True)
            want = sdk_decode.decode_logits_numpy(logits, CENTRES_DEG, return_probs=True)
            for g, w, tol in zip(got, want, (TOL_DEG, TOL_DEG, 1e-6)):
                assert g.dtype == w.dtype == np.float32
                np.testing.assert_allclose(g, w, rtol=0, atol=tol)


def test_sdk_maps_extension_errors_to_input_error() -> None:
    logits = np.zeros((2, 3, CENTRES_DEG.size), np.float32)
    logits[0, 1, 2] = np.nan
    with pytest.raises(InputError, match="NaN or Inf"):
        sdk_decode.decode_logits(logits, CENTRES_DEG)


def test_decode_mapped_equals_numpy_reference(rng: np.random.Generator) -> None:
    """The compiled map + calibration against decode_mapped_numpy, on many rows."""
    angle_map = (np.array([-90.0, -60.0, 0.0, 60.0, 90.0]),
                 np.array([-99.0, -62.0, 0.0, 62.0, 99.0]))
    std_maps = [(np.array([4.0, 9.0, 30.0]), np.array([2.0, 4.0, 15.0])),
                (np.array([6.0]), np.array([3.0])),
                (np.array([1.0, 50.0]), np.array([0.5, 30.0]))]
    logits = (rng.standard_normal((300, 3, CENTRES_DEG.size)) * rng.uniform(0.01, 10, (300, 1, 1))
              ).astype(np.float32)
    logits[:30, :, -1] += 50.0
    got = _decode.decode_mapped(logits, CENTRES_DEG, angle_map, std_maps)
    want = sdk_decode.decode_mapped_numpy(logits, CENTRES_DEG, angle_map, std_maps)
    for g, w in zip(got, want):
        assert g.dtype == np.float32 and g.shape == (300, 3)
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-5)
    assert got[0].max() == pytest.approx(99.0) and got[2][:, 2].max() > 30.0 * 0.6


@pytest.mark.parametrize("angle_map, std_maps, phrase", [
    (([0.0], [0.0]), None, "2 to 4096 knots"),
    (([0.0, 0.0], [1.0, 2.0]), None, "strictly increasing"),
    (([0.0, float("nan")], [1.0, 2.0]), None, "finite"),
    (([0.0, 1.0], [1.0]), None, "same length"),
    ("knots", None, "pair"),
    (None, [([1.0], [1.0])], "one (raw, calibrated) pair per angle"),
])
def test_decode_mapped_rejects_bad_knots(angle_map, std_maps,  # type: ignore[no-untyped-def]
                                         phrase: str) -> None:
    logits = np.zeros((1, 3, CENTRES_DEG.size), np.float32)
    with pytest.raises(ValueError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        _decode.decode_mapped(logits, CENTRES_DEG, angle_map, std_maps)
    with pytest.raises(InputError):
        sdk_decode.decode_mapped(logits, CENTRES_DEG, angle_map, std_maps)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_prepared_decoder_equals_decode_mapped(rng, dtype) -> None:  # type: ignore[no-untyped-def]
    """MappedDecoder (the knots converted once, what the SDK's PoseDecoder calls per batch)
    gives decode_mapped's numbers, with and without each map, on strided logits too."""
    angle_map = (np.array([-90.0, -60.0, 0.0, 60.0, 90.0]),
                 np.array([-99.0, -62.0, 0.0, 62.0, 99.0]))
    std_maps = [(np.array([4.0, 9.0, 30.0]), np.array([2.0, 4.0, 15.0])),
                (np.array([6.0]), np.array([3.0])),
                (np.array([1.0, 50.0]), np.array([0.5, 30.0]))]
    wide = (rng.standard_normal((40, 3, 2 * CENTRES_DEG.size)) * 4).astype(dtype)
    for logits in (wide[:, :, ::2], np.ascontiguousarray(wide[:, :, ::2])):
        for maps in ((None, None), (angle_map, None), (None, std_maps), (angle_map, std_maps)):
            got = _decode.MappedDecoder(CENTRES_DEG, *maps)(logits)
            want = _decode.decode_mapped(logits, CENTRES_DEG, *maps)
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w)


def test_prepared_decoder_checks_once_and_per_call() -> None:
    """Bad knots or centres are refused when the decoder is made; bad logits on each call."""
    with pytest.raises(ValueError, match="strictly increasing"):
        _decode.MappedDecoder(CENTRES_DEG, ([0.0, 0.0], [1.0, 2.0]))
    with pytest.raises(ValueError, match="centres"):
        _decode.MappedDecoder(CENTRES_DEG.astype(np.float64))
    decoder = _decode.MappedDecoder(CENTRES_DEG, None, [([1.0], [1.0])] * 2)
    with pytest.raises(ValueError, match="one \\(raw, calibrated\\) pair per angle \\(3\\)"):
        decoder(np.zeros((1, 3, CENTRES_DEG.size), np.float32))
    assert decoder(np.zeros((1, 2, CENTRES_DEG.size), np.float32))[2].shape == (1, 2)
    for empty in ([], ()):   # an empty calibration is not "no calibration"
        with pytest.raises(ValueError, match="pair per angle"):
            _decode.MappedDecoder(CENTRES_DEG, None, empty)(
                np.zeros((1, 3, CENTRES_DEG.size), np.float32))
        with pytest.raises(ValueError, match="pair per angle"):
            _decode.decode_mapped(np.zeros((1, 3, CENTRES_DEG.size), np.float32), CENTRES_DEG,
                                  None, empty)
        with pytest.raises(InputError, match="pair per angle"):   # the numpy reference too
            sdk_decode.decode_mapped_numpy(np.zeros((1, 3, CENTRES_DEG.size)), CENTRES_DEG,
                                           None, empty)
    decoder = _decode.MappedDecoder(CENTRES_DEG)
    with pytest.raises(ValueError, match="bins but centres"):
        decoder(np.zeros((1, 3, CENTRES_DEG.size + 1), np.float32))
    bad = np.zeros((2, 3, CENTRES_DEG.size), np.float32)
    bad[1, 2, 5] = np.inf
    with pytest.raises(ValueError, match="row n=1, angle=2"):
        decoder(bad)
    with pytest.raises(ValueError, match="float32 or float16"):
        decoder(bad.astype(np.float64))
