"""A parametric 3D head: skull, jaw, face relief, and the 68 landmarks on its surface.

Head frame (the one of ``gldpose_sdk.rotation``): x to the image right of a frontal face, y up,
z out of the face; units are centimetres; the origin is the middle of the head at eye level,
which is also the pivot of the rotation. The skin is a single surface parametrised by azimuth
``theta`` (0 = front, +pi/2 = +x side) and height ``y``: each horizontal section is a
superellipse with half-width ``a(y)``, front depth ``cf(y)`` and back depth ``cb(y)``; the face
relief (brows, eye sockets, nose, lips, chin, cheekbones) is a sum of smooth bumps ``D(x, y)``
added along +z on the front. Because the relief only moves points along z, a landmark given by
its frontal ``(x, y)`` lies on the surface at ``z = front_z(x, y)``, exactly as the mesh samples it.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np

# iBUG 68-point template of an average face, frontal (x, y) in cm; eye centres at (+-3.2, 0).
# Jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67; point 0 is on the image left.
_HALF_JAW = [(-6.95, -0.3), (-6.85, -2.1), (-6.6, -3.9), (-6.25, -5.6), (-5.75, -7.2),
             (-5.0, -8.6), (-3.95, -9.8), (-2.3, -10.7)]
_BROW = [(-5.6, 1.35), (-4.8, 2.0), (-3.8, 2.3), (-2.7, 2.2), (-1.55, 1.9)]
_EYE = [(-4.55, 0.0), (-3.75, 0.42), (-2.65, 0.42), (-1.85, 0.0), (-2.65, -0.3), (-3.75, -0.3)]


def _mirror(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(-x, y) for x, y in points]


def _template() -> np.ndarray:
    jaw = _HALF_JAW + [(0.0, -11.2)] + _mirror(_HALF_JAW)[::-1]
    brows = _BROW + _mirror(_BROW)[::-1]
    nose = [(0.0, 0.6), (0.0, -0.9), (0.0, -2.4), (0.0, -3.9),
            (-1.5, -4.7), (-0.8, -5.0), (0.0, -5.2), (0.8, -5.0), (1.5, -4.7)]
    right_eye = _EYE
    left_eye = [(-x, y) for x, y in [_EYE[3], _EYE[2], _EYE[1], _EYE[0], _EYE[5], _EYE[4]]]
    mouth = [(-2.6, -7.4), (-1.7, -6.95), (-0.7, -6.65), (0.0, -6.75), (0.7, -6.65), (1.7, -6.95),
             (2.6, -7.4), (1.8, -7.95), (0.9, -8.3), (0.0, -8.38), (-0.9, -8.3), (-1.8, -7.95),
             (-2.3, -7.4), (-0.8, -7.3), (0.0, -7.32), (0.8, -7.3), (2.3, -7.4), (0.8, -7.45),
             (0.0, -7.47), (-0.8, -7.45)]
    return np.array(jaw + brows + nose + right_eye + left_eye + mouth, np.float64)


TEMPLATE_XY = _template()

# Index permutation that maps the 68 landmarks of a face to those of its mirror image.
FLIP_68 = np.array(list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30]
                   + [35, 34, 33, 32, 31] + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
                   + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
                   + [64, 63, 62, 61, 60, 67, 66, 65])


@dataclass(frozen=True)
class HeadShape:
    """Random shape parameters of one head (cm, or factors around 1)."""

    width: float = 1.0        # x scale of the whole head
    height: float = 1.0       # y scale
    depth: float = 1.0        # z scale
    jaw: float = 1.0          # width of the lower face
    chin: float = 0.0         # chin prominence (cm, added to the chin bump)
    nose_len: float = 3.9     # eye line to nose tip
    nose_out: float = 2.6     # protrusion of the tip
    nose_w: float = 1.5       # half width of the alae
    eye_open: float = 1.0     # eye opening factor
    brow: float = 0.5         # brow ridge height
    lips: float = 1.0         # lip fullness
    cheek: float = 0.5        # cheekbone height
    forehead: float = 0.0     # forehead slope (cm pushed back at the top)

    @classmethod
    def random(cls, rng: np.random.Generator) -> HeadShape:
        """Draw a plausible adult head."""
        n = rng.standard_normal(len(fields(cls)))
        return cls(width=1 + 0.05 * n[0], height=1 + 0.04 * n[1], depth=1 + 0.04 * n[2],
                   jaw=1 + 0.07 * n[3], chin=0.25 * n[4], nose_len=3.9 + 0.3 * n[5],
                   nose_out=2.5 + 0.35 * n[6], nose_w=1.5 + 0.15 * n[7],
                   eye_open=float(np.clip(1 + 0.15 * n[8], 0.6, 1.3)), brow=0.5 + 0.15 * n[9],
                   lips=float(np.clip(1 + 0.2 * n[10], 0.5, 1.5)), cheek=0.5 + 0.15 * n[11],
                   forehead=0.6 * n[12])


def _smooth(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _spow(t: np.ndarray, e: float) -> np.ndarray:
    return np.sign(t) * np.abs(t) ** e


Y_TOP, Y_BOTTOM = 12.3, -12.4
_EXP = 0.8  # superellipse exponent of the sections (below 1: boxier than an ellipse)
_A_Y = [-12.4, -12.0, -11.2, -10.2, -9.0, -7.2, -5.0, -3.0, -1.0, 1.0, 3.0]
_A_V = [0.0, 1.6, 2.8, 3.9, 4.8, 5.75, 6.3, 6.7, 7.05, 7.35, 7.55]
_CF_Y = [-12.4, -12.0, -11.6, -11.0, -9.0, -7.0, -5.0, -3.0, -1.0, 1.0, 2.0]
_CF_V = [0.0, 4.3, 6.6, 7.8, 8.2, 8.4, 8.5, 8.5, 8.6, 9.0, 9.1]
_CB_Y = [-12.4, -11.0, -9.0, -6.0, -3.0, 0.0, 3.0]
_CB_V = [0.0, 2.5, 4.6, 7.0, 8.6, 9.7, 10.0]


def _dome(y: np.ndarray, y0: float, v0: float, top: float) -> np.ndarray:
    return v0 * np.sqrt(np.clip(1 - ((y - y0) / (top - y0)) ** 2, 0, 1))


@lru_cache(maxsize=1)
def _profile_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Dense, smoothed section profiles of the average head over y (cm).

    The knots are linear between them; smoothing removes the creases a kink would shade.
    """
    y = np.linspace(Y_BOTTOM, Y_TOP, 1001)
    a = np.where(y < 3.0, np.interp(y, _A_Y, _A_V), _dome(y, 3.0, 7.55, Y_TOP))
    cf = np.where(y < 2.0, np.interp(y, _CF_Y, _CF_V), _dome(y, 2.0, 9.1, Y_TOP))
    cb = np.where(y < 3.0, np.interp(y, _CB_Y, _CB_V), _dome(y, 3.0, 10.0, Y_TOP))
    step = y[1] - y[0]
    k = np.arange(-60, 61) * step
    kernel = np.exp(-0.5 * (k / 0.6) ** 2)
    kernel /= kernel.sum()
    smooth = [np.convolve(np.pad(v, 60, mode="edge"), kernel, mode="valid") for v in (a, cf, cb)]
    # Keep the poles closed: blend back to the exact profile within 0.6 cm of each end.
    end = _smooth(np.minimum(y - Y_BOTTOM, Y_TOP - y) / 0.6)
    a, cf, cb = (end * sm + (1 - end) * v for sm, v in zip(smooth, (a, cf, cb)))
    return y, a, cf, cb


