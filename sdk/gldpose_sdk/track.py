"""Video: associate faces across frames and smooth their poses with the One Euro filter.

The One Euro filter (Casiez, Roussel and Vogel, CHI 2012) is a first-order low-pass filter
whose cutoff rises with the signal's speed: slow motion is smoothed hard (little jitter), fast
motion lightly (little lag). For a sample ``x`` at time ``t`` (``dt`` since the last one):

    alpha(fc) = 1 / (1 + tau / dt),  tau = 1 / (2 pi fc)
    dx_hat    = alpha(d_cutoff) * (x - x_hat_prev) / dt + (1 - alpha(d_cutoff)) * dx_hat_prev
    fc        = min_cutoff + beta * |dx_hat|
    x_hat     = alpha(fc) * x + (1 - alpha(fc)) * x_hat_prev

Faces are associated by greedy IoU matching of boxes (highest IoU first), numpy only.

Finding the faces in video (:class:`RegionTracker`): a full detection costs far more than the
pose itself, so, like MediaPipe's face pipelines, the full detector runs only on the first
frame, every ``detect_every_frames`` frames and whenever a followed face is lost; on the frames
between, each face's box from the last frame is re-checked and re-fitted by the detector's
cheap last stage (``RefiningDetector.refine``: MTCNN's O-Net on one 48x48 patch per face).
"""
from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from gldpose_sdk.detect import box_iou, nms
from gldpose_sdk.errors import InputError
from gldpose_sdk.pose import Box, Pose

#: A face found in a frame: tight box in pixels and detector score.
Found = tuple[Box, float]


@dataclass(frozen=True)
class TrackConfig:
    """Tracking and smoothing options.

    Attributes:
        min_cutoff_hz: cutoff at rest (lower: smoother, more lag when slow).
        beta: cutoff increase per degree/s of angular speed (higher: less lag when fast).
        d_cutoff_hz: cutoff of the speed estimate.
        iou_threshold: a face joins a track when its box IoU with the track's last box is at
            least this.
        max_age_frames: a track unseen for more than this many updates is dropped.
        smooth_boxes: also smooth the face boxes (with ``box_beta``).
        box_beta: cutoff increase per pixel/s of box corner speed.
        detect_every_frames: run the full face detector every this many frames (and on the
            first frame and whenever a face is lost); the frames between re-fit the last boxes
            with the detector's refine step. 1 detects on every frame (no refine step), as does
            a detector without one (a user callable). Default 15: a new face is found within
            half a second at 30 fps (docs/results/video.md).
        refine_score_threshold: a followed face whose refine score (MTCNN: O-Net's face
            probability) falls below this is lost. Lower than the detector's own 0.7 (a face
            was there a frame ago): at 0.3, 0.4% of random background boxes in the cluttered
            sample frames pass, and turning heads are kept through more of the turn than at
            0.5 (docs/results/video.md).
        search_scale: side of the region re-checked around each face, relative to the box the
            detector itself draws. 1.0 re-fits shifts of 10-20% of the box; 1.2 lost faces
            twice as often on the benchmark clips (O-Net scores a looser square lower).
        min_visible_frac: a followed face whose box lies less than this share inside the frame
            is lost (it is leaving the picture).
        max_failed_reads: consecutive failed camera reads tolerated, each counted as a skipped
            frame, before the stream ends.
        recheck_lost_frames: a lost face still inside the frame is re-checked at its last box
            by the refine step on this many more frames (no pose while lost) and followed
            again when it scores; 0 gives it up at once.
    """

    min_cutoff_hz: float = 1.0
    beta: float = 0.1
    d_cutoff_hz: float = 1.0
    iou_threshold: float = 0.3
    max_age_frames: int = 10
    smooth_boxes: bool = True
    box_beta: float = 0.01
    detect_every_frames: int = 15
    refine_score_threshold: float = 0.3
    search_scale: float = 1.0
    min_visible_frac: float = 0.5
    max_failed_reads: int = 10
    recheck_lost_frames: int = 3

    def __post_init__(self) -> None:
        if self.min_cutoff_hz <= 0 or self.d_cutoff_hz <= 0:
            raise InputError(f"cutoffs must be > 0 Hz: {self.min_cutoff_hz}, {self.d_cutoff_hz}")
        if self.beta < 0 or self.box_beta < 0:
            raise InputError(f"beta and box_beta must be >= 0: {self.beta}, {self.box_beta}")
        if not 0.0 < self.iou_threshold <= 1.0:
            raise InputError(f"iou_threshold must be in (0, 1], got {self.iou_threshold}")
        if self.max_age_frames < 0:
            raise InputError(f"max_age_frames must be >= 0, got {self.max_age_frames}")
        if self.detect_every_frames < 1 or min(self.max_failed_reads,
                                                self.recheck_lost_frames) < 0:
            raise InputError(f"detect_every_frames must be >= 1, max_failed_reads and "
                             f"recheck_lost_frames >= 0, got {self.detect_every_frames}, "
                             f"{self.max_failed_reads}, {self.recheck_lost_frames}")
        if not (0.0 <= self.refine_score_threshold <= 1.0 and 0.0 <= self.min_visible_frac <= 1.0):
            raise InputError(f"refine_score_threshold and min_visible_frac must be in [0, 1], got "
                             f"{self.refine_score_threshold}, {self.min_visible_frac}")
        if not 0.5 <= self.search_scale <= 3.0:
            raise InputError(f"search_scale must be in [0.5, 3], got {self.search_scale}")


