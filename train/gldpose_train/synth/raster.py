"""A z-buffered triangle rasteriser in numpy: vectorised over triangles, no loop over pixels.

Triangles are grouped by the size of their pixel bounding box (powers of two in x and y). For each
group every candidate pixel of every box is tested at once with edge functions; the surviving
fragments of all groups are resolved against the depth buffer with one sort. Colours are
interpolated (Gouraud) only for the fragments that win. Pixel centres are at integer coordinates
(OpenCV's convention), the same as the projected landmarks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Largest bounding-box side handled in one group; larger triangles are split into quarters first.
_MAX_BOX_PX = 128


@dataclass
class Canvas:
    """Render target: colour, depth and an object-id buffer.

    Attributes:
        color: float32 ``[H, W, 3]`` BGR in 0..1.
        depth: float32 ``[H, W]`` distance from the camera (inf where empty).
        ids: int16 ``[H, W]`` id of the mesh that owns each pixel (-1 where empty).
    """

    color: np.ndarray
    depth: np.ndarray
    ids: np.ndarray

    @classmethod
    def empty(cls, height_px: int, width_px: int, background: np.ndarray | None = None) -> Canvas:
        """A canvas with the given background (float32 BGR 0..1) or black."""
        color = (np.zeros((height_px, width_px, 3), np.float32) if background is None
                 else background.astype(np.float32, copy=True))
        return cls(color, np.full((height_px, width_px), np.inf, np.float32),
                   np.full((height_px, width_px), -1, np.int16))


def _split_large(tri: np.ndarray, col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split triangles whose box exceeds ``_MAX_BOX_PX`` into 4 (midpoint subdivision)."""
    while True:
        span = tri[:, :, :2].max(1) - tri[:, :, :2].min(1)
        big = (span > _MAX_BOX_PX).any(1)
        if not big.any():
            return tri, col
        t, c = tri[big], col[big]
        mt = (t + np.roll(t, -1, axis=1)) / 2  # midpoints of edges 01, 12, 20
        mc = (c + np.roll(c, -1, axis=1)) / 2
        corners = [(0, 3, 5), (3, 1, 4), (5, 4, 2), (3, 4, 5)]  # 0-2: vertices, 3-5: midpoints
        all_t = np.concatenate([t, mt[:, [0, 1, 2]]], 1)
        all_c = np.concatenate([c, mc[:, [0, 1, 2]]], 1)
        parts_t = [all_t[:, list(k)] for k in corners]
        parts_c = [all_c[:, list(k)] for k in corners]
        tri = np.concatenate([tri[~big]] + parts_t)
        col = np.concatenate([col[~big]] + parts_c)


def _fragments(tri: np.ndarray, width: int, height: int, bw: int, bh: int,
               x0: np.ndarray, y0: np.ndarray) -> tuple[np.ndarray, ...]:
    """Candidate pixels of triangles whose boxes fit in ``bw x bh``; returns the inside ones.

    Returns:
        (triangle index, pixel index y*W+x, depth, barycentrics [n, 3]) of covered pixels.
    """
    ax, ay, bx, by, cx, cy = (tri[:, i // 2, i % 2] for i in range(6))
    area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    # Barycentrics are affine in the pixel position: w = base + gx * dx + gy * dy from the box
    # corner (x0, y0), so each candidate costs two multiply-adds per edge.
    g0x, g0y = (by - cy) / area, (cx - bx) / area
    g1x, g1y = (cy - ay) / area, (ax - cx) / area
    b0 = ((bx - x0) * (cy - y0) - (by - y0) * (cx - x0)) / area
    b1 = ((cx - x0) * (ay - y0) - (cy - y0) * (ax - x0)) / area
    oy, ox = np.mgrid[0:bh, 0:bw].astype(np.float32)
    ox, oy = ox.ravel()[None, :], oy.ravel()[None, :]
    # float32 is plenty here: offsets are < 256 px and the bases were computed in float64.
    f32 = np.float32
    w0 = b0.astype(f32)[:, None] + g0x.astype(f32)[:, None] * ox + g0y.astype(f32)[:, None] * oy
    w1 = b1.astype(f32)[:, None] + g1x.astype(f32)[:, None] * ox + g1y.astype(f32)[:, None] * oy
    eps = -1e-5  # shared edges: a pixel exactly on an edge may be drawn twice, never zero times
    inside = (w0 >= eps) & (w1 >= eps) & (w0 + w1 <= 1 - eps)
    if bw > 1 or bh > 1:
        inside &= (x0[:, None] + ox < width) & (y0[:, None] + oy < height)
    ti, k = np.nonzero(inside)
    u, v = w0[ti, k], w1[ti, k]
    w = 1.0 - u - v
    bary = np.stack([u, v, w], 1)
    depth = (u * tri[ti, 0, 2] + v * tri[ti, 1, 2] + w * tri[ti, 2, 2]).astype(np.float32)
    pix = (y0[ti] + oy[0, k].astype(np.int64)) * width + x0[ti] + ox[0, k].astype(np.int64)
    return ti, pix, depth, bary


# Bucket sides (px) of triangle boxes. Powers of two: more wasted candidates than finer steps,
# but fewer numpy calls, which is what costs most here (measured).
_SIDES = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256])


