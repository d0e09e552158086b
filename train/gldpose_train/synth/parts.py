"""Meshes besides the skin: eyeballs, ears, neck and shoulders, and the glasses curve.

Every mesh is ``(vertices [V, 3] cm, faces [F, 3])`` with outward normals by the right-hand rule.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from gldpose_train.synth.geometry import HeadShape, front_point, sections

# Polar angles (deg) of the eyeball rings, dense where the pupil and iris edges are.
EYE_RINGS_DEG = np.array([0, 5, 9, 12, 15, 19, 23, 27, 30, 33, 40, 55, 75, 100, 130, 160, 180.0])


@lru_cache(maxsize=8)
def sphere(polar_deg: tuple[float, ...], n_lon: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit sphere with its poles on +z (first ring) and -z (last ring).

    Returns:
        vertices float ``[V, 3]`` and faces int ``[F, 3]`` (outward, counter-clockwise).
    """
    polar = np.radians(np.asarray(polar_deg))
    inner = polar[1:-1]
    lon = np.linspace(0, 2 * np.pi, n_lon, endpoint=False)
    pp, ll = np.meshgrid(inner, lon, indexing="ij")
    ring = np.stack([np.sin(pp) * np.cos(ll), np.sin(pp) * np.sin(ll), np.cos(pp)], -1)
    verts = np.concatenate([[[0, 0, 1.0]], ring.reshape(-1, 3), [[0, 0, -1.0]]])
    n_ring = len(inner)
    idx = 1 + np.arange(n_ring * n_lon).reshape(n_ring, n_lon)
    nxt = np.roll(idx, -1, axis=1)
    top = np.stack([np.zeros(n_lon, int), idx[0], nxt[0]], 1)
    bottom = np.stack([np.full(n_lon, len(verts) - 1), nxt[-1], idx[-1]], 1)
    band = np.concatenate([np.stack([idx[:-1], idx[1:], nxt[1:]], -1).reshape(-1, 3),
                           np.stack([idx[:-1], nxt[1:], nxt[:-1]], -1).reshape(-1, 3)])
    return verts, np.concatenate([top, band, bottom])


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals ``[V, 3]``."""
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    fn = np.cross(b - a, c - a)
    n = np.zeros_like(verts)
    for k in range(3):
        for axis in range(3):
            n[:, axis] += np.bincount(faces[:, k], fn[:, axis], minlength=len(verts))
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def eye_centres(s: HeadShape) -> np.ndarray:
    """Centres ``[2, 3]`` of the right (image-left) and left eyeballs, head frame, cm."""
    floor = front_point(np.array([-3.2, 3.2]) * s.width, np.zeros(2), s)
    centres = floor.copy()
    centres[:, 1] = 0.0
    centres[:, 2] = floor[:, 2] + 0.75 - 1.1
    return centres


EYE_RADII = (1.55, 1.1, 1.1)  # cm, x scaled by the head width


def on_eyeballs(points: np.ndarray, s: HeadShape) -> np.ndarray:
    """Move eye-contour points ``[N, 3]`` forward onto the eyeball where it bulges past the skin.

    The landmarks of the eyelid margins then lie on the visible surface, as annotators place them.
    """
    out = points.copy()
    rx, ry, rz = EYE_RADII[0] * s.width, EYE_RADII[1], EYE_RADII[2]
    for centre in eye_centres(s):
        u = ((points[:, 0] - centre[0]) / rx) ** 2 + ((points[:, 1] - centre[1]) / ry) ** 2
        z = centre[2] + rz * np.sqrt(np.clip(1 - u, 0, 1))
        out[:, 2] = np.where(u < 1, np.maximum(out[:, 2], z), out[:, 2])
    return out


def eyeball(centre: np.ndarray, s: HeadShape,
            gaze: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One eyeball: vertices, faces and each vertex's polar angle from the gaze axis (deg).

    Args:
        centre: ``[3]`` cm. s: head shape. gaze: ``[2]`` yaw and pitch of the gaze (rad).
    """
    verts, faces = sphere(tuple(EYE_RINGS_DEG), 20)
    polar = np.degrees(np.arccos(np.clip(verts[:, 2], -1, 1)))
    cy, sy, cp, sp = np.cos(gaze[0]), np.sin(gaze[0]), np.cos(gaze[1]), np.sin(gaze[1])
    rot = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]]) @ np.array(
        [[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    radii = np.array(EYE_RADII) * np.array([s.width, 1.0, 1.0])
    return (verts @ rot.T) * radii + centre, faces, polar


def ear(s: HeadShape, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One ear (side -1: image-left, +1: image-right): vertices, faces, and a bowl weight 0..1."""
    verts, faces = sphere(tuple(np.linspace(0, 180, 11)), 16)
    # Pole axis along x (lateral): rotate z -> x.
    v = verts[:, [2, 1, 0]] * np.array([0.8, 3.0, 1.75]) * np.array([1, s.height, 1])
    bowl = np.exp(-0.5 * ((v[:, 1] / 1.6) ** 2 + ((v[:, 2] + 0.2) / 0.9) ** 2)) * (verts[:, 2] > 0)
    v[:, 0] -= 0.45 * bowl  # the concha
    faces = faces[:, [0, 2, 1]]  # the axis swap mirrored the winding
    flare, tilt = np.radians(28.0), np.radians(-12.0)
    rot_y = np.array([[np.cos(flare), 0, np.sin(flare)], [0, 1, 0],
                      [-np.sin(flare), 0, np.cos(flare)]])
    rot_x = np.array([[1, 0, 0], [0, np.cos(tilt), -np.sin(tilt)], [0, np.sin(tilt), np.cos(tilt)]])
    v = v @ (rot_x @ rot_y).T
    y_ear = -1.9 * s.height
    a, _, _ = sections(np.array([y_ear]), s)
    v += np.array([a[0] - 0.1, y_ear, -0.9 * s.depth])
    if side < 0:
        v[:, 0] *= -1
        faces = faces[:, [0, 2, 1]]
    return v, faces, bowl


def tube(radius_x: float, radius_z: float, y_top: float, y_bottom: float,
         n_around: int = 24, n_rows: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Open elliptic cylinder along y (the neck), outward faces."""
    ang = np.linspace(0, 2 * np.pi, n_around, endpoint=False)
    ys = np.linspace(y_bottom, y_top, n_rows)
    yy, aa = np.meshgrid(ys, ang, indexing="ij")
    verts = np.stack([radius_x * np.sin(aa), yy, radius_z * np.cos(aa)], -1).reshape(-1, 3)
    idx = np.arange(n_rows * n_around).reshape(n_rows, n_around)
    nxt = np.roll(idx, -1, axis=1)
    faces = np.concatenate([np.stack([idx[:-1], nxt[:-1], nxt[1:]], -1).reshape(-1, 3),
                            np.stack([idx[:-1], nxt[1:], idx[1:]], -1).reshape(-1, 3)])
    return verts, faces


def glasses_curve(s: HeadShape, n_rim: int = 40) -> list[np.ndarray]:
    """Polylines ``[n, 3]`` (cm) of a pair of glasses: two rims, the bridge and two temples."""
    phi = np.linspace(0, 2 * np.pi, n_rim)
    c, sn = np.cos(phi), np.sin(phi)
    rim_x = 1.85 * np.sign(c) * np.abs(c) ** 0.6
    rim_y = -0.15 + 1.3 * np.sign(sn) * np.abs(sn) ** 0.7
    probe_x = np.concatenate([rim_x - 3.2, rim_x + 3.2]) * s.width
    probe_y = np.concatenate([rim_y, rim_y]) * s.height
    z_rim = front_point(probe_x, probe_y, s)[:, 2].max() + 0.35
    lines = []
    for side in (-1, 1):
        rim = np.stack([(rim_x + side * 3.2) * s.width, rim_y * s.height,
                        np.full(n_rim, z_rim) - 0.25 * (rim_x * side) ** 2 / 3.4], 1)
        lines.append(rim)
        a, _, _ = sections(np.array([0.6]), s)
        outer = np.array([side * 5.05 * s.width, 0.6, z_rim - 0.8])
        temple = np.linspace(outer, [side * (a[0] + 0.15), 0.6, -0.6], 12)
        lines.append(temple)
    nose = front_point(np.zeros(1), np.array([0.2]), s)[0, 2]
    bridge_x = np.linspace(-1.35, 1.35, 9) * s.width
    lines.append(np.stack([bridge_x, np.full(9, 0.35 * s.height),
                           np.maximum(nose + 0.2, z_rim - 0.2 * (bridge_x / 1.35) ** 2)], 1))
    return lines
