"""Image preprocessing shared by the SDK and training evaluation (OpenCV, numpy).

A face box becomes the network input in three steps, identical in training evaluation and at run
time: expand the box by the manifest's crop rule and cut it out (black outside the image, no
clamping); resize so the shorter side is ``size_px`` and centre-crop a square (Hopenet's test
transform); convert BGR to RGB and normalise with the manifest's mean/std.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from gldpose_sdk.errors import InputError
from gldpose_sdk.manifest import CropRule, InputSpec

Box = tuple[float, float, float, float]


def read_image_bgr(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 BGR ``[H, W, 3]``.

    Raises:
        InputError: the file is missing or OpenCV cannot decode it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image file not found: {path}")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot decode image {path}: not an image OpenCV can read")
    return image


def check_image(image: np.ndarray, what: str = "frame") -> np.ndarray:
    """Check a uint8 colour image ``[H, W, 3]``; return it C-contiguous.

    Raises:
        InputError: not a numpy array, wrong rank/channels/dtype, or empty.
    """
    if not isinstance(image, np.ndarray):
        raise InputError(f"{what} must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"{what} must have shape [H, W, 3] (BGR), got {image.shape}")
    if image.dtype != np.uint8:
        raise InputError(f"{what} must be uint8 (0..255), got {image.dtype}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise InputError(f"{what} is empty: shape {image.shape}")
    return np.ascontiguousarray(image)


def check_box(box: Sequence[float]) -> Box:
    """Return ``box`` as four floats ``(x0, y0, x1, y1)`` with x1 > x0 and y1 > y0."""
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError) as exc:
        raise InputError(f"a face box must be four numbers (x0, y0, x1, y1), got {box!r}") from exc
    if not all(np.isfinite([x0, y0, x1, y1])) or x1 <= x0 or y1 <= y0:
        raise InputError(f"face box {box!r} is not finite with x1 > x0 and y1 > y0")
    return x0, y0, x1, y1


def cut_box(image: np.ndarray, box: Box) -> np.ndarray:
    """Cut ``box`` (pixels, rounded) out of ``image``; parts outside the image are black."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    h, w = image.shape[:2]
    out = np.zeros((y1 - y0, x1 - x0, image.shape[2]), dtype=image.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


def resize_centre_crop(image: np.ndarray, size_px: int) -> np.ndarray:
    """Resize so the shorter side is ``size_px`` (area filter when shrinking), centre-crop."""
    h, w = image.shape[:2]
    scale = size_px / min(h, w)
    new_w, new_h = max(size_px, int(round(w * scale))), max(size_px, int(round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
    top, left = (new_h - size_px) // 2, (new_w - size_px) // 2
    return resized[top:top + size_px, left:left + size_px]


def prepare_crop(image_bgr: np.ndarray, box: Sequence[float], crop: CropRule,
                 size_px: int) -> np.ndarray:
    """Face box in a BGR frame -> RGB uint8 crop ``[size_px, size_px, 3]`` (steps 1-2 above)."""
    image = check_image(image_bgr)
    region = cut_box(image, crop.expand(check_box(box)))
    return cv2.cvtColor(resize_centre_crop(region, size_px), cv2.COLOR_BGR2RGB)


def normalise(crops_rgb: np.ndarray, spec: InputSpec) -> np.ndarray:
    """RGB uint8 ``[N, S, S, 3]`` -> float32 NCHW ``[N, 3, S, S]``, ``(x/255 - mean) / std``."""
    if crops_rgb.ndim != 4 or crops_rgb.shape[1:] != (spec.size_px, spec.size_px, 3):
        raise InputError(f"crops must have shape [N, {spec.size_px}, {spec.size_px}, 3], "
                         f"got {crops_rgb.shape}")
    mean = np.asarray(spec.mean_rgb, dtype=np.float32) * 255.0
    inv_std = 1.0 / (np.asarray(spec.std_rgb, dtype=np.float32) * 255.0)
    out = (crops_rgb.astype(np.float32) - mean) * inv_std
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))