def sections(y: np.ndarray, s: HeadShape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half-width, front depth and back depth (cm) of the head section at height ``y`` (cm)."""
    yn = y / s.height
    lower = 1 + (s.jaw - 1) * _smooth((1.0 - yn) / 8.0)
    ty, ta, tcf, tcb = _profile_tables()
    a, cf, cb = np.interp(yn, ty, ta), np.interp(yn, ty, tcf), np.interp(yn, ty, tcb)
    cf = cf * (1 - s.forehead / 9.1 * _smooth((yn - 2.0) / 8.0))  # vanishes at the crown
    return a * s.width * lower, cf * s.depth, cb * s.depth


def _gauss(x: np.ndarray, y: np.ndarray, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def relief(x: np.ndarray, y: np.ndarray, s: HeadShape) -> np.ndarray:
    """Face relief ``D(x, y)`` in cm along +z, for frontal coordinates in the head frame."""
    xs, ys = x / s.width, y / s.height
    ax = np.abs(xs)
    tip = -s.nose_len
    brow_y = 1.45 - 0.04 * ax ** 2
    d = s.brow * np.exp(-0.5 * ((ys - brow_y) / 0.6) ** 2) * _smooth((6.2 - ax) / 1.5)
    eo = s.eye_open
    r2 = ((ax - 3.2) / 1.65) ** 2 + (ys / (0.62 * eo)) ** 2
    d -= 1.1 * np.exp(-0.5 * r2 ** 2)  # flat-bottomed eye sockets: the eyeballs show through
    d -= 0.4 * _gauss(ax, ys, 3.0, 0.5, 1.9, 0.9)  # the orbit under the brow
    # Nose: a ridge rising from the bridge to the tip, then the tip, alae and columella.
    t = np.clip((0.8 - ys) / (0.8 - tip), 0, 1)
    h = np.where(ys > tip, 0.45 + (s.nose_out - 0.45) * t ** 1.4,
                 s.nose_out * np.exp(-0.5 * ((ys - tip) / 0.55) ** 2))
    h = np.where(ys > 0.8, 0.45 * np.exp(-0.5 * ((ys - 0.8) / 0.9) ** 2), h)
    d += h * np.exp(-0.5 * (xs / (0.5 + 0.4 * t)) ** 2)
    d += 0.9 * _gauss(ax, ys, s.nose_w - 0.45, tip - 0.75, 0.45, 0.5)
    d += 0.35 * _gauss(xs, ys, 0.0, tip - 0.2, 0.7, 0.6)
    # Mouth: muzzle, lips and the line between them.
    d += 0.7 * _gauss(xs, ys, 0.0, -7.0, 2.6, 2.0)
    d += 0.45 * s.lips * _gauss(xs, ys, 0.0, -6.95, 1.9, 0.35)
    d += 0.55 * s.lips * _gauss(xs, ys, 0.0, -7.85, 1.5, 0.38)
    d -= 0.25 * _gauss(xs, ys, 0.0, -7.4, 2.4, 0.2)
    d -= 0.25 * _gauss(xs, ys, 0.0, -9.0, 1.6, 0.4)  # below the lower lip
    d += (0.45 + s.chin) * _gauss(xs, ys, 0.0, -10.1, 1.5, 0.9)
    d += s.cheek * _gauss(ax, ys, 4.3, -2.4, 1.3, 1.2)
    d -= 0.3 * _gauss(ax, ys, 6.3, 2.3, 0.9, 1.5)  # temples
    return d


def frontness(theta: np.ndarray) -> np.ndarray:
    """Weight of the face relief at azimuth ``theta`` (1 on the face, 0 behind the ears)."""
    return _smooth((np.cos(theta) - 0.05) / 0.45)


def surface(theta: np.ndarray, y: np.ndarray, s: HeadShape) -> np.ndarray:
    """Skin points ``[..., 3]`` (cm) at azimuth ``theta`` (rad) and height ``y`` (cm)."""
    a, cf, cb = sections(y, s)
    st, ct = np.sin(theta), np.cos(theta)
    x = a * _spow(st, _EXP)
    z = np.where(ct >= 0, cf, cb) * _spow(ct, _EXP)
    # The relief fades out under the chin, where the sections shrink to a point.
    weight = frontness(theta) * _smooth((y - Y_BOTTOM - 0.1) / 0.8)
    face = weight > 0  # the relief is only evaluated where it counts (about half the points)
    z[face] += weight[face] * relief(x[face], y[face], s)
    return np.stack([x, y, z], -1)


def front_point(x: np.ndarray, y: np.ndarray, s: HeadShape) -> np.ndarray:
    """The skin point ``[..., 3]`` in front at frontal coordinates ``(x, y)`` (cm)."""
    a, _, _ = sections(y, s)
    st = _spow(np.clip(x / a, -1, 1), 1 / _EXP)
    return surface(np.arcsin(np.clip(st, -1, 1)), y, s)


def landmarks_3d(s: HeadShape) -> np.ndarray:
    """The 68 landmarks ``[68, 3]`` (cm, head frame) of a head of shape ``s``."""
    tx, ty = TEMPLATE_XY[:, 0].copy(), TEMPLATE_XY[:, 1].copy()
    ty[28:31] = 0.6 + (ty[28:31] - 0.6) * (s.nose_len + 0.6) / 4.5
    ty[31:36] += 3.9 - s.nose_len
    tx[31:36] *= s.nose_w / 1.5
    eyes = slice(36, 48)
    ty[eyes] *= s.eye_open
    jaw = slice(0, 17)
    lower = 1 + (s.jaw - 1) * _smooth((1.0 - ty[jaw]) / 8.0)
    tx[jaw] *= lower
    return front_point(tx * s.width, ty * s.height, s)


def grid_mesh(n_theta: int, n_y: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parameter grid of the skin and its triangles.

    Azimuth samples are denser on the face; height samples denser between chin and brows.

    Returns:
        theta ``[n_y, n_theta]`` (rad), y ``[n_y, n_theta]`` (cm), faces int ``[F, 3]`` with
        outward normals by the right-hand rule (counter-clockwise seen from outside).
    """
    u = np.linspace(-1, 1, n_theta, endpoint=False)
    theta = np.pi * u - 0.35 * np.sin(np.pi * u)
    v = np.linspace(0, 1, n_y)
    # Height: a warp that spends more rows on the face than on the crown.
    w = v + 0.12 * np.sin(2 * np.pi * v)
    y = Y_BOTTOM + (Y_TOP - Y_BOTTOM) * w
    yy, tt = np.meshgrid(y, theta, indexing="ij")
    idx = np.arange(n_y * n_theta).reshape(n_y, n_theta)
    i00, i01 = idx[:-1], np.roll(idx, -1, axis=1)[:-1]
    i10, i11 = idx[1:], np.roll(idx, -1, axis=1)[1:]
    # Row r+1 is above row r and theta grows toward +x on the face, so seen from outside
    # (i00, i01, i11) and (i00, i11, i10) run counter-clockwise.
    faces = np.concatenate([np.stack([i00, i11, i10], -1).reshape(-1, 3),
                            np.stack([i00, i01, i11], -1).reshape(-1, 3)])
    return tt, yy, faces
