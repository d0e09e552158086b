"""One Euro filter and face tracker: smoothing, convergence, lag, identities, expiry."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from gldpose_sdk.detect import build_detector
from gldpose_sdk.errors import BackendUnavailableError, InputError
from gldpose_sdk.pose import Pose
from gldpose_sdk.track import (
    FaceTracker,
    OneEuroFilter,
    RegionTracker,
    TrackConfig,
    visible_fraction,
)

FPS = 30.0


def _pose(box: tuple[float, float, float, float], yaw: float = 0.0, pitch: float = 0.0,
          roll: float = 0.0) -> Pose:
    return Pose(yaw, pitch, roll, 2.0, 3.0, 4.0, box, score=0.9)


def _run(filt: OneEuroFilter, values: np.ndarray) -> np.ndarray:
    return np.array([filt(v, i / FPS) for i, v in enumerate(values)])


def test_filter_reduces_noise_on_a_moving_head(rng: np.random.Generator) -> None:
    t = np.arange(300) / FPS
    truth = np.stack([40 * np.sin(2 * np.pi * 0.2 * t), 15 * np.sin(2 * np.pi * 0.3 * t)], 1)
    noisy = truth + rng.normal(0.0, 4.0, truth.shape)
    cfg = TrackConfig()
    smoothed = _run(OneEuroFilter(cfg.min_cutoff_hz, cfg.beta, cfg.d_cutoff_hz), noisy)
    raw_rmse = np.sqrt(np.mean((noisy - truth) ** 2))
    smooth_rmse = np.sqrt(np.mean((smoothed - truth) ** 2))
    assert smooth_rmse < 0.8 * raw_rmse
    assert smoothed.shape == truth.shape


def test_filter_passes_first_sample_and_converges_to_a_constant() -> None:
    filt = OneEuroFilter(1.0, 0.1, 1.0)
    assert filt([5.0, -3.0], 0.0) == pytest.approx([5.0, -3.0])
    out = _run(OneEuroFilter(1.0, 0.1, 1.0), np.r_[[[0.0]], np.full((90, 1), 20.0)])
    assert abs(out[-1, 0] - 20.0) < 0.05
    assert np.all(np.diff(out[1:, 0]) >= -1e-9)  # no overshoot or oscillation


def test_ramp_lag_is_bounded_and_beta_reduces_it() -> None:
    speed = 60.0  # degrees per second
    ramp = (speed * np.arange(120) / FPS)[:, None]
    lag_fast = ramp[-1, 0] - _run(OneEuroFilter(1.0, 0.1, 1.0), ramp)[-1, 0]
    lag_plain = ramp[-1, 0] - _run(OneEuroFilter(1.0, 0.0, 1.0), ramp)[-1, 0]
    assert 0.0 < lag_fast < 0.1 * speed  # under 100 ms behind
    assert lag_fast < 0.5 * lag_plain


def test_filter_rejects_bad_input() -> None:
    filt = OneEuroFilter()
    filt([1.0], 1.0)
    with pytest.raises(InputError, match="timestamps must increase"):
        filt([1.0], 1.0)
    with pytest.raises(InputError, match="length changed"):
        filt([1.0, 2.0], 2.0)
    with pytest.raises(InputError, match="finite"):
        filt([np.nan], 3.0)
    with pytest.raises(InputError):
        OneEuroFilter(min_cutoff_hz=0.0)
    with pytest.raises(InputError, match="iou_threshold"):
        TrackConfig(iou_threshold=0.0)


@pytest.mark.parametrize("field, value, phrase", [
    ("detect_every_frames", 0, "detect_every_frames"),
    ("max_failed_reads", -1, "max_failed_reads"),
    ("recheck_lost_frames", -1, "recheck_lost_frames"),
    ("refine_score_threshold", 1.5, "refine_score_threshold"),
    ("min_visible_frac", -0.1, "min_visible_frac"),
    ("search_scale", 4.0, "search_scale"),
])
def test_track_config_rejects_bad_schedule(field: str, value: float, phrase: str) -> None:
    with pytest.raises(InputError, match=phrase):
        TrackConfig(**{field: value})


class FakeDetector:
    """Scripted detect/refine callables that record which ran on which frame."""

    def __init__(self, faces: dict[int, list], refine_score: dict[int, float] | None = None):
        self.faces = faces                      # frame -> boxes the full detector finds
        self.refine_score = refine_score or {}  # frame -> refine score (default 0.9)
        self.frame = 0
        self.calls: list[tuple[int, str]] = []

    def detect(self, frame: np.ndarray) -> list:
        self.calls.append((self.frame, "detect"))
        return [(tuple(b), 0.95) for b in self.faces.get(self.frame, [])]

    def refine(self, frame: np.ndarray, boxes: list) -> list:
        self.calls.append((self.frame, "refine"))
        score = self.refine_score.get(self.frame, 0.9)
        return [(tuple(np.add(b, 1.0)), score) if score >= 0.5 else None for b in boxes]


def _schedule(config: TrackConfig, fake: FakeDetector, n_frames: int,
              with_refine: bool = True) -> list:
    regions = RegionTracker(config, fake.detect, fake.refine if with_refine else None)
    frame = np.zeros((240, 320, 3), np.uint8)
    out = []
    for k in range(n_frames):
        fake.frame = k
        out.append(regions.find(frame))
    return out


def test_region_tracker_detects_first_every_n_and_refines_between() -> None:
    face = (100.0, 60.0, 180.0, 160.0)
    fake = FakeDetector({k: [face] for k in range(20)})
    found = _schedule(TrackConfig(detect_every_frames=5), fake, 12)
    assert [k for k, f in enumerate(found) if f.detected] == [0, 5, 10]
    detects = [k for k, what in fake.calls if what == "detect"]
    assert detects == [0, 5, 10]
    refines = [k for k, what in fake.calls if what == "refine"]
    assert refines == list(range(1, 12))  # every frame after the first, detection frames too
    assert found[1].found == [((101.0, 61.0, 181.0, 161.0), 0.9)]  # the re-fitted box
    assert found[2].found[0][0] == (102.0, 62.0, 182.0, 162.0)      # from the last re-fit
    assert found[5].found == [(face, 0.95)]  # the detection replaces the overlapping track
    assert all(f.detect_ms >= 0 and f.refine_ms >= 0 for f in found)


def test_region_tracker_detects_at_once_when_a_face_is_lost() -> None:
    face = (100.0, 60.0, 180.0, 160.0)
    fake = FakeDetector({0: [face], 3: [], 4: [face]}, refine_score={3: 0.1})
    found = _schedule(TrackConfig(detect_every_frames=10, recheck_lost_frames=0), fake, 6)
    assert [f.detected for f in found] == [True, False, False, True, False, False]
    assert found[3].lost == 1 and found[3].found == []
    # Given up at once: no face until the next scheduled detection.
    assert found[4].found == [] and found[5].found == []


def test_region_tracker_rechecks_a_lost_face_then_gives_up() -> None:
    face = (100.0, 60.0, 180.0, 160.0)
    dip = FakeDetector({0: [face]}, refine_score={3: 0.1})  # the score dips on frame 3 only
    found = _schedule(TrackConfig(detect_every_frames=10), dip, 6)
    assert found[3].found == [] and found[3].detected and found[3].lost == 1
    assert len(found[4].found) == 1 and not found[4].detected and found[4].lost == 0
    assert found[4].found[0][0] == (103.0, 63.0, 183.0, 163.0)  # re-fitted from frame 2's box
    gone = FakeDetector({0: [face]}, refine_score={k: 0.1 for k in range(3, 12)})
    _schedule(TrackConfig(detect_every_frames=20, recheck_lost_frames=2), gone, 8)
    assert [k for k, what in gone.calls if what == "refine"] == [1, 2, 3, 4, 5]
    assert [k for k, what in gone.calls if what == "detect"] == [0, 3]


def test_region_tracker_keeps_refined_faces_the_detector_missed() -> None:
    profile, frontal = (20.0, 40.0, 90.0, 130.0), (200.0, 50.0, 280.0, 150.0)
    fake = FakeDetector({0: [profile, frontal], 3: [frontal]})
    found = _schedule(TrackConfig(detect_every_frames=3), fake, 4)
    boxes = [b for b, _ in found[3].found]
    assert frontal in boxes and len(boxes) == 2  # the profile, re-fitted, is still followed
    assert found[3].found[0] == (frontal, 0.95)  # best score first


def test_region_tracker_without_refine_detects_every_frame() -> None:
    face = (100.0, 60.0, 180.0, 160.0)
    fake = FakeDetector({k: [face] for k in range(5)})
    found = _schedule(TrackConfig(detect_every_frames=10), fake, 5, with_refine=False)
    assert all(f.detected for f in found)
    assert fake.calls == [(k, "detect") for k in range(5)]
    one = FakeDetector({k: [face] for k in range(3)})
    _schedule(TrackConfig(detect_every_frames=1), one, 3)
    assert one.calls == [(k, "detect") for k in range(3)]  # per-frame: no refine step at all


def test_region_tracker_drops_a_face_leaving_the_frame() -> None:
    leaving = (290.0, 60.0, 370.0, 160.0)  # 3/8 inside a 320-wide frame after the re-fit
    fake = FakeDetector({0: [leaving]})
    found = _schedule(TrackConfig(detect_every_frames=10, min_visible_frac=0.5), fake, 2)
    assert found[1].lost == 1 and found[1].detected and found[1].found == []
    assert visible_fraction((290.0, 60.0, 370.0, 160.0), 240, 320) == pytest.approx(0.375)
    assert visible_fraction((-10.0, -10.0, 10.0, 10.0), 240, 320) == pytest.approx(0.25)
    assert visible_fraction((400.0, 0.0, 500.0, 10.0), 240, 320) == 0.0


def test_region_tracker_merges_tracks_that_converge() -> None:
    a, b = (100.0, 60.0, 180.0, 160.0), (102.0, 62.0, 182.0, 162.0)
    fake = FakeDetector({0: [a, b]})
    found = _schedule(TrackConfig(detect_every_frames=10), fake, 2)
    assert len(found[1].found) == 1


def test_two_moving_faces_keep_their_ids() -> None:
    tracker = FaceTracker()
    ids = []
    for k in range(20):
        left = _pose((10 + 3 * k, 50, 110 + 3 * k, 170), yaw=-20)
        right = _pose((400 - 3 * k, 60, 500 - 3 * k, 180), yaw=30)
        order = [left, right] if k % 2 else [right, left]  # detector order changes
        out = tracker.update(order, k / FPS)
        by_yaw = {round(p.yaw_deg): p.track_id for p in out}
        ids.append((by_yaw[-20], by_yaw[30]))
    assert len(set(ids)) == 1 and ids[0][0] != ids[0][1]


def test_vanished_face_expires_and_new_face_gets_new_id() -> None:
    tracker = FaceTracker(TrackConfig(max_age_frames=3))
    box = (100, 100, 200, 220)
    first = tracker.update([_pose(box)], 0.0)[0].track_id
    for k in range(1, 4):  # unseen for 3 frames: still kept, comes back with the same id
        assert tracker.update([], k / FPS) == []
    assert tracker.update([_pose(box)], 4 / FPS)[0].track_id == first
    for k in range(5, 9):  # unseen for 4 > max_age frames: dropped
        tracker.update([], k / FPS)
    assert tracker.active_track_ids == []
    again = tracker.update([_pose(box)], 9 / FPS)[0].track_id
    other = tracker.update([_pose(box), _pose((300, 100, 400, 220))], 10 / FPS)
    assert again != first
    assert other[0].track_id == again and other[1].track_id not in (first, again)
    tracker.reset()
    assert tracker.update([_pose(box)], 0.0)[0].track_id == 0


def test_tracker_smooths_angles_and_boxes_but_not_std(rng: np.random.Generator) -> None:
    tracker = FaceTracker()
    raw_err, out_err, raw_box_err, out_box_err = [], [], [], []
    for k in range(60):
        yaw = 10.0 + rng.normal(0.0, 4.0)
        jitter = rng.normal(0.0, 3.0, 4)
        box = tuple(np.array([100.0, 100.0, 200.0, 220.0]) + jitter)
        out = tracker.update([_pose(box, yaw=yaw)], k / FPS)[0]
        if k == 0:
            assert out.yaw_deg == yaw and out.box == pytest.approx(box)  # new track: unsmoothed
        assert out.std_deg == pytest.approx([2.0, 3.0, 4.0]) and out.score == 0.9
        if k >= 10:
            raw_err.append(abs(yaw - 10.0))
            out_err.append(abs(out.yaw_deg - 10.0))
            raw_box_err.append(np.abs(jitter).mean())
            out_box_err.append(np.abs(np.array(out.box) - [100.0, 100.0, 200.0, 220.0]).mean())
    assert np.mean(out_err) < 0.8 * np.mean(raw_err)
    assert np.mean(out_box_err) < 0.8 * np.mean(raw_box_err)
    plain = FaceTracker(TrackConfig(smooth_boxes=False))
    plain.update([_pose((0, 0, 10, 10))], 0.0)
    assert plain.update([_pose((1, 1, 11, 11))], 0.1)[0].box == (1, 1, 11, 11)


def test_tracker_rejects_time_going_back() -> None:
    tracker = FaceTracker()
    tracker.update([], 1.0)
    with pytest.raises(InputError, match="timestamps must increase"):
        tracker.update([], 0.5)


def test_tracking_the_shipped_clip_keeps_one_id_and_smooths(rng: np.random.Generator) -> None:
    """Detector + tracker on the rendered clip; the angles are the known ones plus noise."""
    samples = Path(__file__).resolve().parents[2] / "sdk" / "gldpose_sdk" / "samples"
    if not (samples / "poses.json").is_file():
        pytest.skip(f"no shipped synthetic clip at {samples}")
    try:
        detector = build_detector("auto")
    except BackendUnavailableError as exc:
        pytest.skip(exc.reason)
    clip = json.loads((samples / "poses.json").read_text())["clip"]
    capture = cv2.VideoCapture(str(samples / clip["file"]))
    tracker = FaceTracker()
    ids, raw_err, smooth_err = set(), [], []
    for info in clip["frames"]:
        ok, frame = capture.read()
        assert ok, f"cannot read frame {info['index']} of {clip['file']}"
        truth = np.array([info["heads"][0][k] for k in ("yaw_deg", "pitch_deg", "roll_deg")])
        noisy = truth + rng.normal(0.0, 4.0, 3)
        poses = [Pose(*noisy, 1.0, 1.0, 1.0, d.box, d.score) for d in detector(frame)[:1]]
        for pose in tracker.update(poses, info["index"] / clip["fps"]):
            ids.add(pose.track_id)
            raw_err.append(np.abs(noisy - truth).mean())
            smooth_err.append(np.abs(pose.angles_deg - truth).mean())
    capture.release()
    assert len(raw_err) >= 0.8 * len(clip["frames"])
    assert len(ids) == 1
    assert np.mean(smooth_err) < np.mean(raw_err)