def _alpha(cutoff_hz: np.ndarray | float, dt_s: float) -> np.ndarray:
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff_hz, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt_s)


class OneEuroFilter:
    """One Euro filter over a vector (each component filtered with its own adaptive cutoff).

    The first sample passes through unchanged. Not thread-safe (one per stream).
    """

    def __init__(self, min_cutoff_hz: float = 1.0, beta: float = 0.0,
                 d_cutoff_hz: float = 1.0) -> None:
        if min_cutoff_hz <= 0 or d_cutoff_hz <= 0 or beta < 0:
            raise InputError(
                f"OneEuroFilter needs cutoffs > 0 and beta >= 0, got {min_cutoff_hz}, "
                f"{beta}, {d_cutoff_hz}"
            )
        self.min_cutoff_hz = min_cutoff_hz
        self.beta = beta
        self.d_cutoff_hz = d_cutoff_hz
        self.reset()

    def reset(self) -> None:
        """Forget the state; the next sample passes through."""
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def __call__(self, x: np.ndarray | list[float], t_s: float) -> np.ndarray:
        """Filter one sample.

        Args:
            x: ``[D]`` values (any unit; ``beta`` is per that unit per second).
            t_s: sample time in seconds, strictly increasing.

        Returns:
            ``[D]`` float64 filtered values.

        Raises:
            InputError: non-finite values, a changed length, or time not increasing.
        """
        x = np.asarray(x, dtype=np.float64).ravel()
        if not np.all(np.isfinite(x)):
            raise InputError(f"OneEuroFilter input must be finite, got {x}")
        if self._x is None:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t_s)
            return x.copy()
        if x.shape != self._x.shape:
            raise InputError(f"OneEuroFilter input length changed: {self._x.shape} -> {x.shape}")
        dt = float(t_s) - self._t
        if not dt > 0:
            raise InputError(f"timestamps must increase: {self._t} s then {t_s} s")
        a_d = _alpha(self.d_cutoff_hz, dt)
        self._dx = a_d * (x - self._x) / dt + (1 - a_d) * self._dx
        a = _alpha(self.min_cutoff_hz + self.beta * np.abs(self._dx), dt)
        self._x = a * x + (1 - a) * self._x
        self._t = float(t_s)
        return self._x.copy()


@dataclass
class _Track:
    track_id: int
    box: np.ndarray
    angles: OneEuroFilter
    box_filter: OneEuroFilter
    missed: int = 0


