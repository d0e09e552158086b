"""The compiled crop ``gldpose_sdk._crop`` (csrc/crop.cpp) against OpenCV's bytes.

The SDK's crop must give the pixels training saw (``preprocess.cut_square``, OpenCV): every
byte equal, and the brightness/contrast equal to ``crop_quality``'s float32 values.
"""
from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

_crop = pytest.importorskip(
    "gldpose_sdk._crop",
    reason="compiled crop not built (pip install . , or cmake -S . -B build/dev && "
    "cmake --build build/dev for an in-place build)",
)

from gldpose_sdk import preprocess  # noqa: E402
from gldpose_sdk.preprocess import crop_quality, cut_square, cut_square_into  # noqa: E402

RNG = np.random.default_rng(12)
FRAME = RNG.integers(0, 256, (700, 901, 3), dtype=np.uint8)


def compiled(view: np.ndarray, size: int, simd: bool = True) -> tuple[np.ndarray, float, float]:
    out = np.empty((size, size, 3), np.uint8)
    mean, std = _crop.area_linear(view, size, out, simd=simd)
    return out, mean, std


def assert_same_as_opencv(frame: np.ndarray, x0: int, y0: int, side: int, size: int,
                          simd: bool = True) -> None:
    out, mean, std = compiled(frame[y0:y0 + side, x0:x0 + side], size, simd)
    expected = cut_square(frame, (x0, y0, side), size, "area_linear")
    np.testing.assert_array_equal(out, expected, err_msg=f"side {side} -> {size}")
    light, spread = crop_quality(expected[None])
    assert np.float32(mean / 255.0) == light[0] and np.float32(std / 255.0) == spread[0]


@pytest.mark.parametrize("simd", [True, False], ids=["simd", "scalar"])
@pytest.mark.parametrize("size", [96, 64, 112, 60])
def test_every_side_the_sdk_hands_it_gives_opencvs_bytes(size: int, simd: bool) -> None:
    # enlarging, equal, bilinear shrink (k = 1) and area-by-2 then bilinear (k = 2); the
    # scalar code is what non-x86 builds (Jetson) and CPUs without SSSE3 run
    for side in range(2, 3 * size):
        x0 = int(RNG.integers(0, FRAME.shape[1] - side + 1))
        y0 = int(RNG.integers(0, FRAME.shape[0] - side + 1))
        assert_same_as_opencv(FRAME, x0, y0, side, size, simd)


def test_sizes_taking_turns_reuse_no_stale_taps() -> None:
    # the bilinear taps are cached per thread for the last 8 (side, size) pairs: 13 pairs
    # visited in turn, three times over, evict and recompute entries while others are reused
    pairs = [(side, size) for size in (96, 64, 112) for side in (70, 119, 150, 239)] + [(96, 60)]
    rng = np.random.default_rng(5)
    for _ in range(3):
        for i in rng.permutation(len(pairs)):
            side, size = pairs[i]
            assert_same_as_opencv(FRAME, 11, 7, side, size)


BIG_FRAME = RNG.integers(0, 256, (1000, 1100, 3), dtype=np.uint8)


