"""Drawing helpers: copies, shapes, and axes drawn where the DESIGN 1 convention puts them."""
from __future__ import annotations

import numpy as np
import pytest
from gldpose_sdk.draw import AXIS_COLOURS_BGR, draw_pose, draw_poses, project
from gldpose_sdk.errors import InputError
from gldpose_sdk.pose import Pose

BOX = (60.0, 40.0, 160.0, 140.0)  # centre (110, 90), 100 px
CENTRE = (110, 90)


def _pose(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> Pose:
    return Pose(yaw, pitch, roll, 1.0, 2.0, 3.0, BOX)


def _colour_near(img: np.ndarray, x: float, y: float, bgr: tuple[int, int, int]) -> bool:
    patch = img[int(y) - 2: int(y) + 3, int(x) - 2: int(x) + 3].reshape(-1, 3).astype(int)
    return bool(np.any(np.abs(patch - np.array(bgr)).sum(1) < 60))


def test_output_is_a_new_uint8_image_and_input_is_untouched() -> None:
    frame = np.full((200, 240, 3), 40, np.uint8)
    before = frame.copy()
    out = draw_pose(frame, _pose(20, 10, 5))
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert out is not frame and np.array_equal(frame, before)
    assert np.count_nonzero(np.any(out != frame, axis=2)) > 500
    assert np.array_equal(draw_poses(frame, []), frame)


def test_frontal_axes_point_right_and_up() -> None:
    frame = np.zeros((200, 240, 3), np.uint8)
    out = draw_pose(frame, _pose(), axis_length_px=50, show_cube=False, show_text=False)
    red, green, blue = AXIS_COLOURS_BGR
    assert _colour_near(out, CENTRE[0] + 30, CENTRE[1], red)  # head x -> image right
    assert _colour_near(out, CENTRE[0], CENTRE[1] - 30, green)  # head y -> image up
    assert not _colour_near(out, CENTRE[0] - 30, CENTRE[1], blue)


def test_positive_yaw_points_the_face_axis_to_image_left() -> None:
    frame = np.zeros((200, 240, 3), np.uint8)
    out = draw_pose(frame, _pose(yaw=90.0), axis_length_px=50, show_cube=False, show_text=False)
    assert _colour_near(out, CENTRE[0] - 30, CENTRE[1], AXIS_COLOURS_BGR[2])
    assert not _colour_near(out, CENTRE[0] + 30, CENTRE[1], AXIS_COLOURS_BGR[0])


def test_project_follows_the_pose_rotation() -> None:
    pose = _pose(30.0, -20.0, 10.0)
    pts = project(np.eye(3), pose.rotation_matrix(), (0.0, 0.0), 1.0)
    rot = pose.rotation_matrix()
    assert pts == pytest.approx(np.stack([rot[0], -rot[1]], 1))


def test_cube_text_and_several_poses_change_more_pixels() -> None:
    frame = np.zeros((300, 400, 3), np.uint8)
    bare = draw_pose(frame, _pose(), show_cube=False, show_text=False)
    full = draw_pose(frame, _pose())
    assert np.count_nonzero(full) > np.count_nonzero(bare)
    two = draw_poses(frame, [_pose(), Pose(0, 0, 0, 1, 1, 1, (250, 150, 350, 250), track_id=4)])
    assert np.count_nonzero(two[150:260, 250:360]) > 0


def test_bad_frame_raises() -> None:
    with pytest.raises(InputError, match="uint8"):
        draw_pose(np.zeros((50, 50, 3), np.float32), _pose())
