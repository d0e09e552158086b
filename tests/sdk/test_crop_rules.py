"""Crop rules (manifest ``CropRule``) against boxes worked out by hand.

Each expected box below is written as numbers computed by hand from the rule's definition
(DESIGN 4, section 5): sides grow by fractions of the *original* width and height, then a
``square`` rule grows the shorter side about the centre to the longer one. The shipped model
uses a square rule, so a square rule that shrinks the longer side instead (``max`` -> ``min``)
must fail here.
"""
from __future__ import annotations

import pytest

from gldpose_sdk.builtin_models import default_model_dir
from gldpose_sdk.manifest import NO_MARGIN, CropRule, read_manifest
from gldpose_sdk.preprocess import square_region

TALL = (100.0, 100.0, 200.0, 300.0)          # 100 wide, 200 high


@pytest.mark.parametrize("rule, box, expected", [
    # default rule 0.12 / 0.4 / 0.12 / 0.12 of w = 100, h = 200: x -12, +12; y -80, +24
    (CropRule(), TALL, (88.0, 20.0, 212.0, 324.0)),
    # every side its own fraction, w = 40, h = 100: left 4, top 20, right 12, bottom 40
    (CropRule(left_frac=0.1, top_frac=0.2, right_frac=0.3, bottom_frac=0.4),
     (10.0, 20.0, 50.0, 120.0), (6.0, 0.0, 62.0, 160.0)),
    (NO_MARGIN, (1.5, 2.5, 3.5, 7.0), (1.5, 2.5, 3.5, 7.0)),
])
def test_plain_rule(rule: CropRule, box: tuple, expected: tuple) -> None:
    assert rule.expand(box) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("box, expected", [
    (TALL, (50.0, 100.0, 250.0, 300.0)),                  # side 200 about (150, 200)
    ((0.0, 0.0, 80.0, 20.0), (0.0, -30.0, 80.0, 50.0)),   # side 80 about (40, 10)
    ((5.0, 5.0, 15.0, 15.0), (5.0, 5.0, 15.0, 15.0)),     # already square
])
def test_square_rule_grows_the_shorter_side(box: tuple, expected: tuple) -> None:
    rule = CropRule(left_frac=0.0, top_frac=0.0, right_frac=0.0, bottom_frac=0.0, square=True)
    assert rule.expand(box) == pytest.approx(expected, abs=1e-9)


def test_square_rule_with_margins_of_the_shipped_kind() -> None:
    """0.2071 on every side, then square (the shipped model's rule when this was written).

    w = 100, h = 200: x 100 - 20.71 .. 200 + 20.71 (141.42 wide), y 100 - 41.42 .. 300 + 41.42
    (282.84 high); square of side 282.84 about (150, 200): x 8.58 .. 291.42, y 58.58 .. 341.42.
    """
    rule = CropRule(left_frac=0.2071, top_frac=0.2071, right_frac=0.2071, bottom_frac=0.2071,
                    square=True)
    assert rule.expand(TALL) == pytest.approx((8.58, 58.58, 291.42, 341.42), abs=1e-9)
    # Pixels: rounded to (9, 59, 291, 341), 282 x 282, so the square is that box itself.
    assert square_region((400, 400, 3), TALL, rule) == (9, 59, 282)


@pytest.mark.parametrize("k, expected", [
    # k = 0.2: x_min 100 - 12 = 88; y_min 100 - 80 = 20; x_max 200 + 0.12 * (200 - 88) = 213.44;
    # y_max 300 + 0.12 * (300 - 20) = 333.6  (later steps use the enlarged size)
    (0.2, (88.0, 20.0, 213.44, 333.6)),
    # k = 0.3: 100 - 18 = 82; 100 - 120 = -20; 200 + 0.18 * 118 = 221.24; 300 + 0.18 * 320 = 357.6
    (0.3, (82.0, -20.0, 221.24, 357.6)),
])
def test_hopenet_rule(k: float, expected: tuple) -> None:
    rule = CropRule.hopenet(k)
    assert not rule.square
    assert rule.expand(TALL) == pytest.approx(expected, abs=1e-9)


def test_region_of_a_plain_rule_is_the_centred_square_of_the_rounded_box() -> None:
    # default rule on TALL: (88, 20, 212, 324) -> 124 x 304 -> side 124, y0 = 20 + 90 = 110
    assert square_region((400, 400, 3), TALL, CropRule()) == (88, 110, 124)
    # Hopenet k = 0.2: (88, 20, 213.44, 333.6) -> (88, 20, 213, 334) -> 125 x 314 -> y0 = 20 + 94
    assert square_region((400, 400, 3), TALL, CropRule.hopenet(0.2)) == (88, 114, 125)


def test_shipped_rule_contains_the_face_with_its_margins() -> None:
    """Whatever the shipped rule is, its crop keeps each side's margin around the face box."""
    rule = read_manifest(default_model_dir()).crop
    for box in (TALL, (10.0, 40.0, 90.0, 80.0)):
        x0, y0, x1, y1 = box
        w, h = x1 - x0, y1 - y0
        cx0, cy0, cx1, cy1 = rule.expand(box)
        assert cx0 <= x0 - rule.left_frac * w + 1e-9 and cx1 >= x1 + rule.right_frac * w - 1e-9
        assert cy0 <= y0 - rule.top_frac * h + 1e-9 and cy1 >= y1 + rule.bottom_frac * h - 1e-9
        if rule.square:
            assert cx1 - cx0 == pytest.approx(cy1 - cy0)


@pytest.mark.parametrize("field", ["left_frac", "top_frac", "right_frac", "bottom_frac"])
@pytest.mark.parametrize("value", [-0.01, 4.01])
def test_fraction_out_of_range_is_refused(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"crop.{field} must be in"):
        CropRule(**{field: value})
    CropRule(**{field: 4.0})
    CropRule(**{field: 0.0})
