"""Drawing helpers: head axes, a head cube, the face box and the angles, with OpenCV only.

The axes and cube use :meth:`Pose.rotation_matrix` (DESIGN 1, ``gldpose_sdk.rotation``): the
head frame has x to the image right of a frontal face, y up and z toward the camera; a rotated
head point ``(X, Y, Z)`` is drawn orthographically at ``(cx + X, cy - Y)`` around the box centre.
Colours (BGR): x red, y green, z blue.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from gldpose_sdk.detect import check_frame
from gldpose_sdk.pose import Pose

AXIS_COLOURS_BGR = ((0, 0, 255), (0, 255, 0), (255, 0, 0))
CUBE_COLOUR_BGR = (255, 255, 0)
BOX_COLOUR_BGR = (0, 200, 255)
TEXT_COLOUR_BGR = (255, 255, 255)

# Cube corners in the head frame (unit half-size), and the 12 edges; z = +1 is the face side.
_CUBE = np.array([[x, y, z] for z in (-1, 1) for y in (-1, 1) for x in (-1, 1)], np.float64)
_EDGES = ((0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7),
          (0, 4), (1, 5), (2, 6), (3, 7))


def project(points_head: np.ndarray, rotation: np.ndarray, centre_px: Sequence[float],
            scale_px: float) -> np.ndarray:
    """Orthographic projection of head-frame points.

    Args:
        points_head: ``[N, 3]`` points in the head frame (unit length = ``scale_px`` pixels).
        rotation: ``[3, 3]`` head-to-camera rotation.
        centre_px: ``(cx, cy)`` image position of the head origin, pixels.
        scale_px: pixels per head-frame unit.

    Returns:
        ``[N, 2]`` float64 image points ``(u, v)`` in pixels.
    """
    cam = np.asarray(points_head, dtype=np.float64) @ np.asarray(rotation).T
    return np.stack([centre_px[0] + scale_px * cam[:, 0], centre_px[1] - scale_px * cam[:, 1]], 1)


def _pt(p: np.ndarray) -> tuple[int, int]:
    return round(float(p[0])), round(float(p[1]))


def _draw_on(img: np.ndarray, pose: Pose, axis_length_px: float | None, show_cube: bool,
             show_text: bool) -> None:
    x0, y0, x1, y1 = pose.box
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    size = max(x1 - x0, y1 - y0)
    length = float(axis_length_px) if axis_length_px is not None else 0.6 * size
    thick = max(1, round(float(size) / 120))
    rot = pose.rotation_matrix()
    cv2.rectangle(img, _pt((x0, y0)), _pt((x1, y1)), BOX_COLOUR_BGR, thick)
    if show_cube:
        corners = project(_CUBE, rot, centre, 0.35 * size)
        depth = (_CUBE @ rot.T)[:, 2]
        # Far edges first and thin, so the near ones stay on top.
        for i, j in sorted(_EDGES, key=lambda e: depth[e[0]] + depth[e[1]]):
            near = depth[i] + depth[j] > 0
            cv2.line(img, _pt(corners[i]), _pt(corners[j]), CUBE_COLOUR_BGR,
                     thick + (1 if near else 0), cv2.LINE_AA)
    ends = project(np.eye(3), rot, centre, length)
    for k in np.argsort((np.eye(3) @ rot.T)[:, 2]):
        cv2.arrowedLine(img, _pt(centre), _pt(ends[k]), AXIS_COLOURS_BGR[k], thick + 1,
                        cv2.LINE_AA, tipLength=0.12)
    if show_text:
        lines = [f"yaw {pose.yaw_deg:+.1f} +/- {pose.yaw_std_deg:.1f}",
                 f"pitch {pose.pitch_deg:+.1f} +/- {pose.pitch_std_deg:.1f}",
                 f"roll {pose.roll_deg:+.1f} +/- {pose.roll_std_deg:.1f}"]
        if pose.track_id is not None:
            lines.insert(0, f"id {pose.track_id}")
        font_scale = max(0.35, min(1.0, size / 300))
        step = int(30 * font_scale) + 4
        below = int(y1) + step
        y = below if below + step * len(lines) < img.shape[0] else int(y0) - step * len(lines)
        for line in lines:
            (w, h), base = cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thick)
            org = (int(x0), max(step, y))
            cv2.rectangle(img, (org[0] - 2, org[1] - h - 2), (org[0] + w + 2, org[1] + base),
                          (0, 0, 0), cv2.FILLED)
            cv2.putText(img, line, org, cv2.FONT_HERSHEY_SIMPLEX, font_scale, TEXT_COLOUR_BGR,
                        thick, cv2.LINE_AA)
            y += step


def draw_pose(frame_bgr: np.ndarray, pose: Pose, axis_length_px: float | None = None,
              show_cube: bool = True, show_text: bool = True) -> np.ndarray:
    """Draw one pose on a copy of the frame.

    Args:
        frame_bgr: ``[H, W, 3]`` uint8 BGR image (not modified).
        pose: the pose; its box sets the position and size of the drawing.
        axis_length_px: length of the drawn axes; default 0.6 x the box's longer side.
        show_cube: draw the head cube.
        show_text: draw yaw/pitch/roll +/- std (and the track id) beside the box.

    Returns:
        The annotated ``[H, W, 3]`` uint8 copy.

    Raises:
        InputError: the frame is not ``[H, W, 3]`` uint8.
    """
    return draw_poses(frame_bgr, [pose], axis_length_px, show_cube, show_text)


def draw_poses(frame_bgr: np.ndarray, poses: Sequence[Pose], axis_length_px: float | None = None,
               show_cube: bool = True, show_text: bool = True) -> np.ndarray:
    """Draw every pose on one copy of the frame (see :func:`draw_pose`)."""
    img = check_frame(frame_bgr).copy()
    for pose in poses:
        _draw_on(img, pose, axis_length_px, show_cube, show_text)
    return img
