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