class FaceTracker:
    """Gives faces stable IDs across frames and smooths their angles (and boxes).

    ``update`` is thread-safe (a lock), but one tracker follows one video stream.
    """

    def __init__(self, config: TrackConfig | None = None) -> None:
        self.config = config or TrackConfig()
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Drop all tracks; IDs start again from 0."""
        self._tracks: list[_Track] = []
        self._ids = itertools.count()
        self._last_t: float | None = None

    def _new_track(self, box: np.ndarray) -> _Track:
        cfg = self.config
        return _Track(next(self._ids), box,
                      OneEuroFilter(cfg.min_cutoff_hz, cfg.beta, cfg.d_cutoff_hz),
                      OneEuroFilter(cfg.min_cutoff_hz, cfg.box_beta, cfg.d_cutoff_hz))

    def _associate(self, boxes: np.ndarray) -> dict[int, int]:
        """Greedy IoU matching: pose index -> track index."""
        if not len(boxes) or not self._tracks:
            return {}
        iou = box_iou(boxes, np.array([t.box for t in self._tracks]))
        pairs = sorted(zip(*np.nonzero(iou >= self.config.iou_threshold)),
                       key=lambda ij: -iou[ij])
        matched: dict[int, int] = {}
        used: set[int] = set()
        for i, j in pairs:
            if int(i) not in matched and int(j) not in used:
                matched[int(i)] = int(j)
                used.add(int(j))
        return matched

    def update(self, poses: list[Pose], t_s: float) -> list[Pose]:
        """Associate and smooth one frame's poses.

        Args:
            poses: this frame's poses (boxes in pixels).
            t_s: frame time in seconds, strictly increasing across calls.

        Returns:
            New Pose objects in input order, with ``track_id`` set, angles smoothed (std
            untouched) and, when ``smooth_boxes``, boxes smoothed. A new track's first pose is
            returned unsmoothed.

        Raises:
            InputError: time not increasing.
        """
        with self._lock:
            if self._last_t is not None and not t_s > self._last_t:
                raise InputError(f"timestamps must increase: {self._last_t} s then {t_s} s")
            self._last_t = float(t_s)
            boxes = np.array([p.box for p in poses], dtype=np.float64).reshape(-1, 4)
            matched = self._associate(boxes)
            out, seen = [], set()
            for i, pose in enumerate(poses):
                track = self._tracks[matched[i]] if i in matched else self._new_track(boxes[i])
                if i not in matched:
                    self._tracks.append(track)
                seen.add(track.track_id)
                track.box, track.missed = boxes[i], 0
                angles = track.angles(pose.angles_deg, t_s)
                box = track.box_filter(boxes[i], t_s)
                changes = {"track_id": track.track_id, "yaw_deg": float(angles[0]),
                           "pitch_deg": float(angles[1]), "roll_deg": float(angles[2])}
                if self.config.smooth_boxes:
                    changes["box"] = tuple(float(v) for v in box)
                out.append(dataclasses.replace(pose, **changes))
            for track in self._tracks:
                if track.track_id not in seen:
                    track.missed += 1
            self._tracks = [t for t in self._tracks if t.missed <= self.config.max_age_frames]
            return out

    @property
    def active_track_ids(self) -> list[int]:
        """IDs of the tracks currently kept (seen within ``max_age_frames``)."""
        return [t.track_id for t in self._tracks]


def visible_fraction(box: Sequence[float], height_px: int, width_px: int) -> float:
    """Share of ``box``'s area (pixels) inside a ``width_px`` x ``height_px`` frame, in [0, 1]."""
    x0, y0, x1, y1 = (float(v) for v in box)
    area = max(x1 - x0, 0.0) * max(y1 - y0, 0.0)
    inside = (max(min(x1, width_px) - max(x0, 0.0), 0.0)
              * max(min(y1, height_px) - max(y0, 0.0), 0.0))
    return inside / area if area > 0 else 0.0


@dataclass(frozen=True)
class FindResult:
    """The faces :meth:`RegionTracker.find` found in one frame, and how.

    Attributes:
        found: tight boxes in pixels with their scores (detector or refine score).
        detected: the full detector ran on this frame.
        lost: faces followed from the last frame that were not confirmed by the refine step.
        detect_ms, refine_ms: time spent in each step on this frame.
    """

    found: list[Found]
    detected: bool
    lost: int
    detect_ms: float
    refine_ms: float


