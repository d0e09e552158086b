"""The head-rotation convention of the whole project (DESIGN 1), in one function.

The angles are those of 300W-LP and AFLW2000-3D (``Pose_Para = [pitch, yaw, roll, ...]``), i.e.
3DDFA's. Written out (and checked against the real AFLW2000 ``pt3d_68`` landmarks, see
``tests/train/synth/test_convention.py``):

* Head frame: x points to the image right of a frontal face (the subject's left), y up, z out of
  the face toward the camera; right-handed. The camera looks along -z; image rows grow downward,
  so a point ``(X, Y)`` of the rotated head appears at ``u = cx + s*X``, ``v = cy - s*Y``.
* ``R = Rx(-pitch) @ Ry(-yaw) @ Rz(-roll)`` with the usual right-handed matrices
  ``Rx(a) = [[1, 0, 0], [0, cos a, -sin a], [0, sin a, cos a]]`` and so on; this equals face3d's
  ``angle2matrix_3ddfa([pitch, yaw, roll])`` (radians there, degrees here). It maps head-frame
  coordinates to camera-frame coordinates: ``p_cam = R @ p_head``. The roll is applied first
  (about the face axis), then the yaw, then the pitch (about the camera's x axis).
* Signs, as seen in the image: positive yaw turns the face toward the image left (the subject
  turns to their right); positive pitch tilts the face up; positive roll turns the head clockwise
  (its top moves toward the image right). A horizontal image flip maps (yaw, pitch, roll) to
  (-yaw, pitch, -roll).
"""
from __future__ import annotations

import numpy as np


def _rx(a_rad: float) -> np.ndarray:
    c, s = np.cos(a_rad), np.sin(a_rad)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ry(a_rad: float) -> np.ndarray:
    c, s = np.cos(a_rad), np.sin(a_rad)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rz(a_rad: float) -> np.ndarray:
    c, s = np.cos(a_rad), np.sin(a_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_matrix(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Head-to-camera rotation for angles in the 300W-LP convention (see the module docstring).

    Args:
        yaw_deg, pitch_deg, roll_deg: the angles in degrees (order yaw, pitch, roll as everywhere
            in gldpose; note that ``Pose_Para`` stores them as pitch, yaw, roll in radians).

    Returns:
        float64 ``[3, 3]`` rotation ``Rx(-pitch) @ Ry(-yaw) @ Rz(-roll)``; head frame x right,
        y up, z toward the camera.
    """
    yaw, pitch, roll = np.radians([yaw_deg, pitch_deg, roll_deg])
    return _rx(-pitch) @ _ry(-yaw) @ _rz(-roll)


def angles_from_matrix(rotation: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`rotation_matrix`: ``(yaw_deg, pitch_deg, roll_deg)``.

    Args:
        rotation: ``[3, 3]`` rotation matrix in the same convention.

    Returns:
        The angles in degrees, yaw in [-90, 90], pitch and roll in (-180, 180].
    """
    r = np.asarray(rotation, dtype=np.float64)
    # R = Rx(-p) Ry(-y) Rz(-r): R[0,2] = -sin(y), R[0,0] = cos(y)cos(r), R[0,1] = cos(y)sin(r),
    # R[1,2] = sin(p)cos(y), R[2,2] = cos(p)cos(y).
    yaw = np.arcsin(np.clip(-r[0, 2], -1.0, 1.0))
    roll = np.arctan2(r[0, 1], r[0, 0])
    pitch = np.arctan2(r[1, 2], r[2, 2])
    return float(np.degrees(yaw)), float(np.degrees(pitch)), float(np.degrees(roll))


def rotation_matrices(angles_deg: np.ndarray) -> np.ndarray:
    """Vectorised :func:`rotation_matrix`: ``[N, 3]`` (yaw, pitch, roll) degrees -> ``[N, 3, 3]``."""
    a = np.radians(np.asarray(angles_deg, dtype=np.float64).reshape(-1, 3))
    cy, sy = np.cos(-a[:, 0]), np.sin(-a[:, 0])
    cp, sp = np.cos(-a[:, 1]), np.sin(-a[:, 1])
    cr, sr = np.cos(-a[:, 2]), np.sin(-a[:, 2])
    zero, one = np.zeros_like(cy), np.ones_like(cy)
    rx = np.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1).reshape(-1, 3, 3)
    ry = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(-1, 3, 3)
    rz = np.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).reshape(-1, 3, 3)
    return rx @ ry @ rz


def angles_from_matrices(rotations: np.ndarray) -> np.ndarray:
    """Vectorised :func:`angles_from_matrix`: ``[N, 3, 3]`` -> ``[N, 3]`` (yaw, pitch, roll) deg."""
    r = np.asarray(rotations, dtype=np.float64).reshape(-1, 3, 3)
    yaw = np.arcsin(np.clip(-r[:, 0, 2], -1.0, 1.0))
    roll = np.arctan2(r[:, 0, 1], r[:, 0, 0])
    pitch = np.arctan2(r[:, 1, 2], r[:, 2, 2])
    return np.degrees(np.stack([yaw, pitch, roll], axis=1))


def rotate_in_plane(angles_deg: np.ndarray, clockwise_deg: np.ndarray) -> np.ndarray:
    """Pose after turning the image clockwise (as seen) by ``clockwise_deg`` about its centre.

    An in-plane image rotation is a rotation about the camera's viewing axis, applied after the
    head's own rotation: ``R' = Rz(-phi) @ R`` (for a frontal face this just adds ``phi`` to the
    roll; for a turned face it changes yaw and pitch too). Used by the training augmentation so
    that rotated crops keep exact labels.

    Args:
        angles_deg: ``[N, 3]`` yaw, pitch, roll in degrees.
        clockwise_deg: ``[N]`` rotation of the image content, degrees, clockwise positive.

    Returns:
        float64 ``[N, 3]`` yaw, pitch, roll of the head in the rotated image.
    """
    phi = np.radians(-np.asarray(clockwise_deg, dtype=np.float64).reshape(-1))
    c, s = np.cos(phi), np.sin(phi)
    zero, one = np.zeros_like(c), np.ones_like(c)
    rz = np.stack([c, -s, zero, s, c, zero, zero, zero, one], -1).reshape(-1, 3, 3)
    return angles_from_matrices(rz @ rotation_matrices(angles_deg))