def rasterize(canvas: Canvas, verts_px: np.ndarray, faces: np.ndarray, colors: np.ndarray,
              mesh_id: int = 0, cull_backfaces: bool = True) -> int:
    """Draw a triangle mesh into ``canvas`` with a depth test.

    Args:
        canvas: the render target, updated in place.
        verts_px: float ``[V, 3]``: image x, image y (pixels, centres at integers) and depth
            (positive, larger is farther).
        faces: int ``[F, 3]`` vertex indices, counter-clockwise as seen on screen for front faces
            (with image y pointing down, i.e. negative signed area in x-right/y-down coordinates).
        colors: float ``[V, 3]`` per-vertex BGR colour in 0..1, interpolated across each triangle.
        mesh_id: written into ``canvas.ids`` where this mesh wins the depth test.
        cull_backfaces: drop triangles facing away from the camera.

    Returns:
        Number of pixels this mesh wrote.
    """
    height, width = canvas.depth.shape
    vx, vy, vz = (verts_px[:, i].astype(np.float64) for i in range(3))
    x0, x1, x2 = vx[faces[:, 0]], vx[faces[:, 1]], vx[faces[:, 2]]
    y0, y1, y2 = vy[faces[:, 0]], vy[faces[:, 1]], vy[faces[:, 2]]
    signed = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)
    ok = (signed < -1e-9) if cull_backfaces else (np.abs(signed) > 1e-9)
    lo_x, hi_x = np.minimum(np.minimum(x0, x1), x2), np.maximum(np.maximum(x0, x1), x2)
    lo_y, hi_y = np.minimum(np.minimum(y0, y1), y2), np.maximum(np.maximum(y0, y1), y2)
    ok &= (hi_x >= 0) & (hi_y >= 0) & (lo_x <= width - 1) & (lo_y <= height - 1)
    ok &= np.minimum(np.minimum(vz[faces[:, 0]], vz[faces[:, 1]]), vz[faces[:, 2]]) > 1e-6
    ok &= (np.ceil(lo_x) <= np.floor(hi_x)) & (np.ceil(lo_y) <= np.floor(hi_y))
    sel = np.nonzero(ok)[0]
    if len(sel) == 0:
        return 0
    tri = verts_px[faces[sel]].astype(np.float64)  # [F, 3, 3]
    col = colors[faces[sel]].astype(np.float32)  # [F, 3, 3]
    if (hi_x[sel] - lo_x[sel]).max() > _MAX_BOX_PX or (hi_y[sel] - lo_y[sel]).max() > _MAX_BOX_PX:
        tri, col = _split_large(tri, col)
    tx, ty = tri[:, :, 0], tri[:, :, 1]
    lo_x = np.maximum(np.ceil(np.minimum(np.minimum(tx[:, 0], tx[:, 1]), tx[:, 2])), 0)
    lo_y = np.maximum(np.ceil(np.minimum(np.minimum(ty[:, 0], ty[:, 1]), ty[:, 2])), 0)
    hi_x = np.minimum(np.floor(np.maximum(np.maximum(tx[:, 0], tx[:, 1]), tx[:, 2])), width - 1)
    hi_y = np.minimum(np.floor(np.maximum(np.maximum(ty[:, 0], ty[:, 1]), ty[:, 2])), height - 1)
    lo = np.stack([lo_x, lo_y], 1).astype(np.int64)
    span = np.stack([hi_x - lo_x, hi_y - lo_y], 1).astype(np.int64) + 1
    keep = (span[:, 0] > 0) & (span[:, 1] > 0)
    tri, col, lo, span = tri[keep], col[keep], lo[keep], span[keep]
    if len(tri) == 0:
        return 0
    bucket = np.searchsorted(_SIDES, span)  # smallest listed side >= the box side
    key = bucket[:, 0] * len(_SIDES) + bucket[:, 1]
    parts = []
    for k in np.unique(key):
        sel = np.nonzero(key == k)[0]
        bw, bh = int(_SIDES[k // len(_SIDES)]), int(_SIDES[k % len(_SIDES)])
        ti, pix, depth, bary = _fragments(tri[sel], width, height, bw, bh, lo[sel, 0], lo[sel, 1])
        parts.append((sel[ti], pix, depth, bary))
    tri_idx = np.concatenate([p[0] for p in parts])
    pix = np.concatenate([p[1] for p in parts])
    depth = np.concatenate([p[2] for p in parts])
    bary = np.concatenate([p[3] for p in parts])
    return _resolve(canvas, tri_idx, pix, depth, bary, col, mesh_id)


def _resolve(canvas: Canvas, tri_idx: np.ndarray, pix: np.ndarray, depth: np.ndarray,
             bary: np.ndarray, col: np.ndarray, mesh_id: int) -> int:
    """Keep the nearest fragment per pixel, if nearer than the depth buffer, and shade it."""
    flat_depth = canvas.depth.reshape(-1)
    # Depth test by scatter-min (no sort): a fragment wins where it equals the new minimum and
    # is nearer than what was there. Exact ties (shared edges) both "win"; either colour is right.
    nearest = flat_depth.copy()
    np.minimum.at(nearest, pix, depth)
    win = np.nonzero((depth == nearest[pix]) & (depth < flat_depth[pix]))[0]
    if len(win) == 0:
        return 0
    p, t, b = pix[win], tri_idx[win], bary[win]
    flat_depth[p] = depth[win]
    b = b.astype(np.float32)
    c = col[t]
    canvas.color.reshape(-1, 3)[p] = (b[:, 0, None] * c[:, 0] + b[:, 1, None] * c[:, 1]
                                      + b[:, 2, None] * c[:, 2])
    canvas.ids.reshape(-1)[p] = mesh_id
    return len(p)
