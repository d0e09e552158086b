"""Frames and boxes (or ready crops) -> the batch of network crops, inside bounded limits.

Everything a caller hands in is checked here against :class:`~gldpose_sdk.config.EstimatorConfig`
before any pixel is touched: frame size, number of faces, box coordinates relative to the frame
(a box must overlap it and may not reach absurdly far beyond it), crop aspect ratio. Cutting goes
through :func:`gldpose_sdk.preprocess.cut_square_into`, whose cost is bounded by the output size,
straight into the batch, with each crop's brightness and contrast taken in the same pass (while
its pixels are in the CPU cache).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from gldpose_sdk.config import EstimatorConfig
from gldpose_sdk.errors import InputError
from gldpose_sdk.manifest import NO_MARGIN, Manifest
from gldpose_sdk.pose import Box
from gldpose_sdk.preprocess import (check_box, check_image, cut_square_into, inside_fraction,
                                    square_region)


class FaceCrops(NamedTuple):
    """A batch ready for the network (a named tuple: made once per call on the batch-1 path,
    where a frozen dataclass's field-by-field ``__init__`` cost 6-9 us right after the network).

    Attributes:
        crops_bgr: uint8 ``[N, S, S, 3]`` BGR crops.
        boxes: the face box of each crop, four Python floats in frame pixels (a crop's own
            extent for bare crops); the poses keep them as they are.
        scores: detector score of each, a Python float (1.0 for boxes given by the caller).
        inside_frac: share of each crop that lay inside its frame, a Python float.
        brightness: mean pixel value of each crop, 0..1, float32 ``[N]``
            (:func:`~gldpose_sdk.preprocess.crop_quality`).
        contrast: pixel standard deviation of each crop, 0..1, float32 ``[N]``.
    """

    crops_bgr: np.ndarray
    boxes: tuple[Box, ...]
    scores: tuple[float, ...]
    inside_frac: tuple[float, ...]
    brightness: np.ndarray
    contrast: np.ndarray


def check_frame_size(image: np.ndarray, config: EstimatorConfig, what: str = "frame") -> None:
    """Refuse frames (or crops) above ``config.max_frame_pixels``."""
    pixels = int(image.shape[0]) * int(image.shape[1])
    if pixels > config.max_frame_pixels:
        raise InputError(f"{what} has {pixels} pixels ({image.shape[1]}x{image.shape[0]}), more "
                         f"than max_frame_pixels={config.max_frame_pixels}; downscale it first")


def _check_count(n: int, config: EstimatorConfig, what: str) -> None:
    if n > config.max_faces_per_call:
        raise InputError(f"{n} {what} in one call, more than max_faces_per_call="
                         f"{config.max_faces_per_call}; split the call")


def check_box_in_frame(box: Sequence[float], shape: tuple[int, ...],
                       config: EstimatorConfig) -> Box:
    """A caller's box, checked: finite, non-empty, overlapping the frame, not absurdly large."""
    x0, y0, x1, y1 = check_box(box)
    h, w = shape[:2]
    reach = config.max_box_frame_ratio * max(h, w)
    if min(x0, y0) < -reach or max(x1, y1) > max(h, w) + reach:
        raise InputError(f"face box {tuple(round(v, 1) for v in (x0, y0, x1, y1))} reaches more "
                         f"than {config.max_box_frame_ratio:g} frame sizes beyond the "
                         f"{w}x{h} frame")
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
        raise InputError(f"face box {tuple(round(v, 1) for v in (x0, y0, x1, y1))} lies entirely "
                         f"outside the {w}x{h} frame")
    return x0, y0, x1, y1


def cut_faces(image: np.ndarray, found: Sequence[tuple[Box, float]], manifest: Manifest,
              config: EstimatorConfig) -> FaceCrops:
    """Crops of checked face boxes in one (already checked) frame."""
    _check_count(len(found), config, "face boxes")
    size, rule, resize = manifest.input.size_px, manifest.crop, manifest.input.resize
    n = len(found)
    crops = np.empty((n, size, size, 3), np.uint8)
    light, spread = np.empty(n, np.float32), np.empty(n, np.float32)
    boxes, scores, inside = [], [], []   # one loop, no generators: the batch-1 path (issue 12)
    for i, (box, score) in enumerate(found):
        region = square_region(image.shape, box, rule)
        light[i], spread[i] = cut_square_into(image, region, size, resize, crops[i])
        boxes.append(box)
        scores.append(float(score))
        inside.append(inside_fraction(image.shape, region))
    return FaceCrops(crops, tuple(boxes), tuple(scores), tuple(inside), light, spread)


def whole_crops(items: Sequence[np.ndarray], manifest: Manifest,
                config: EstimatorConfig) -> FaceCrops:
    """Already-cut face crops of any size -> the network's square crops (no extra margin)."""
    _check_count(len(items), config, "crops")
    size = manifest.input.size_px
    n = len(items)
    crops = np.empty((n, size, size, 3), np.uint8)
    light, spread = np.empty(n, np.float32), np.empty(n, np.float32)
    boxes = []
    for i, item in enumerate(items):
        crop = check_image(item, f"crop {i}")
        check_frame_size(crop, config, f"crop {i}")
        h, w = crop.shape[:2]
        if max(h, w) > config.max_crop_aspect * min(h, w):
            raise InputError(f"crop {i} is {w}x{h}, more elongated than max_crop_aspect="
                             f"{config.max_crop_aspect:g}; a face crop is roughly square")
        box = (0.0, 0.0, float(w), float(h))
        light[i], spread[i] = cut_square_into(crop, square_region(crop.shape, box, NO_MARGIN),
                                              size, manifest.input.resize, crops[i])
        boxes.append(box)
    return FaceCrops(crops, tuple(boxes), (1.0,) * n, (1.0,) * n, light, spread)
