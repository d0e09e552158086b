"""Property tests (hypothesis) of the decode and of the crop code.

* Decode: any finite logits of the right shape, of any magnitude the dtype holds, give angles
  inside the bins' range and a std >= 0 (and no larger than half that range), from the
  compiled decode and from numpy alike; NaN or Inf anywhere is an ``InputError`` (the decode's
  contract; the backends turn it into ``BackendRuntimeError``).
* Crops: any array (any shape, any dtype) with any box (any numbers, huge integers, NaN, wrong
  types) either gives the network's crop, uint8 ``[S, S, 3]``, or raises a ``GldposeError``,
  never another exception; the same for already-cut crops.

Examples are few and fixed (the file runs in a few seconds on a 2-core CPU, the same examples
every run); set ``GLDPOSE_HYPOTHESIS_EXAMPLES`` for a deeper run with random examples. No
example database is written.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis not installed (pip install "
                                                      ".[dev])")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from gldpose_sdk.config import EstimatorConfig  # noqa: E402
from gldpose_sdk.decode import decode_logits, decode_logits_numpy  # noqa: E402
from gldpose_sdk.errors import GldposeError, InputError  # noqa: E402
from gldpose_sdk.face_crops import (  # noqa: E402
    check_box_in_frame,
    check_frame_size,
    cut_faces,
    whole_crops,
)
from gldpose_sdk.manifest import BinSpec, CropRule, InputSpec, Manifest  # noqa: E402
from gldpose_sdk.preprocess import check_image, crop_bgr  # noqa: E402

#: Examples per property. By default a fixed (derandomised) set, so that a run is repeatable;
#: GLDPOSE_HYPOTHESIS_EXAMPLES=2000 asks for a deeper run with fresh random examples.
DEEP = os.environ.get("GLDPOSE_HYPOTHESIS_EXAMPLES")
FAST = settings(max_examples=int(DEEP or 60), derandomize=DEEP is None, deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large])
DECODES = {"dispatch": decode_logits, "numpy": decode_logits_numpy}


# -- decode -------------------------------------------------------------------------------------
@st.composite
def bin_specs(draw: Any) -> BinSpec:
    """Any valid bins: 2-120 of 0.5-3 degrees, anywhere inside [-180, 180]."""
    count, width = draw(st.integers(2, 120)), draw(st.floats(0.5, 3.0))
    low = draw(st.floats(-180.0, 180.0 - count * width))
    return BinSpec(count=count, width_deg=width, offset_deg=min(low + width / 2,
                                                                 180.0 - (count - 0.5) * width))


@st.composite
def finite_logits(draw: Any, dtype: Any) -> tuple[np.ndarray, BinSpec]:
    bins = draw(bin_specs())
    n = draw(st.integers(1, 4))
    elements = st.floats(width=np.dtype(dtype).itemsize * 8, allow_nan=False,
                         allow_infinity=False)
    logits = draw(hnp.arrays(dtype, (n, 3, bins.count), elements=elements))
    return logits, bins


# numpy warns when float64 logits near 1e308 overflow to -inf while being shifted: harmless
@pytest.mark.filterwarnings("ignore:overflow encountered in subtract:RuntimeWarning")
@pytest.mark.parametrize("decode", DECODES.values(), ids=DECODES.keys())
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@FAST
@given(data=st.data())
def test_finite_logits_give_angles_in_range_and_std_nonnegative(decode: Any, dtype: Any,
                                                                data: Any) -> None:
    logits, bins = data.draw(finite_logits(dtype))
    centres = bins.centres_deg()
    angles, std = decode(logits, centres)
    assert angles.shape == std.shape == logits.shape[:2]
    assert np.all(np.isfinite(angles)) and np.all(np.isfinite(std))
    tol = 1e-3 * max(1.0, float(np.abs(centres).max()))  # float32 rounding of the sums
    assert np.all(angles >= centres.min() - tol) and np.all(angles <= centres.max() + tol)
    assert np.all(std >= 0)
    assert np.all(std <= (centres.max() - centres.min()) / 2 + tol)


@pytest.mark.parametrize("decode", DECODES.values(), ids=DECODES.keys())
@FAST
@given(data=st.data(), bad=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_non_finite_logits_raise_input_error(decode: Any, data: Any, bad: float) -> None:
    logits, bins = data.draw(finite_logits(np.float32))
    index = tuple(data.draw(st.integers(0, s - 1)) for s in logits.shape)
    logits[index] = bad
    with pytest.raises(InputError, match="NaN or Inf"):
        decode(logits, bins.centres_deg())


# -- crops ----------------------------------------------------------------------------------------
DTYPES = [np.uint8, np.int8, np.uint16, np.float32, np.float64, np.bool_]
arrays = hnp.arrays(st.sampled_from(DTYPES), hnp.array_shapes(min_dims=0, max_dims=4,
                                                              min_side=0, max_side=40))
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.integers(-10**400, 10**400), st.integers(-200, 200))
boxes = st.one_of(st.tuples(numbers, numbers, numbers, numbers),
                  st.lists(numbers, max_size=6),
                  st.sampled_from([None, "0,0,10,10", {"x0": 1}, 3.5, b"\x00" * 4]))
crop_rules = st.builds(CropRule, left_frac=st.floats(0, 4), top_frac=st.floats(0, 4),
                       right_frac=st.floats(0, 4), bottom_frac=st.floats(0, 4),
                       square=st.booleans())
SMALL = EstimatorConfig(max_frame_pixels=1_000_000)


def _crop_or_named_error(call: Any, size_px: int) -> None:
    try:
        crop = call()
    except GldposeError:
        return
    assert isinstance(crop, np.ndarray) and crop.dtype == np.uint8
    assert crop.shape[-3:] == (size_px, size_px, 3)


@FAST
@given(image=arrays, box=boxes, rule=crop_rules, size_px=st.integers(16, 96))
def test_any_frame_and_box_give_a_crop_or_a_named_error(image: np.ndarray, box: Any,
                                                        rule: CropRule, size_px: int) -> None:
    _crop_or_named_error(lambda: crop_bgr(image, box, rule, size_px), size_px)

    def estimator_path() -> np.ndarray:  # what PoseEstimator.estimate(frame, boxes=[box]) runs
        frame = check_image(image)
        check_frame_size(frame, SMALL)
        checked = check_box_in_frame(box, frame.shape, SMALL)
        manifest = Manifest(backbone="x", input=InputSpec(size_px=size_px), crop=rule)
        return cut_faces(frame, [(checked, 1.0)], manifest, SMALL).crops_bgr
    _crop_or_named_error(estimator_path, size_px)


@FAST
@given(items=st.lists(st.one_of(arrays, st.none(), st.integers()), max_size=3),
       size_px=st.integers(16, 64))
def test_any_ready_crops_give_crops_or_a_named_error(items: list, size_px: int) -> None:
    manifest = Manifest(backbone="x", input=InputSpec(size_px=size_px))
    _crop_or_named_error(lambda: whole_crops(items, manifest, SMALL).crops_bgr, size_px)
