"""Backgrounds, occluders and camera effects (OpenCV drawing on float32 BGR images in 0..1)."""
from __future__ import annotations

import cv2
import numpy as np

from gldpose_train.synth.raster import Canvas


def _smooth_field(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Random smooth colour field ``[H, W, 3]`` from a ``cells x cells`` grid, bicubic."""
    small = rng.uniform(0, 1, (cells, cells, 3)).astype(np.float32)
    return np.clip(cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC), 0, 1)


def _pattern(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A regular texture: stripes, checks or tiles in two colours, at a random angle."""
    yy = np.arange(height, dtype=np.float32)[:, None]
    xx = np.arange(width, dtype=np.float32)[None, :]
    ang = rng.uniform(0, np.pi)
    period = rng.uniform(6, 60) * max(height, width) / 224
    ca, sa = np.float32(np.cos(ang) / period), np.float32(np.sin(ang) / period)
    u = xx * ca + yy * sa
    v = yy * ca - xx * sa
    kind = rng.integers(3)
    if kind == 0:
        t = 0.5 + 0.5 * np.sin(np.float32(2 * np.pi) * u)
    elif kind == 1:
        t = ((np.floor(u) + np.floor(v)) % 2).astype(np.float32)
    else:
        t = ((np.abs(u - np.round(u)) < 0.06) | (np.abs(v - np.round(v)) < 0.06)).astype(np.float32)
    c0, c1 = rng.uniform(0, 1, 3).astype(np.float32), rng.uniform(0, 1, 3).astype(np.float32)
    return c0 + t[..., None].astype(np.float32) * (c1 - c0)


def add_clutter(rng: np.random.Generator, image: np.ndarray, count: int) -> None:
    """Random filled shapes and lines (furniture, frames, objects), drawn in place."""
    height, width = image.shape[:2]
    size = max(height, width)
    for _ in range(count):
        color = tuple(float(c) for c in rng.uniform(0, 1, 3))
        x, y = int(rng.uniform(-0.1, 1.1) * width), int(rng.uniform(-0.1, 1.1) * height)
        extent = int(rng.uniform(0.03, 0.45) * size)
        kind = rng.integers(5)
        if kind == 0:
            corner = (x + extent, y + int(extent * rng.uniform(0.2, 2)))
            cv2.rectangle(image, (x, y), corner, color, -1)
        elif kind == 1:
            cv2.circle(image, (x, y), max(1, extent // 2), color, -1, cv2.LINE_AA)
        elif kind == 2:
            axes = (max(1, extent // 2), max(1, int(extent * rng.uniform(0.1, 0.5))))
            cv2.ellipse(image, (x, y), axes, rng.uniform(0, 180), 0, 360, color, -1, cv2.LINE_AA)
        elif kind == 3:
            pts = (np.array([x, y]) + rng.uniform(-extent, extent, (int(rng.integers(3, 7)), 2)))
            cv2.fillPoly(image, [pts.astype(np.int32)], color, cv2.LINE_AA)
        else:
            dx, dy = rng.uniform(-2, 2, 2) * extent
            thick = int(rng.integers(1, max(2, size // 40)))
            cv2.line(image, (x, y), (x + int(dx), y + int(dy)), color, thick, cv2.LINE_AA)


def make_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Random background ``[H, W, 3]`` float32 BGR 0..1: smooth field or pattern, clutter, blur."""
    kind = rng.random()
    if kind < 0.45:
        img = _smooth_field(rng, height, width, int(rng.integers(2, 7)))
    elif kind < 0.7:
        img = _pattern(rng, height, width)
    else:
        img = np.empty((height, width, 3), np.float32)
        img[:] = rng.uniform(0, 1, 3)
    add_clutter(rng, img, int(rng.integers(0, 25)))
    img = img * (0.5 + _smooth_field(rng, height, width, 3).mean(2, keepdims=True))
    grey = img.mean(2, keepdims=True)
    img = grey + rng.uniform(0.15, 0.9) * (img - grey)  # real scenes are rarely that colourful
    if rng.random() < 0.6:  # out of focus
        sigma = rng.uniform(0.5, 4.0) * max(height, width) / 224
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    noise = rng.standard_normal((height // 4 + 1, width // 4 + 1, 1)).astype(np.float32)
    img = img + 0.03 * cv2.resize(noise, (width, height))[..., None]
    return np.clip(img, 0, 1).astype(np.float32)


def add_occluder(rng: np.random.Generator, canvas: Canvas, box: tuple[float, float, float, float],
                 mesh_id: int = -2) -> None:
    """Draw one object partly over a face box; it is nearest to the camera (depth 0)."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    mask = np.zeros(canvas.depth.shape, np.uint8)
    # Centre on the box border so roughly a fifth to a third of the face is covered.
    side = rng.integers(4)
    cx = x0 + w * (rng.uniform(0, 1) if side < 2 else (side - 2) + rng.uniform(-0.15, 0.15))
    cy = y0 + h * ((side % 2) + rng.uniform(-0.15, 0.15) if side < 2 else rng.uniform(0, 1))
    ax = (max(2, int(w * rng.uniform(0.2, 0.5))), max(2, int(h * rng.uniform(0.15, 0.4))))
    if rng.random() < 0.5:
        cv2.ellipse(mask, (int(cx), int(cy)), ax, rng.uniform(0, 180), 0, 360, 255, -1)
    else:
        pts = np.array([cx, cy]) + rng.uniform(-1, 1, (int(rng.integers(3, 6)), 2)) * np.array(ax)
        cv2.fillPoly(mask, [pts.astype(np.int32)], 255)
    sel = mask > 0
    if not sel.any():
        return
    height, width = mask.shape
    kind = rng.random()
    if kind < 0.4:
        texture = np.empty((height, width, 3), np.float32)
        texture[:] = rng.uniform(0, 1, 3)
    else:
        texture = (_smooth_field(rng, height, width, 4) if kind < 0.7
                   else _pattern(rng, height, width))
    # Shade it like a rounded object (darker toward its outline) so it reads as being in front.
    dist = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    bulge = np.sqrt(dist / max(float(dist.max()), 1.0))[..., None]
    light = _smooth_field(rng, height, width, 2).mean(2, keepdims=True)
    shading = (0.35 + 0.65 * bulge) * (0.7 + 0.3 * light)
    canvas.color[sel] = (texture * shading)[sel]
    canvas.depth[sel] = 0.0
    canvas.ids[sel] = mesh_id


def camera_effects(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Exposure, colour cast, blur, motion blur, sensor noise and gamma; returns uint8 BGR."""
    gain = (rng.uniform(0.75, 1.25) * rng.uniform(0.92, 1.08, 3)).astype(np.float32)
    img = image * gain[None, None]
    size = max(img.shape[:2]) / 224
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.3) * size)
    if rng.random() < 0.1:
        length = int(rng.integers(3, 9) * size) | 1
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2] = 1.0 / length
        rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1)
        kernel = cv2.warpAffine(kernel, rot, (length, length))
        img = cv2.filter2D(img, -1, kernel / max(float(kernel.sum()), 1e-6))
    if rng.random() < 0.7:
        img = img + rng.standard_normal(img.shape, dtype=np.float32) * rng.uniform(0.003, 0.03)
    out = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    gamma = rng.uniform(0.8, 1.25)
    lut = np.clip((np.arange(256) / 255.0) ** gamma * 255 + 0.5, 0, 255).astype(np.uint8)
    return cv2.LUT(out, lut)
