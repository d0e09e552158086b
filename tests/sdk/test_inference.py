"""Logits and crops -> Pose objects: quality flags of build_poses at their limits."""
from __future__ import annotations

import numpy as np

from gldpose_sdk.config import QualityThresholds
from gldpose_sdk.face_crops import FaceCrops
from gldpose_sdk.inference import build_poses


def test_quality_flags_match_their_limits_per_face() -> None:
    limits = QualityThresholds(max_std_deg=(10.0, 12.5, 7.3), min_inside_frac=0.7,
                               min_brightness=0.05, min_contrast=0.02)
    f32 = np.float32
    std = np.array([[10.0, 12.5, 7.3],                           # at the limits: reliable
                    [np.nextafter(f32(10.0), f32(99)), 1.0, 1.0],  # just above yaw's
                    [1.0, 13.0, 7.4],                            # pitch and roll above
                    [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]], f32)
    brightness = np.array([0.05, 0.5, 0.5, 0.049, 0.5], f32)
    contrast = np.array([0.02, 0.3, 0.3, 0.3, 0.019], f32)
    inside = (0.7, 1.0, 1.0, 1.0, 0.69)
    faces = FaceCrops(np.zeros((5, 8, 8, 3), np.uint8), tuple((0.0, 0.0, 8.0, 8.0 + i)
                                                              for i in range(5)),
                      (1.0, 0.9, 0.8, 0.7, 0.6), inside, brightness, contrast)
    angles = np.arange(15, dtype=f32).reshape(5, 3)
    poses = build_poses(faces, angles, std, std * 2, limits)
    assert [p.quality.reasons for p in poses] == [
        (), ("uncertain yaw",), ("uncertain pitch", "uncertain roll"), ("dark",),
        ("outside frame", "flat")]
    assert [p.is_reliable for p in poses] == [True, False, False, False, False]
    # the same decisions as numpy's comparisons of the float32 arrays
    np.testing.assert_array_equal(
        [[f"uncertain {n}" in p.quality.reasons for n in ("yaw", "pitch", "roll")]
         for p in poses], std > np.asarray(limits.max_std_deg, f32))
    first, last = poses[0], poses[-1]
    assert (first.yaw_deg, first.roll_std_deg, first.raw_std_deg) == (0.0, std[0, 2], tuple(
        (std[0] * 2).tolist()))
    assert last.box == (0.0, 0.0, 8.0, 12.0) and last.score == 0.6
    assert last.quality.contrast == contrast[4] and last.quality.inside_frame_frac == 0.69


def test_pose_decoder_poses_are_build_poses() -> None:
    """PoseDecoder.poses (estimate's path, limits prepared once) = build_poses."""
    from gldpose_sdk.builtin_models import resolve_model
    from gldpose_sdk.inference import PoseDecoder
    from gldpose_sdk.manifest import read_manifest

    rng = np.random.default_rng(3)
    limits = QualityThresholds(max_std_deg=(5.0, 6.0, 7.0), min_inside_frac=0.5)
    n = 6
    faces = FaceCrops(np.zeros((n, 8, 8, 3), np.uint8), tuple((0.0, 0.0, 8.0, 8.0)
                                                              for _ in range(n)),
                      (1.0,) * n, tuple(rng.uniform(0.3, 1.0, n).tolist()),
                      rng.uniform(0, 1, n).astype(np.float32),
                      rng.uniform(0, 0.3, n).astype(np.float32))
    angles = rng.uniform(-90, 90, (n, 3)).astype(np.float32)
    std = rng.uniform(1, 8, (n, 3)).astype(np.float32)
    std[0] = 1.0                                                  # a reliable face
    faces = faces._replace(inside_frac=(1.0,) + faces.inside_frac[1:],
                           brightness=np.r_[np.float32(0.5), faces.brightness[1:]],
                           contrast=np.r_[np.float32(0.2), faces.contrast[1:]])
    decoder = PoseDecoder(read_manifest(resolve_model("default")), limits)
    got = decoder.poses(faces, angles, std, std * 3)
    assert got == build_poses(faces, angles, std, std * 3, limits)
    assert any(p.is_reliable for p in got) and not all(p.is_reliable for p in got)
