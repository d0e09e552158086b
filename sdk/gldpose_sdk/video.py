"""Video sources for :meth:`gldpose_sdk.PoseEstimator.track`: cameras, files, iterables.

A source is checked when it is named (type, camera index range, file present), before OpenCV
sees it: OpenCV crashes on some inputs (``VideoCapture(-1)``). Reading skips None/empty frames
and failed camera reads without ending the stream (they are counted by ``track``), and the last
frame of a file carries how the file ended (:class:`StreamEnd`), with a WARNING when it ended
before the frame count its container declares.
"""
from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Union

import cv2
import numpy as np

from gldpose_sdk.errors import InputError
from gldpose_sdk.pose import Pose

#: What :meth:`PoseEstimator.track` reads: a camera index, a video file, or frames.
FrameSource = Union[int, str, Path, Iterable[np.ndarray]]
#: Largest camera index: OpenCV reads 100 and up as camera + backend id (``cv2.CAP_*``).
MAX_CAMERA_INDEX = 99
#: Consecutive failed camera reads tolerated before a camera stream ends.
DEFAULT_MAX_FAILED_READS = 10

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamEnd:
    """How a video file ended: set on the last :class:`FrameResult` of a file (``end``).

    Attributes:
        frames_read: frames decoded from the file.
        frames_expected: the frame count the container declares (None when it declares none).
        is_early: fewer frames were decoded than declared (a truncated or damaged file); this
            is also logged as a WARNING.
    """

    frames_read: int
    frames_expected: int | None
    is_early: bool


@dataclass(frozen=True)
class FrameResult:
    """One frame of :meth:`PoseEstimator.track`.

    Attributes:
        index: position of the frame in the source. Skipped frames (None or empty frames,
            failed camera reads) are not yielded but keep their index, so gaps show.
        t_s: time in seconds: a file's own frame rate, ``fps`` for an iterable, else the
            wall clock since the stream started.
        poses: tracked poses (``track_id`` set, angles smoothed).
        frame: the image, uint8 BGR ``[H, W, 3]``.
        skipped_frames: frames skipped so far in this stream.
        detected: the full face detector ran on this frame (False: the faces were followed
            from the last frame by the detector's refine step, or there is no detector).
        timings_ms: milliseconds per stage on this frame: ``decode`` (reading the frame),
            ``detect``, ``refine``, ``pose`` (crop, network and decode) and ``smooth``
            (association and One Euro filter).
        end: on the last result of a video file, how the file ended; None otherwise (cameras
            and iterables do not say in advance which frame is their last).
    """

    index: int
    t_s: float
    poses: list[Pose]
    frame: np.ndarray = field(repr=False, compare=False)
    skipped_frames: int = 0
    detected: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)
    end: StreamEnd | None = None


@dataclass(frozen=True)
class SourceFrame:
    """A frame as read from a source; ``image`` is None for a skipped one."""

    index: int
    t_s: float
    image: np.ndarray | None
    decode_ms: float = 0.0
    end: StreamEnd | None = None



def iter_frames(source: FrameSource, fps: float | None = None
                ) -> Iterator[tuple[np.ndarray, float]]:
    """Frames and their times in seconds from a camera index, a video file or an iterable.

    None or empty frames and failed camera reads are left out (see
    :meth:`PoseEstimator.track` for how they are counted there).

    Raises:
        InputError: the source has the wrong type, the camera index is outside 0-99, or the
            file is missing (here); the camera or file cannot be opened (while iterating).
    """
    frames = open_source(source, fps, DEFAULT_MAX_FAILED_READS)
    return ((f.image, f.t_s) for f in frames if f.image is not None)


def open_source(source: FrameSource, fps: float | None, max_failed_reads: int
                  ) -> Iterator[SourceFrame]:
    """Check ``source`` now; return the iterator that opens and reads it."""
    if fps is not None and not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be a finite number > 0 or None, got {fps!r}")
    if isinstance(source, str) and source.isascii() and source.lstrip("-").isdigit():
        source = int(source)
    if isinstance(source, (int, np.integer)) and not isinstance(source, bool):
        if not 0 <= source <= MAX_CAMERA_INDEX:
            raise InputError(f"camera index must be in 0..{MAX_CAMERA_INDEX}, got {source} "
                             "(OpenCV reads -1 as 'any camera' and 100 and up as a backend id)")
        return _read_camera(int(source), max_failed_reads)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InputError(f"video file not found: {path}")
        return _read_file(path)
    if isinstance(source, np.ndarray) and source.ndim != 4:
        raise InputError(f"an array source must be frames [N, H, W, 3], got shape {source.shape}; "
                         "wrap a single frame as [frame]")
    if isinstance(source, (bytes, bytearray, Mapping)) or not isinstance(source, Iterable):
        raise InputError("source must be a camera index, a video file path or an iterable of "
                         f"frames, got {type(source).__name__}")
    return _read_iterable(source, fps)


def _read_iterable(frames: Iterable[Any], fps: float | None) -> Iterator[SourceFrame]:
    start = time.monotonic()
    iterator = iter(frames)
    for index in itertools.count():
        t0 = time.perf_counter()
        try:
            frame = next(iterator)
        except StopIteration:
            return
        decode_ms = (time.perf_counter() - t0) * 1e3
        t_s = index / fps if fps else time.monotonic() - start
        empty = frame is None or (isinstance(frame, np.ndarray) and frame.size == 0)
        yield SourceFrame(index, t_s, None if empty else frame, decode_ms)


def _read_camera(index: int, max_failed_reads: int) -> Iterator[SourceFrame]:
    cap = cv2.VideoCapture(index, cv2.CAP_ANY)
    try:
        if not cap.isOpened():
            raise InputError(f"cannot open camera {index} with OpenCV (no such device, or busy)")
        start, failures = time.monotonic(), 0
        for frame_index in itertools.count():
            frame, decode_ms = _read_one(cap)
            failures = 0 if frame is not None else failures + 1
            if failures > max_failed_reads:
                _LOG.warning("camera %d: %d reads failed in a row; stream ended at frame %d",
                             index, failures, frame_index)
                return
            yield SourceFrame(frame_index, time.monotonic() - start, frame, decode_ms)
    finally:
        cap.release()


def _read_file(path: Path) -> Iterator[SourceFrame]:
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise InputError(f"cannot open video file {path} with OpenCV (not a video, or a "
                             "codec this OpenCV build lacks)")
        file_fps = cap.get(cv2.CAP_PROP_FPS)
        declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        expected = declared if declared > 0 else None
        start = time.monotonic()
        frame, decode_ms = _read_one(cap)
        if frame is None:
            raise InputError(f"no frame could be decoded from video file {path}")
        for index in itertools.count():
            # Read one ahead, so that the last frame can carry how the file ended.
            following, following_ms = _read_one(cap)
            end = None
            if following is None:
                end = StreamEnd(index + 1, expected, expected is not None and index + 1 < expected)
                if end.is_early:
                    _LOG.warning("video file %s ended early: %d of %d declared frames decoded",
                                 path, end.frames_read, expected)
            t_s = index / file_fps if file_fps > 0 else time.monotonic() - start
            yield SourceFrame(index, t_s, frame, decode_ms, end)
            if following is None:
                return
            frame, decode_ms = following, following_ms
    finally:
        cap.release()


def _read_one(cap: cv2.VideoCapture) -> tuple[np.ndarray | None, float]:
    """One frame (None when the read failed or gave nothing) and the milliseconds it took."""
    start = time.perf_counter()
    ok, frame = cap.read()
    good = ok and frame is not None and frame.size > 0
    return (frame if good else None), (time.perf_counter() - start) * 1e3
