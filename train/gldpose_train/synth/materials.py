"""Appearance of a head: skin tone and texture, hair, brows, lips, eyes, beard, clothes.

Colours are BGR floats in 0..1 (OpenCV order). Albedo is computed per vertex from the frontal
coordinates of the skin points, so features stay put however the head is posed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gldpose_train.synth.geometry import HeadShape

# RGB skin tones from very light to very dark; a head mixes two neighbours.
_SKIN_RGB = np.array([[245, 208, 182], [232, 180, 148], [208, 150, 112], [176, 120, 84],
                      [134, 90, 62], [96, 62, 44], [70, 46, 34]], np.float64) / 255
_HAIR_RGB = np.array([[20, 16, 14], [52, 36, 26], [96, 66, 42], [160, 120, 70], [205, 170, 115],
                      [130, 60, 30], [150, 148, 145], [215, 212, 205]], np.float64) / 255
_HAIR_P = np.array([0.3, 0.22, 0.15, 0.09, 0.06, 0.05, 0.08, 0.05])
_IRIS_RGB = np.array([[70, 42, 24], [110, 72, 40], [60, 90, 120], [80, 110, 70], [40, 28, 20]],
                     np.float64) / 255


@dataclass(frozen=True)
class Appearance:
    """Colours and styles of one head (BGR 0..1 colours)."""

    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    iris: tuple[float, float, float]
    cloth: tuple[float, float, float]
    hairline_cm: float        # height of the front hairline above the eye line
    hair_cm: float            # thickness of the hair volume (0: bald)
    nape_cm: float            # height of the hairline at the back (long hair: low)
    beard: float              # beard opacity 0..1
    blush: float              # cheek redness 0..1
    has_glasses: bool
    noise_seed: int           # seed of the skin blotch pattern

    @classmethod
    def random(cls, rng: np.random.Generator) -> Appearance:
        """Draw a random appearance."""
        t = rng.uniform(0, len(_SKIN_RGB) - 1)
        i = int(t)
        skin = _SKIN_RGB[i] + (t - i) * (_SKIN_RGB[min(i + 1, len(_SKIN_RGB) - 1)] - _SKIN_RGB[i])
        skin = np.clip(skin * rng.uniform(0.92, 1.06, 3), 0, 1)
        hair = _HAIR_RGB[rng.choice(len(_HAIR_RGB), p=_HAIR_P)] * rng.uniform(0.85, 1.15)
        bald = rng.random() < 0.08
        return cls(skin=tuple(skin[::-1]), hair=tuple(np.clip(hair, 0, 1)[::-1]),
                   iris=tuple(_IRIS_RGB[rng.integers(len(_IRIS_RGB))][::-1]),
                   cloth=tuple(rng.uniform(0.05, 0.9, 3)),
                   hairline_cm=float(rng.uniform(3.4, 7.5) if rng.random() < 0.25
                                     else rng.uniform(4.6, 7.5)),  # a quarter with a fringe
                   hair_cm=0.0 if bald else float(rng.uniform(0.25, 1.6)),
                   nape_cm=float(rng.uniform(-11.0, -7.0) if rng.random() < 0.3
                                 else rng.uniform(-7.0, -5.0)),  # some long at the back
                   beard=float(rng.uniform(0.4, 0.95)) if rng.random() < 0.2 else 0.0,
                   blush=float(rng.uniform(0.0, 1.0)), has_glasses=bool(rng.random() < 0.15),
                   noise_seed=int(rng.integers(2 ** 31)))


def smoothstep(t: np.ndarray) -> np.ndarray:
    """Smooth 0..1 ramp of ``t`` over [0, 1]."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _gauss(x: np.ndarray, y: np.ndarray, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def _blotches(points: np.ndarray, seed: int, n: int = 6, freq: float = 0.5) -> np.ndarray:
    """Smooth random field in about -1..1 over 3D points (sum of random plane waves)."""
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((n, 3))
    dirs *= (freq * rng.uniform(0.5, 2.0, n) / np.linalg.norm(dirs, axis=1))[:, None]
    phase = rng.uniform(0, 2 * np.pi, n)
    waves = points.astype(np.float32) @ dirs.T.astype(np.float32) + phase.astype(np.float32)
    return np.cos(waves).sum(1) / np.float32(np.sqrt(n / 2))


def hair_mask(theta: np.ndarray, y: np.ndarray, app: Appearance,
              ramp_cm: float = 0.7) -> np.ndarray:
    """Hair coverage 0..1 of skin points at azimuth ``theta`` (rad) and height ``y`` (cm).

    ``ramp_cm``: distance above the hairline over which the coverage rises from 0 to 1.
    """
    if app.hair_cm <= 0:
        return np.zeros_like(y)
    at = np.abs(theta)
    # Hairline height: forehead in front, above the ears at the sides, the nape at the back.
    line = np.interp(at, [0, 0.6, 1.15, 1.45, 1.75, 2.3, np.pi],
                     [app.hairline_cm, app.hairline_cm - 0.6, 3.0, 2.2, 1.2,
                      app.nape_cm + 1.0, app.nape_cm])
    return np.clip((y - line) / ramp_cm, 0, 1)