@pytest.mark.parametrize("size", [96, 64, 112])
def test_larger_factors_are_exact_too(size: int) -> None:
    # k = 3..8 (the SDK hands these to it since session 17) and beyond: the column sums, the
    # block sums and the rounding of OpenCV's area step (box-sampled for 3 and 5)
    for k in range(3, 12):
        for side in {k * size, k * size + k // 2, (k + 1) * size - 1}:
            if side > 1000:
                continue
            for simd in (True, False):
                assert_same_as_opencv(BIG_FRAME, 1000 - side, 3, side, size, simd)


def test_factors_above_255_are_refused() -> None:
    # a block's column sums are exact in uint16 only up to k = 255
    out = np.empty((2, 2, 3), np.uint8)
    _crop.area_linear(BIG_FRAME[:511, :511], 2, out)                     # k = 255
    with pytest.raises(ValueError, match="more than 255 times"):
        _crop.area_linear(BIG_FRAME[:512, :512], 2, out)                 # k = 256


@pytest.mark.skipif(not _crop.simd_available(), reason="the SDK uses the compiled crop only "
                    "with its SIMD code (x86-64 with SSSE3)")
def test_the_sdk_hands_it_every_factor_below_the_limit(monkeypatch) -> None:
    assert preprocess.COMPILED_MAX_FACTOR == 9
    out = np.empty((96, 96, 3), np.uint8)
    expected = {side: cut_square(BIG_FRAME, (5, 7, side), 96, "area_linear")
                for side in (95, 191, 287, 300, 480, 863, 864, 990)}

    def no_opencv(*args, **kwargs):
        raise AssertionError("cut with OpenCV")

    assert preprocess.compiled_crop_verified(96)   # its check at first use (cached) calls OpenCV
    monkeypatch.setattr(preprocess, "cut_square", no_opencv)
    for side in (95, 191, 287, 300, 480, 863):   # factors 0..8: compiled, no OpenCV call
        cut_square_into(BIG_FRAME, (5, 7, side), 96, "area_linear", out)
        np.testing.assert_array_equal(out, expected[side])
    for side in (864, 990):                      # factor 9 and more: OpenCV
        with pytest.raises(AssertionError, match="cut with OpenCV"):
            cut_square_into(BIG_FRAME, (5, 7, side), 96, "area_linear", out)
    monkeypatch.undo()
    assert preprocess.EXACT_PAD_FACTOR == 8
    padded = {side: cut_square(BIG_FRAME, (-20, -10, side), 96, "area_linear")
              for side in (300, 594, 768, 769)}
    monkeypatch.setattr(preprocess, "cut_square", no_opencv)
    for side in (300, 594, 768):   # reaching outside, padded exactly (up to 8 output sides)
        cut_square_into(BIG_FRAME, (-20, -10, side), 96, "area_linear", out)
        np.testing.assert_array_equal(out, padded[side])
    with pytest.raises(AssertionError, match="cut with OpenCV"):
        cut_square_into(BIG_FRAME, (-20, -10, 769), 96, "area_linear", out)


@settings(max_examples=60, deadline=None)
@given(side=st.integers(2, 287), x=st.floats(0, 1), y=st.floats(0, 1),
       flat=st.sampled_from([None, 0, 255, 128]))
def test_random_regions_at_any_place_of_a_frame(side: int, x: float, y: float,
                                                flat: int | None) -> None:
    frame = FRAME[:300, :420] if flat is None else np.full((300, 420, 3), flat, np.uint8)
    x0, y0 = int(x * (420 - side)), int(y * (300 - side))
    assert_same_as_opencv(frame, x0, y0, side, 96)


def test_region_touching_the_frames_right_and_bottom_edges() -> None:
    # the vector loads must stay inside the rows: a region ending at the frame's last byte
    frame = np.ascontiguousarray(FRAME[:239, :239])
    for simd in (True, False):
        assert_same_as_opencv(frame, 0, 0, 239, 96, simd)
        assert_same_as_opencv(frame, 239 - 130, 239 - 130, 130, 96, simd)


def test_the_sdk_uses_it_only_with_its_simd_code() -> None:
    # x86-64 CPUs have SSSE3; elsewhere (or on a build without it) the SDK keeps to OpenCV
    assert (preprocess._compiled_crop is _crop) == _crop.simd_available()
    assert preprocess.crop_implementation() == ("compiled" if _crop.simd_available()
                                                else "opencv")


def test_rejects_what_it_cannot_read() -> None:
    out = np.empty((96, 96, 3), np.uint8)
    region = FRAME[:120, :120]
    for bad in (region.astype(np.float32), region[:, :, :2], region[:, ::-1], region[:, :119],
                region[..., 0]):
        with pytest.raises(ValueError):
            _crop.area_linear(bad, 96, out)
    for bad_out in (np.empty((96, 96, 3), np.float32), np.empty((95, 96, 3), np.uint8),
                    np.empty((96, 96, 6), np.uint8)[:, :, :3]):
        with pytest.raises(ValueError):
            _crop.area_linear(region, 96, bad_out)
    frozen = np.empty((96, 96, 3), np.uint8)
    frozen.flags.writeable = False
    with pytest.raises(ValueError):
        _crop.area_linear(region, 96, frozen)
    with pytest.raises(ValueError):
        _crop.area_linear(region, 0, out)


@pytest.mark.parametrize("region, resize", [
    ((100, 80, 169), "area_linear"),     # compiled
    ((-30, 80, 169), "area_linear"),     # reaches outside: padded, then compiled
    ((-30, -50, 380), "area_linear"),    # the same, factor 3
    ((-30, -50, 500), "area_linear"),    # the same, factor 5
    ((-30, -50, 800), "area_linear"),    # outside by more than EXACT_PAD_FACTOR sides: OpenCV
    ((100, 80, 350), "area_linear"),     # factor 3: compiled since session 17
    ((3, 0, 700), "area_linear"),        # factor 7: compiled
    ((100, 80, 169), "area"),            # another filter: OpenCV
    ((850, 650, 120), "area_linear"),    # over the bottom-right corner
])
def test_cut_square_into_equals_cut_square_on_every_path(region: tuple[int, int, int],
                                                         resize: str) -> None:
    out = np.empty((96, 96, 3), np.uint8)
    light, spread = cut_square_into(FRAME, region, 96, resize, out)
    expected = cut_square(FRAME, region, 96, resize)
    np.testing.assert_array_equal(out, expected)
    ref_light, ref_spread = crop_quality(expected[None])
    assert (np.float32(light), np.float32(spread)) == (ref_light[0], ref_spread[0])


def test_the_sdk_keeps_to_opencv_where_the_compiled_crop_disagrees(monkeypatch, caplog) -> None:
    class OffByOne:
        @staticmethod
        def area_linear(view: np.ndarray, size: int, out: np.ndarray) -> tuple[float, float]:
            mean, std = _crop.area_linear(view, size, out)
            out[0, 0, 0] ^= 1
            return mean, std

    monkeypatch.setattr(preprocess, "_compiled_crop", OffByOne)
    preprocess.compiled_crop_verified.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="gldpose_sdk.preprocess"):
            assert not preprocess.compiled_crop_verified(96)
            out = np.empty((96, 96, 3), np.uint8)
            cut_square_into(FRAME, (100, 80, 169), 96, "area_linear", out)
        np.testing.assert_array_equal(out, cut_square(FRAME, (100, 80, 169), 96, "area_linear"))
        assert "differs from OpenCV's" in caplog.text
    finally:
        monkeypatch.undo()
        preprocess.compiled_crop_verified.cache_clear()
    assert preprocess.compiled_crop_verified(96)   # the real one agrees


def test_estimate_gives_the_same_poses_with_and_without_the_compiled_crop(monkeypatch) -> None:
    pytest.importorskip("onnxruntime")
    from gldpose_sdk import PoseEstimator

    frame = np.ascontiguousarray(FRAME[:480, :640])
    boxes = [(200.0, 120.0, 369.0, 289.0), (20.0, 30.0, 120.0, 130.0), (590.0, 400.0, 700.0, 520.0)]
    with PoseEstimator(backend="onnxruntime") as est:
        assert est.describe().crop == ("compiled" if _crop.simd_available() else "opencv")
        with_compiled = est.estimate(frame, boxes=boxes)
        crops = [np.ascontiguousarray(frame[10:150, 20:160]), frame[100:160, 300:350]]
        crops_compiled = est.estimate_crops(crops)
        monkeypatch.setattr(preprocess, "_compiled_crop", None)
        assert est.describe().crop == "opencv"
        assert est.estimate(frame, boxes=boxes) == with_compiled
        assert est.estimate_crops(crops) == crops_compiled
