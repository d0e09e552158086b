"""Video: associate faces across frames and smooth their poses with the One Euro filter.

The One Euro filter (Casiez, Roussel and Vogel, CHI 2012) is a first-order low-pass filter
whose cutoff rises with the signal's speed: slow motion is smoothed hard (little jitter), fast
motion lightly (little lag). For a sample ``x`` at time ``t`` (``dt`` since the last one):

    alpha(fc) = 1 / (1 + tau / dt),  tau = 1 / (2 pi fc)
    dx_hat    = alpha(d_cutoff) * (x - x_hat_prev) / dt + (1 - alpha(d_cutoff)) * dx_hat_prev
    fc        = min_cutoff + beta * |dx_hat|
    x_hat     = alpha(fc) * x + (1 - alpha(fc)) * x_hat_prev

Faces are associated by greedy IoU matching of boxes (highest IoU first), numpy only.
"""
from __future__ import annotations

import dataclasses
import itertools
import threading
from dataclasses import dataclass

import numpy as np

from gldpose_sdk.detect import box_iou
from gldpose_sdk.errors import InputError
from gldpose_sdk.pose import Pose


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
    """

    min_cutoff_hz: float = 1.0
    beta: float = 0.1
    d_cutoff_hz: float = 1.0
    iou_threshold: float = 0.3
    max_age_frames: int = 10
    smooth_boxes: bool = True
    box_beta: float = 0.01

    def __post_init__(self) -> None:
        if self.min_cutoff_hz <= 0 or self.d_cutoff_hz <= 0:
            raise InputError(f"cutoffs must be > 0 Hz: {self.min_cutoff_hz}, {self.d_cutoff_hz}")
        if self.beta < 0 or self.box_beta < 0:
            raise InputError(f"beta and box_beta must be >= 0: {self.beta}, {self.box_beta}")
        if not 0.0 < self.iou_threshold <= 1.0:
            raise InputError(f"iou_threshold must be in (0, 1], got {self.iou_threshold}")
        if self.max_age_frames < 0:
            raise InputError(f"max_age_frames must be >= 0, got {self.max_age_frames}")


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