class RegionTracker:
    """Decides, frame by frame, between the full detector and re-fitting the last boxes.

    Full detection runs on the first frame, every ``detect_every_frames`` frames, and on any
    frame where a followed face is lost (its refine score is below ``refine_score_threshold``
    or its box is less than ``min_visible_frac`` inside the frame). On a detection frame the
    refined faces that no detection overlaps are kept too, so a face the detector misses for
    a frame (a profile, say) is still followed. A lost face that is still inside the frame is
    re-checked at its last box for ``recheck_lost_frames`` more frames (O-Net's score dips on
    single frames of a turning head), and followed again when it scores. Not thread-safe (one
    per stream).
    """

    def __init__(self, config: TrackConfig, detect: Callable[[np.ndarray], list[Found]],
                 refine: Callable[[np.ndarray, list[Box]], list[Found | None]] | None) -> None:
        """Args:
            config: tracking options.
            detect: full detection, ``frame -> [(tight box, score)]``.
            refine: ``(frame, boxes) -> [(box, score) or None]`` per box (None: lost), or
                None when the detector has no refine step (then every frame is detected).
        """
        self.config = config
        self._detect = detect
        self._refine = refine
        self._every = 1 if refine is None else config.detect_every_frames
        self.reset()

    def reset(self) -> None:
        """Forget the followed faces; the next frame runs the full detector."""
        self._boxes: list[Box] = []
        self._lost: list[tuple[Box, int]] = []  # last box of a lost face, frames since lost
        self._since_detect: int | None = None

    def find(self, frame: np.ndarray) -> FindResult:
        """The faces in ``frame`` (uint8 ``[H, W, 3]``), best score first."""
        refined: list[Found] = []
        lost, refine_ms = 0, 0.0
        if self._every > 1 and (self._boxes or self._lost) and self._refine is not None:
            start = time.perf_counter()
            refined, lost = self._refine_all(frame)
            refine_ms = (time.perf_counter() - start) * 1e3
        due = self._since_detect is None or self._since_detect + 1 >= self._every
        detect_ms = 0.0
        if due or lost:
            start = time.perf_counter()
            found = self._merge(self._detect(frame), refined)
            self._since_detect = 0
            detect_ms = (time.perf_counter() - start) * 1e3
            self._forget_lost_near([box for box, _ in found])
        else:
            found = refined
            self._since_detect += 1
        self._boxes = [box for box, _ in found]
        return FindResult(found, due or bool(lost), lost, detect_ms, refine_ms)

    def _refine_all(self, frame: np.ndarray) -> tuple[list[Found], int]:
        """Refine the followed faces and re-check the lost ones, in one call; returns the faces
        confirmed and how many followed faces were lost on this frame."""
        cfg = self.config
        height, width = frame.shape[:2]
        followed = len(self._boxes)
        results = self._refine(frame, self._boxes + [box for box, _ in self._lost])
        refined, lost, still_lost = [], 0, []
        for k, item in enumerate(results):
            previous = self._boxes[k] if k < followed else self._lost[k - followed][0]
            age = 0 if k < followed else self._lost[k - followed][1]
            if item is not None and visible_fraction(item[0], height, width) >= cfg.min_visible_frac:
                refined.append(item)
                continue
            lost += k < followed
            leaving = visible_fraction(previous, height, width) < cfg.min_visible_frac
            if item is None and not leaving and age < cfg.recheck_lost_frames:
                still_lost.append((previous, age + 1))
        self._lost = still_lost
        return _deduplicate(refined, cfg.iou_threshold), lost

    def _forget_lost_near(self, boxes: list[Box]) -> None:
        """Lost faces that a found face now covers are found: stop re-checking them."""
        if self._lost and boxes:
            iou = box_iou(np.array([b for b, _ in self._lost]), np.array(boxes))
            self._lost = [item for item, row in zip(self._lost, iou)
                          if row.max() < self.config.iou_threshold]

    def _merge(self, detected: list[Found], refined: list[Found]) -> list[Found]:
        """Detections, plus refined faces that overlap none of them."""
        if not refined or not detected:
            return sorted(detected or refined, key=lambda f: -f[1])
        iou = box_iou(np.array([b for b, _ in refined]), np.array([b for b, _ in detected]))
        kept = [refined[i] for i in range(len(refined))
                if iou[i].max() < self.config.iou_threshold]
        return sorted(detected + kept, key=lambda f: -f[1])


def _deduplicate(found: list[Found], iou_threshold: float) -> list[Found]:
    """Drop faces overlapping a better-scored one by more than ``iou_threshold`` (two tracks
    that converged on one face)."""
    if len(found) < 2:
        return found
    keep = nms(np.array([b for b, _ in found]), np.array([s for _, s in found]), iou_threshold)
    return [found[i] for i in keep]
