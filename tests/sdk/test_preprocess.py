"""Preprocessing against hand-computed references: known pixels, known boxes, explicit arithmetic.

Every expected array here is written from a formula of the pixel coordinates (or as literal
numbers worked out by hand from the ImageNet mean and std), never by calling the code under
test on other inputs, so a wrong channel order, a mean applied in BGR order, a shifted square or
a wrong pad fails here by name. The crop rules themselves are in ``test_crop_rules.py``.
"""
from __future__ import annotations

import dataclasses
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from gldpose_sdk.manifest import NO_MARGIN, CropRule, InputSpec, read_manifest, write_manifest
from gldpose_sdk.errors import InputError
from gldpose_sdk.preprocess import (
    crop_bgr,
    cut_square,
    cut_square_into,
    normalise,
    prepare_crop,
    square_region,
    to_network_input,
)

SPEC16 = InputSpec(size_px=16)


def blue(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return x + 3


def green(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 2 * y + 1


def red(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 250 - x - y


def coloured_frame(h: int = 40, w: int = 40) -> np.ndarray:
    """BGR frame whose pixel (x, y) is (B, G, R) = (x + 3, 2y + 1, 250 - x - y): all distinct."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([blue(x, y), green(x, y), red(x, y)], axis=-1).astype(np.uint8)


def expected_bgr(x0: int, y0: int, side: int) -> np.ndarray:
    """The frame's pixels in the square at (x0, y0), written from the formulas: BGR."""
    y, x = np.mgrid[y0:y0 + side, x0:x0 + side]
    return np.stack([blue(x, y), green(x, y), red(x, y)], axis=-1).astype(np.uint8)


def expected_rgb(x0: int, y0: int, side: int) -> np.ndarray:
    y, x = np.mgrid[y0:y0 + side, x0:x0 + side]
    return np.stack([red(x, y), green(x, y), blue(x, y)], axis=-1).astype(np.uint8)


# -- cutting: which pixels, in which channel order ----------------------------------------------
def test_box_of_output_size_is_cut_pixel_for_pixel_bgr_and_rgb() -> None:
    frame = coloured_frame()
    box = (8, 8, 24, 24)                                      # 16 x 16: no resize
    np.testing.assert_array_equal(crop_bgr(frame, box, NO_MARGIN, 16), expected_bgr(8, 8, 16))
    np.testing.assert_array_equal(prepare_crop(frame, box, NO_MARGIN, 16),
                                  expected_rgb(8, 8, 16))


def test_wide_box_gives_its_centred_square() -> None:
    frame = coloured_frame()
    # 32 wide, 16 high: the square of side 16 starts (32 - 16) / 2 = 8 px right of x0 = 4.
    assert square_region(frame.shape, (4, 10, 36, 26), NO_MARGIN) == (12, 10, 16)
    np.testing.assert_array_equal(crop_bgr(frame, (4, 10, 36, 26), NO_MARGIN, 16),
                                  expected_bgr(12, 10, 16))
    # 10 wide, 16 high: the square of side 10 starts (16 - 10) // 2 = 3 px below y0 = 5.
    assert square_region(frame.shape, (20, 5, 30, 21), NO_MARGIN) == (20, 8, 10)


def test_region_rounds_the_expanded_box_to_pixels() -> None:
    # x: 10.4 -> 10, 26.6 -> 27 (w 17); y: 3.5 -> 4 (half to even), 20.2 -> 20 (h 16)
    assert square_region((40, 40, 3), (10.4, 3.5, 26.6, 20.2), NO_MARGIN) == (10, 4, 16)


def test_twice_the_output_size_is_averaged_over_2x2_blocks() -> None:
    by, bx = np.mgrid[0:16, 0:16]
    blocks = np.stack([bx * 8 + 4, by * 12 + 2, 250 - bx * 7 - by * 6], axis=-1).astype(np.uint8)
    frame = np.kron(blocks, np.ones((2, 2, 1), np.uint8))      # each block 2 x 2 of one colour
    got = crop_bgr(frame, (0, 0, 32, 32), NO_MARGIN, 16)
    np.testing.assert_array_equal(got, blocks)
    np.testing.assert_array_equal(prepare_crop(frame, (0, 0, 32, 32), NO_MARGIN, 16),
                                  blocks[..., ::-1])


def test_outside_the_frame_is_black_not_clamped() -> None:
    frame = coloured_frame()
    got = crop_bgr(frame, (-8, -4, 8, 12), NO_MARGIN, 16)     # square (-8, -4), side 16
    want = np.zeros((16, 16, 3), np.uint8)
    want[4:, 8:] = expected_bgr(0, 0, 12)[:, :8]              # rows y >= 0, columns x >= 0
    np.testing.assert_array_equal(got, want)
    right = crop_bgr(frame, (30, 30, 46, 46), NO_MARGIN, 16)
    want = np.zeros((16, 16, 3), np.uint8)
    want[:10, :10] = expected_bgr(30, 30, 10)
    np.testing.assert_array_equal(right, want)


def test_huge_square_keeps_only_the_inside_part_at_its_place() -> None:
    frame = np.empty((40, 40, 3), np.uint8)
    frame[:] = (10, 20, 30)
    # side 240 > EXACT_PAD_FACTOR (8) * 16: the inside 40 px, at 100..140 of 240, lands at round(100 * 16 / 240)
    # = 7 .. round(140 * 16 / 240) = 9 of the 16 px output; the rest stays black.
    got = cut_square(frame, (-100, -100, 240), 16)
    want = np.zeros((16, 16, 3), np.uint8)
    want[7:9, 7:9] = (10, 20, 30)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(cut_square(frame, (500, 500, 240), 16), np.zeros_like(want))


# -- network input: layouts and the normalisation ------------------------------------------------
def _constant_crops() -> np.ndarray:
    """Two 16 px BGR crops of one colour each: (B, G, R) = (0, 128, 255) and (255, 0, 0)."""
    crops = np.empty((2, 16, 16, 3), np.uint8)
    crops[0] = (0, 128, 255)
    crops[1] = (255, 0, 0)
    return crops


# (x / 255 - mean) / std per channel, R G B, ImageNet mean (0.485, 0.456, 0.406) and std
# (0.229, 0.224, 0.225), worked out by hand:
#   crop 0: R 255 -> (1 - 0.485) / 0.229 = 2.2489083; G 128 -> (0.5019608 - 0.456) / 0.224
#           = 0.2051821; B 0 -> -0.406 / 0.225 = -1.8044444
#   crop 1: R 0 -> -0.485 / 0.229 = -2.1179039; G 0 -> -0.456 / 0.224 = -2.0357143;
#           B 255 -> (1 - 0.406) / 0.225 = 2.64
NORMALISED_RGB = np.array([[2.2489083, 0.2051821, -1.8044444],
                           [-2.1179039, -2.0357143, 2.64]], np.float32)


def test_float_layout_is_rgb_nchw_with_imagenet_numbers() -> None:
    got = to_network_input(_constant_crops(), "nchw_float", SPEC16)
    assert got.shape == (2, 3, 16, 16) and got.dtype == np.float32 and got.flags.c_contiguous
    want = np.broadcast_to(NORMALISED_RGB[:, :, None, None], (2, 3, 16, 16))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_normalise_takes_rgb_with_the_same_numbers() -> None:
    rgb = np.ascontiguousarray(_constant_crops()[..., ::-1])
    want = np.broadcast_to(NORMALISED_RGB[:, :, None, None], (2, 3, 16, 16))
    np.testing.assert_allclose(normalise(rgb, SPEC16), want, rtol=0, atol=1e-6)


def test_float_layout_of_a_cut_crop_pixel_by_pixel() -> None:
    crop = crop_bgr(coloured_frame(), (8, 8, 24, 24), NO_MARGIN, 16)
    got = to_network_input(crop[None], "nchw_float", SPEC16)[0]
    y, x = np.mgrid[8:24, 8:24]
    want = np.stack([(red(x, y) / 255 - 0.485) / 0.229, (green(x, y) / 255 - 0.456) / 0.224,
                     (blue(x, y) / 255 - 0.406) / 0.225])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_uint8_layout_is_the_bgr_crop_unchanged() -> None:
    crops = _constant_crops()
    got = to_network_input(crops[:, ::-1], "nhwc_uint8_bgr", SPEC16)   # a non-contiguous view
    assert got.dtype == np.uint8 and got.flags.c_contiguous
    np.testing.assert_array_equal(got[0, 0, 0], (0, 128, 255))
    np.testing.assert_array_equal(got, crops[:, ::-1])


def test_other_mean_and_std_are_used_per_channel() -> None:
    spec = InputSpec(size_px=16, mean_rgb=(0.5, 0.25, 0.0), std_rgb=(0.5, 0.25, 1.0))
    got = to_network_input(_constant_crops(), "nchw_float", spec)[:, :, 0, 0]
    # crop 0: R (1 - 0.5) / 0.5 = 1; G (128/255 - 0.25) / 0.25 = 1.0078431; B 0
    # crop 1: R -1; G -1; B 1
    np.testing.assert_allclose(got, [[1.0, 1.0078431, 0.0], [-1.0, -1.0, 1.0]], atol=1e-6)


@pytest.mark.parametrize("layout", ["nchw_float", "nhwc_uint8_bgr"])
@pytest.mark.parametrize("bad", [np.zeros((2, 16, 16, 3), np.float32),
                                 np.zeros((2, 15, 16, 3), np.uint8),
                                 np.zeros((16, 16, 3), np.uint8)])
def test_wrong_crops_are_refused(layout: str, bad: np.ndarray) -> None:
    from gldpose_sdk.errors import InputError

    with pytest.raises(InputError, match=r"crops must be uint8 \[N, 16, 16, 3\]"):
        to_network_input(bad, layout, SPEC16)


# -- the estimator feeds its backend exactly these numbers ---------------------------------------
# A rule whose crop of the box below is exactly 64 px (the tiny model's input): no resize.
# Box (40, 50, 72, 82) is 32 x 32: x 40 - 16 .. 72 + 16, y 50 - 32 .. 82 + 0.
HAND_RULE = CropRule(left_frac=0.5, top_frac=1.0, right_frac=0.5, bottom_frac=0.0)
HAND_BOX = (40.0, 50.0, 72.0, 82.0)
HAND_REGION = (24, 18)
# A square rule: box (40, 18, 72, 82) is 32 x 64, grown about its centre (56, 50) to 64 x 64.
SQUARE_RULE = CropRule(left_frac=0.0, top_frac=0.0, right_frac=0.0, bottom_frac=0.0, square=True)
SQUARE_BOX = (40.0, 18.0, 72.0, 82.0)


@pytest.mark.parametrize("backend, rule, box", [
    ("pytorch", HAND_RULE, HAND_BOX), ("pytorch", SQUARE_RULE, SQUARE_BOX),
    ("onnxruntime", HAND_RULE, HAND_BOX), ("onnxruntime", SQUARE_RULE, SQUARE_BOX)])
def test_estimator_feeds_the_hand_computed_crop(exported_model_dir: Path, tmp_path: Path,
                                                only_artefacts, spy_on_backend, backend: str,
                                                rule: CropRule, box: tuple) -> None:  # type: ignore[no-untyped-def]
    """Through ``estimate(frame, boxes=...)``: the uint8 BGR crop (PyTorch) and the normalised
    RGB NCHW floats (ONNX Runtime on model.onnx) are the frame's pixels at (24, 18), 64 px."""
    from gldpose_sdk import PoseEstimator

    model_dir = tmp_path / "model"
    shutil.copytree(exported_model_dir, model_dir)
    manifest = read_manifest(model_dir)
    keep = "model.safetensors" if backend == "pytorch" else "model.onnx"
    write_manifest(model_dir, dataclasses.replace(only_artefacts(manifest, keep), crop=rule))
    frame = coloured_frame(120, 110)
    with PoseEstimator(model_dir, backend=backend, device="cpu", detector="none") as est:
        spy = spy_on_backend(est)
        (pose,) = est.estimate(frame, boxes=[box])
    (sent,) = spy.batches
    x0, y0 = HAND_REGION
    y, x = np.mgrid[y0:y0 + 64, x0:x0 + 64]
    if backend == "pytorch":
        assert spy.input_layout == "nhwc_uint8_bgr"
        np.testing.assert_array_equal(sent[0], expected_bgr(x0, y0, 64))
    else:
        assert spy.input_layout == "nchw_float"
        want = np.stack([(red(x, y) / 255 - 0.485) / 0.229, (green(x, y) / 255 - 0.456) / 0.224,
                         (blue(x, y) / 255 - 0.406) / 0.225])
        np.testing.assert_allclose(sent[0], want, rtol=0, atol=1e-5)
    assert pose.box == box


# -- resampling: which filter, and the three cutting paths ----------------------------------------
def stripes(h: int, w: int) -> np.ndarray:
    """Vertical lines: 255 where x % 4 == 3, else 0 (all channels).

    A 4:1 area average gives 255 / 4 = 63.75 per block; a bilinear filter samples between
    pixels 4i + 1 and 4i + 2 and gives 0, so the filter in use shows.
    """
    x = np.arange(w)
    row = np.where(x % 4 == 3, 255, 0).astype(np.uint8)
    return np.repeat(np.repeat(row[None, :, None], h, axis=0), 3, axis=2)


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    h, w, c = image.shape
    means = image.reshape(h // factor, factor, w // factor, factor, c).mean(axis=(1, 3))
    return means


def test_shrinking_averages_areas_inside_the_frame() -> None:
    got = cut_square(stripes(64, 64), (0, 0, 64), 16)
    assert got.dtype == np.uint8
    np.testing.assert_allclose(got, 63.75, atol=0.5)


def test_shrinking_a_padded_square_averages_areas_with_the_black_border() -> None:
    """Side 64 = EXACT_PAD_FACTOR x 16: padded exactly, then averaged in 4 x 4 blocks."""
    frame = stripes(40, 40)
    got = cut_square(frame, (-6, -6, 64), 16)
    padded = np.zeros((64, 64, 3))
    padded[6:46, 6:46] = frame
    assert got.dtype == np.uint8
    np.testing.assert_allclose(got, block_mean(padded, 4), atol=0.5)


def test_huge_square_shrinks_its_inside_part_by_area() -> None:
    got = cut_square(stripes(40, 40), (-100, -100, 240), 16)   # the inside lands on [7:9, 7:9]
    assert got.dtype == np.uint8
    np.testing.assert_allclose(got[7:9, 7:9], 63.75, atol=0.5)
    assert got[:7].max() == got[9:].max() == got[:, :7].max() == got[:, 9:].max() == 0


@pytest.mark.parametrize("shape", [(4, 40, 3), (40, 4, 3)])
def test_huge_square_whose_inside_rounds_to_nothing_stays_black(shape: tuple) -> None:
    # 4 px of 240 map to 0.27 output px: rows (or columns) 7 .. 7, nothing to resize
    got = cut_square(np.full(shape, 200, np.uint8), (-100, -100, 240), 16)
    np.testing.assert_array_equal(got, np.zeros((16, 16, 3), np.uint8))


def test_growing_interpolates_bilinearly() -> None:
    row = np.array([0, 0, 0, 0, 200, 200, 200, 200], np.uint8)
    frame = np.repeat(np.repeat(row[None, :, None], 8, axis=0), 3, axis=2)
    got = cut_square(frame, (0, 0, 8), 16)[0, :, 0]
    # output x maps to source (x + 0.5) / 2 - 0.5: x = 7 -> 3.25 (a quarter of the way to 200),
    # x = 8 -> 3.75; far from the edge the source values repeat
    assert (got[7], got[8]) == (50, 150)
    np.testing.assert_array_equal(got[:6], 0)
    np.testing.assert_array_equal(got[10:], 200)


def test_degenerate_box_keeps_a_one_pixel_side() -> None:
    # x 10.2 .. 10.4 rounds to 10 .. 10: width 0 becomes 1; the height 10 centres the square
    assert square_region((40, 40, 3), (10.2, 10.0, 10.4, 20.0), NO_MARGIN) == (10, 14, 1)
    assert square_region((40, 40, 3), (10.0, 10.2, 20.0, 10.4), NO_MARGIN) == (14, 10, 1)


def test_inside_fraction_by_hand() -> None:
    from gldpose_sdk.preprocess import inside_fraction

    assert inside_fraction((40, 40, 3), (8, 8, 16)) == 1.0
    assert inside_fraction((40, 40, 3), (-8, -4, 16)) == 8 * 12 / 256
    assert inside_fraction((40, 30, 3), (20, 30, 16)) == 10 * 10 / 256    # w 30, h 40
    assert inside_fraction((40, 40, 3), (50, 0, 16)) == 0.0
    assert inside_fraction((40, 40, 3), (0, 50, 16)) == 0.0


# -- checks of what callers hand in ---------------------------------------------------------------
@pytest.mark.parametrize("image, phrase", [
    ([[0, 0, 0]], r"frame must be a numpy array \[H, W, 3\] uint8 BGR, got list"),
    (np.zeros((8, 8), np.uint8), r"frame must have shape \[H, W, 3\] \(BGR\), got \(8, 8\)"),
    (np.zeros((8, 8, 4), np.uint8), r"must have shape \[H, W, 3\] \(BGR\), got \(8, 8, 4\)"),
    (np.zeros((8, 8, 3), np.float32), r"frame must be uint8 \(0\.\.255\), got float32"),
    (np.zeros((1, 8, 3), np.uint8), r"frame is too small: shape \(1, 8, 3\), need at least 2 px"),
    (np.zeros((8, 1, 3), np.uint8), r"frame is too small: shape \(8, 1, 3\)"),
])
def test_bad_images_are_refused(image, phrase: str) -> None:  # type: ignore[no-untyped-def]
    from gldpose_sdk.errors import InputError
    from gldpose_sdk.preprocess import check_image

    with pytest.raises(InputError, match=phrase):
        check_image(image)


def test_good_images_pass_contiguous() -> None:
    from gldpose_sdk.preprocess import check_image

    image = coloured_frame(2, 2)                                   # the smallest allowed
    assert check_image(image) is image
    view = coloured_frame(8, 8)[:, ::2]
    out = check_image(view)
    assert out.flags.c_contiguous and out is not view
    np.testing.assert_array_equal(out, view)


@pytest.mark.parametrize("box, phrase", [
    (("a", 0, 1, 1), r"a face box must be four numbers \(x0, y0, x1, y1\), got \('a', 0, 1, 1\)"),
    ((0, 0, 1), r"four numbers .*got \(0, 0, 1\)"),
    ((5, 0, 5, 4), r"face box \(5, 0, 5, 4\) is not finite with x1 > x0 and y1 > y0"),
    ((0, 5, 4, 5), r"face box \(0, 5, 4, 5\) is not finite"),
    ((6, 0, 5, 4), r"face box \(6, 0, 5, 4\)"),
    ((0, 0, float("inf"), 4), r"face box \(0, 0, inf, 4\) is not finite"),
])
def test_bad_boxes_are_refused(box: tuple, phrase: str) -> None:
    from gldpose_sdk.errors import InputError
    from gldpose_sdk.preprocess import check_box

    with pytest.raises(InputError, match=phrase):
        check_box(box)


def test_box_messages_echo_at_most_80_characters() -> None:
    from decimal import Decimal

    from gldpose_sdk.errors import InputError
    from gldpose_sdk.preprocess import check_box

    many = list(range(40))
    with pytest.raises(InputError) as info:
        check_box(many)
    assert str(info.value) == ("a face box must be four numbers (x0, y0, x1, y1), got "
                               + str(many)[:80])
    long_box = [Decimal("5." + "1" * 40), Decimal(0), Decimal(4), Decimal(4)]   # x1 < x0
    with pytest.raises(InputError) as info:
        check_box(long_box)
    assert str(info.value) == (f"face box {str(long_box)[:80]} is not finite with x1 > x0 "
                               "and y1 > y0")


def test_read_image_bgr(tmp_path: Path) -> None:
    import cv2

    from gldpose_sdk.errors import InputError
    from gldpose_sdk.preprocess import read_image_bgr

    frame = coloured_frame(12, 10)
    cv2.imwrite(str(tmp_path / "f.png"), frame)
    got = read_image_bgr(str(tmp_path / "f.png"))
    np.testing.assert_array_equal(got, frame)                     # BGR as stored, lossless
    with pytest.raises(InputError, match="image file not found: .*none.png"):
        read_image_bgr(tmp_path / "none.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(InputError, match="cannot decode image .*text.png: not an image OpenCV"):
        read_image_bgr(tmp_path / "text.png")
    # A PNG header claiming 50000 x 50000 pixels: OpenCV refuses it by raising, not by None.
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0)
    (tmp_path / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(
        b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b""))
    with pytest.raises(InputError, match=r"cannot decode image .*huge\.png: OpenCV.*"
                                         r"CV_IO_MAX_IMAGE_PIXELS") as info:
        read_image_bgr(tmp_path / "huge.png")
    assert isinstance(info.value.__cause__, cv2.error)


def test_normalise_output_is_float32() -> None:
    rgb = np.ascontiguousarray(_constant_crops()[..., ::-1])
    assert normalise(rgb, SPEC16).dtype == np.float32
    assert to_network_input(_constant_crops(), "nchw_float", SPEC16).dtype == np.float32


def test_area_linear_filter_is_a_whole_factor_average_then_bilinear() -> None:
    """The fast filter: 2x2 block means of a 192 px square are exactly its 96 px result."""
    import cv2

    from gldpose_sdk.preprocess import resize_square

    rng = np.random.default_rng(5)
    square = rng.integers(0, 256, (192, 192, 3), dtype=np.uint8)
    blocks = square.reshape(96, 2, 96, 2, 3).astype(np.float64).mean(axis=(1, 3))
    fast = resize_square(square, 96, "area_linear").astype(np.float64)
    assert np.abs(fast - blocks).max() <= 1.0          # rounding only
    # a non-integer ratio: the whole-factor average (k = 2) then a bilinear 111 -> 96
    odd = rng.integers(0, 256, (222, 222, 3), dtype=np.uint8)
    halved = cv2.resize(odd, (111, 111), interpolation=cv2.INTER_AREA)
    expected = cv2.resize(halved, (96, 96), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(resize_square(odd, 96, "area_linear"), expected)
    # and the plain area filter is OpenCV's area average, not the fast one
    np.testing.assert_array_equal(resize_square(odd, 96, "area"),
                                  cv2.resize(odd, (96, 96), interpolation=cv2.INTER_AREA))
    assert not np.array_equal(resize_square(odd, 96, "area"), expected)


def test_area_linear_threefold_averages_the_centred_whole_blocks() -> None:
    """k = 3 with a remainder of 2 (290 = 3 * 96 + 2): the 288 px square one pixel in from each
    side is averaged over 3x3 blocks (a bilinear 3x shrink would take centre pixels instead)."""
    from gldpose_sdk.preprocess import resize_square

    square = np.random.default_rng(9).integers(0, 256, (290, 290, 3), dtype=np.uint8)
    blocks = square[1:289, 1:289].reshape(96, 3, 96, 3, 3).astype(np.float64).mean(axis=(1, 3))
    fast = resize_square(square, 96, "area_linear").astype(np.float64)
    assert np.abs(fast - blocks).max() <= 1.0          # rounding only


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6, 7])
def test_block_mean_gives_opencvs_area_bytes_at_every_whole_factor(k: int) -> None:
    """The faster box-filter path (odd k) and the area path give the bytes OpenCV's area resize
    gives, on noise and on smooth images, in every channel layout a crop can have (a view into a
    larger frame included): training, export parity and the SDK keep seeing the same crops."""
    import cv2

    from gldpose_sdk.preprocess import BOX_SAMPLED_FACTORS, block_mean

    rng = np.random.default_rng(k)
    for m in (96, 103, 131):
        noise = rng.integers(0, 256, (k * m + 7, k * m + 5, 3), dtype=np.uint8)
        for image in (noise, cv2.GaussianBlur(noise, (0, 0), 1.5)):
            square = image[3:3 + k * m, 2:2 + k * m]          # a view, as cut from a frame
            expected = cv2.resize(np.ascontiguousarray(square), (m, m),
                                  interpolation=cv2.INTER_AREA)
            got = block_mean(square, k)
            assert got.shape == (m, m, 3) and got.dtype == np.uint8
            np.testing.assert_array_equal(got, expected)
            gray = np.ascontiguousarray(square[..., 0])
            np.testing.assert_array_equal(
                block_mean(gray, k), cv2.resize(gray, (m, m), interpolation=cv2.INTER_AREA))
    assert set(BOX_SAMPLED_FACTORS) <= {3, 5, 7}               # odd factors only


def test_cut_square_into_refuses_an_output_it_cannot_fill() -> None:
    frozen = np.empty((96, 96, 3), np.uint8)
    frozen.flags.writeable = False
    for bad in (np.empty((96, 96, 3), np.float32), np.empty((64, 64, 3), np.uint8), frozen):
        with pytest.raises(InputError, match="out must be"):
            cut_square_into(np.zeros((300, 300, 3), np.uint8), (100, 80, 169), 96,
                            "area_linear", bad)