def _face_features(alb: np.ndarray, x: np.ndarray, y: np.ndarray, front: np.ndarray,
                   s: HeadShape, app: Appearance, lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cheeks, nose, lips, nostrils, lid margins and brows of frontal points; and the lip mask."""
    ax = np.abs(x)
    red = np.array([0.82, 0.86, 1.08])
    cheeks = app.blush * 0.8 * _gauss(ax, y, 3.9, -3.4, 1.4, 1.3) * front
    alb = alb * (1 + (red - 1)[None, :] * cheeks[:, None])
    tip = -s.nose_len
    alb *= 1 + (red - 1)[None, :] * 0.35 * (_gauss(x, y, 0, tip, 0.9, 0.8) * front)[:, None]
    # Lips: redder and darker; the line between them dark.
    half_w = (lm[54, 0] - lm[48, 0]) / 2 / s.width
    mid = lm[62, 1] / s.height
    extent = np.where(y > mid, mid - lm[51, 1] / s.height, lm[57, 1] / s.height - mid)
    lip = (np.clip(1.3 - ax / half_w, 0, 1)
           * np.exp(-0.5 * ((y - mid) / (-extent * 1.05)) ** 4) * front)
    lip_col = np.array([0.62, 0.58, 0.9])
    alb *= 1 + (lip_col - 1)[None, :] * np.clip(lip, 0, 1)[:, None]
    alb *= (1 - 0.55 * _gauss(x, y, 0, lm[62, 1] / s.height, half_w * 0.9, 0.14) * front)[:, None]
    # Nostrils and the eyelid margins (lashes) darker.
    nost = _gauss(ax, y, 0.55 * s.nose_w / 1.5, tip - 0.9, 0.32, 0.16)
    lid = (_gauss(ax, y, 3.2, 0.45 * s.eye_open, 1.35, 0.16)
           + 0.6 * _gauss(ax, y, 3.2, -0.42 * s.eye_open, 1.25, 0.1))
    alb *= (1 - np.clip(0.7 * nost + 0.5 * lid, 0, 0.85) * front)[:, None]
    # Brows: a band along the brow landmarks, thicker at the inner end.
    brow_x = lm[17:22, 0] / s.width
    brow_y = lm[17:22, 1] / s.height
    centre_y = np.interp(-ax, brow_x, brow_y)
    width = np.interp(-ax, brow_x, [0.2, 0.28, 0.3, 0.33, 0.35])
    brow = (np.exp(-0.5 * ((y - centre_y + 0.05) / width) ** 4)
            * np.clip((ax - 1.15) / 0.3, 0, 1) * np.clip((6.0 - ax) / 0.4, 0, 1) * front)
    brow_amt = 0.85 * brow[:, None]
    alb = alb * (1 - brow_amt) + (np.asarray(app.hair) * 0.8)[None, :] * brow_amt
    return alb, lip


def skin_albedo(points: np.ndarray, theta: np.ndarray, s: HeadShape, app: Appearance,
                lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Albedo ``[V, 3]`` and hair coverage ``[V]`` of the skin vertices.

    Args:
        points: ``[V, 3]`` skin points (head frame, cm). theta: ``[V]`` azimuth (rad).
        s: head shape. app: appearance. lm: ``[68, 3]`` landmarks of this head.
    """
    x, y = points[:, 0] / s.width, points[:, 1] / s.height
    front = np.clip(np.cos(theta) * 2.0, 0, 1)
    tone = (1 + 0.05 * _blotches(points, app.noise_seed)
            + 0.02 * _blotches(points, app.noise_seed + 1, 10, 3.0))
    alb = np.asarray(app.skin)[None, :] * tone[:, None]
    face = front > 0  # facial features are only evaluated on the front half
    alb[face], lip = _face_features(alb[face], x[face], y[face], front[face], s, app, lm)
    hair = np.asarray(app.hair)
    # Beard over the jaw, chin and upper lip, leaving the lips.
    if app.beard > 0:
        beard = (np.clip((-s.nose_len - 1.0 - y) / 0.8, 0, 1)
                 * np.clip(np.cos(theta) * 3 + 1.2, 0, 1)
                 * np.clip((y + 12.0) / 0.8, 0, 1))
        beard[face] *= 1 - np.clip(lip * 1.5, 0, 1)
        amt = app.beard * beard[:, None]
        alb = alb * (1 - amt) + hair[None, :] * amt
    cover = hair_mask(theta, y, app)
    strands = 1 + 0.12 * _blotches(points * np.array([4.0, 0.6, 4.0]), app.noise_seed + 2, 8, 2.0)
    alb = alb * (1 - cover[:, None]) + (hair[None, :] * strands[:, None]) * cover[:, None]
    return np.clip(alb, 0, 1), cover


def eye_albedo(polar_deg: np.ndarray, app: Appearance) -> np.ndarray:
    """Albedo ``[V, 3]`` of eyeball vertices from their polar angle off the gaze axis (deg)."""
    sclera = np.array([0.86, 0.88, 0.93])
    iris = np.asarray(app.iris)
    iris_col = iris[None, :] * (0.75 + 0.5 * (polar_deg / 30))[:, None]
    col = np.where((polar_deg < 30)[:, None], iris_col, sclera[None, :])
    col[polar_deg < 11] = [0.04, 0.04, 0.04]
    col[(polar_deg >= 30) & (polar_deg < 34)] *= 0.8
    return col


def ear_albedo(bowl: np.ndarray, app: Appearance) -> np.ndarray:
    """Albedo ``[V, 3]`` of an ear; the concha a little darker and redder."""
    skin = np.asarray(app.skin)
    return skin[None, :] * (1 - bowl[:, None] * np.array([0.3, 0.32, 0.18])[None, :])
