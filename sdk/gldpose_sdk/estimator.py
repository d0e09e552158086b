"""PoseEstimator: detector -> preprocess -> backend -> decode, for frames, crops and video.

Example::

    from gldpose_sdk import PoseEstimator
    with PoseEstimator() as est:                      # default model, fastest backend here
        poses = est.estimate(frame_bgr)               # faces found by the built-in detector
        poses = est.estimate(frame_bgr, boxes=[(x0, y0, x1, y1)])   # your own tight boxes
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, Union

import cv2
import numpy as np

from gldpose_sdk.backends.base import Backend, BackendInfo
from gldpose_sdk.config import EstimatorConfig, parse_device
from gldpose_sdk.decode import decode_implementation
from gldpose_sdk.default_model import require_default_model
from gldpose_sdk.detect import FaceDetector, RefiningDetector, build_detector
from gldpose_sdk.errors import InputError
from gldpose_sdk.hardware import PlatformInfo, detect_platform
from gldpose_sdk.manifest import read_manifest
from gldpose_sdk.pose import Box, Pose
from gldpose_sdk.face_crops import check_box_in_frame, check_frame_size, cut_faces, whole_crops
from gldpose_sdk.inference import infer_poses
from gldpose_sdk.preprocess import check_box, check_image
from gldpose_sdk.backend_timing import TimingCache
from gldpose_sdk.selection import select_backend
from gldpose_sdk.track import FaceTracker, RegionTracker, TrackConfig

#: A detector spec: "auto", "none", a name of ``gldpose_sdk.detect.DETECTORS``, a
#: :class:`~gldpose_sdk.detect.FaceDetector`, or a callable
#: ``frame_bgr -> [(x0, y0, x1, y1[, score]), ...]``.
DetectorSpec = Union[str, FaceDetector, Callable[[np.ndarray], Sequence[Any]]]
#: What :meth:`PoseEstimator.track` reads: a camera index, a video file, or frames.
FrameSource = Union[int, str, Path, Iterable[np.ndarray]]
#: Largest camera index: OpenCV reads 100 and up as camera + backend id (``cv2.CAP_*``).
MAX_CAMERA_INDEX = 99

_LOG = logging.getLogger(__name__)



@dataclass(frozen=True)
class EstimatorInfo:
    """What :meth:`PoseEstimator.describe` reports.

    Attributes:
        backend: the loaded backend (runtime version, device, precision, artefact + sha256).
        requested_backend: ``"auto"`` or the name asked for.
        platform: ``"cpu"``, ``"nvidia_gpu"`` or ``"jetson"``.
        skipped: ``(backend, device, reason)`` for each candidate passed over by ``"auto"``.
        timings_ms: ``(backend, device, ms at batch 1)`` of the candidates ``"auto"`` compared
            (measured now or read from the cache, see ``timing_source``).
        timing_source: ``"measured"``, ``"cache"`` or ``""`` (nothing compared).
        model_dir: the model folder.
        backbone: the network's backbone.
        input_size_px: side of the square network input.
        decode: ``"compiled"`` (C++ extension) or ``"numpy"``.
        detector: the face detector used for frames without boxes.
    """

    backend: BackendInfo
    requested_backend: str
    platform: str
    skipped: tuple[tuple[str, str, str], ...]
    timings_ms: tuple[tuple[str, str, float], ...]
    timing_source: str
    model_dir: str
    backbone: str
    input_size_px: int
    decode: str
    detector: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        out = asdict(self)
        out["skipped"] = [list(s) for s in self.skipped]
        out["timings_ms"] = [list(t) for t in self.timings_ms]
        return out


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
class _SourceFrame:
    """A frame as read from a source; ``image`` is None for a skipped one."""

    index: int
    t_s: float
    image: np.ndarray | None
    decode_ms: float = 0.0
    end: StreamEnd | None = None


class PoseEstimator:
    """Head pose (yaw, pitch, roll in degrees, with uncertainty) from frames, crops and video.

    Thread-safe: inference and detection each run under a lock, so one estimator may serve
    several threads (calls are serialised). Use as a context manager or call :meth:`close`.
    """

    def __init__(self, model: str | Path | None = None, backend: str = "auto",
                 device: str = "auto", detector: DetectorSpec = "auto",
                 config: EstimatorConfig | None = None, *,
                 platform: PlatformInfo | None = None) -> None:
        """Load a model folder on a backend.

        Args:
            model: model folder (manifest.json + artefacts); None uses the built-in default.
            backend: ``"auto"`` (best available here, DESIGN 7) or a name of ``BACKENDS``.
            device: ``"auto"``, ``"cpu"``, ``"cuda[:N]"`` or ``"gpu[:N]"`` (OpenVINO).
            detector: face detector for frames given without boxes: ``"auto"``, a registry
                name, a callable ``frame_bgr -> [(x0, y0, x1, y1, score), ...]``, or
                ``"none"`` (a frame without boxes is taken as one face crop).
            config: further options (:class:`~gldpose_sdk.config.EstimatorConfig`).
            platform: override hardware detection (tests, or a known deployment).

        Raises:
            ModelFileError: missing model folder, default model or artefact.
            ManifestMismatchError: the artefact does not match its manifest or this machine.
            BackendUnavailableError: the backend asked for (or every backend) cannot run.
            ValueError: unknown backend name or bad device string.
            InputError: unknown detector name.
        """
        self.config = config or EstimatorConfig()
        parse_device(device)
        self.model_dir = Path(model) if model is not None else require_default_model()
        self.manifest = read_manifest(self.model_dir)
        options = self.config.backend
        if device != "auto":
            options = dataclasses.replace(options, device=device)
        self._detector = build_detector(detector)  # before the backend: nothing to release
        self._detect_lock = threading.Lock()
        self._platform = platform or detect_platform()
        cache = TimingCache(self.config.cache_dir or None)
        self._backend, self._selection = select_backend(
            self.model_dir, self.manifest, backend, options, self._platform, cache,
            measure=self.config.measure_backends)

    # -- single frames and crops ---------------------------------------------------------
    def estimate(self, frame_bgr: np.ndarray, boxes: Sequence[Sequence[float]] | None = None
                 ) -> list[Pose]:
        """Poses of the faces in a frame.

        Args:
            frame_bgr: uint8 BGR image ``[H, W, 3]``.
            boxes: tight face boxes ``(x0, y0, x1, y1)`` in pixels (e.g. from your own
                detector); the model's crop margin is applied here. None runs the detector
                (or, with ``detector="none"``, takes the whole frame as the face box).

        Returns:
            One :class:`Pose` per face, in the order of ``boxes`` (or of detector score).

        Raises:
            InputError: bad frame or box.
        """
        image = check_image(frame_bgr)
        check_frame_size(image, self.config)
        if boxes is None and self._detector is None:
            return self.estimate_crops([image])
        if boxes is None:
            found = self._detect(image)
        else:
            if isinstance(boxes, (str, bytes)) or not hasattr(boxes, "__len__"):
                raise InputError(f"boxes must be a sequence of (x0, y0, x1, y1), got "
                                 f"{type(boxes).__name__}")
            if len(boxes) > self.config.max_faces_per_call:
                raise InputError(f"{len(boxes)} face boxes in one call, more than "
                                 f"max_faces_per_call={self.config.max_faces_per_call}")
            found = [(check_box_in_frame(b, image.shape, self.config), 1.0) for b in boxes]
        if not found:
            return []
        faces = cut_faces(image, found, self.manifest, self.config)
        return infer_poses(self._backend, faces, self.manifest, self.config)

    def estimate_crops(self, crops: Sequence[np.ndarray] | np.ndarray) -> list[Pose]:
        """Poses of already-cut face crops (no detector, no extra margin).

        A crop is a face region cut the way the model's crop rule cuts it (margin included),
        e.g. a dataset's face crop: it is resized (shorter side to the input size, centre
        square) exactly as in :func:`~gldpose_sdk.preprocess.prepare_crop`. For a tight face
        box in a larger image, use :meth:`estimate` with ``boxes`` instead.

        Args:
            crops: list of uint8 BGR ``[H_i, W_i, 3]`` of any sizes, or an ``[N, H, W, 3]`` array.

        Returns:
            One :class:`Pose` per crop; its ``box`` is the whole crop ``(0, 0, W_i, H_i)``.

        Raises:
            InputError: empty input, or a crop that is not uint8 ``[H, W, 3]``.
        """
        if isinstance(crops, np.ndarray) and crops.ndim != 4:
            raise InputError(f"crops array must be [N, H, W, 3], got shape {crops.shape}; "
                             "wrap a single crop as crops[None] or [crop]")
        if isinstance(crops, np.ndarray):
            items = list(crops)
        elif isinstance(crops, (list, tuple)):
            items = list(crops)
        else:
            raise InputError(f"crops must be a list of images or an [N, H, W, 3] array, got "
                             f"{type(crops).__name__}")
        if not items:
            raise InputError("no crops given (empty batch)")
        faces = whole_crops(items, self.manifest, self.config)
        return infer_poses(self._backend, faces, self.manifest, self.config)

    def _detect(self, image: np.ndarray) -> list[tuple[Box, float]]:
        assert self._detector is not None  # estimate() handles detector="none"
        with self._detect_lock:
            detections = self._detector(image)
        found = []
        for det in detections:
            box = check_box(det.box)
            if min(box[2] - box[0], box[3] - box[1]) >= self.config.min_face_px:
                found.append((box, float(det.score)))
        found.sort(key=lambda f: -f[1])
        return found[:self.config.max_faces] if self.config.max_faces else found

    # -- video ------------------------------------------------------------------------------
    def track(self, source: FrameSource, track_config: TrackConfig | None = None,
              fps: float | None = None) -> Iterator[FrameResult]:
        """Detect, follow, estimate and smooth faces over a video.

        The full detector runs on the first frame, every ``detect_every_frames`` frames and
        whenever a followed face is lost; on the frames between, each face's last box is
        re-fitted by the detector's cheap refine step (MTCNN: O-Net alone) and the pose runs
        on it. A detector without a refine step (a user callable) runs on every frame;
        ``detector="none"`` takes each whole frame as one face. None or empty frames (and
        failed camera reads) are skipped and counted: tracks age as on a frame without faces,
        so IDs survive gaps of up to ``max_age_frames``.

        Args:
            source: camera index 0-99 (int or digit string), video file path, or an iterable
                of uint8 BGR frames (a list, a generator, an ``[N, H, W, 3]`` array).
            track_config: tracking, detection schedule and smoothing options; None: defaults.
            fps: frame rate for the time stamps of an iterable (None: wall-clock time).
                Video files use their own frame rate, cameras the wall clock.

        Returns:
            An iterator of :class:`FrameResult`, one per frame that is not skipped; the last
            one of a video file has ``end`` set (an early end is also logged as a WARNING).

        Raises:
            InputError: here, for a source of the wrong type, a camera index outside 0-99
                (OpenCV is never called with it), a missing file or a bad ``fps``; while
                iterating, for a camera or file that cannot be opened or decoded, or a frame
                that is not an image.
        """
        config = track_config if track_config is not None else TrackConfig()
        return self._track(_frame_source(source, fps, config.max_failed_reads), config)

    def _track(self, frames: Iterator[_SourceFrame], config: TrackConfig
               ) -> Iterator[FrameResult]:
        tracker = FaceTracker(config)
        regions = None
        if self._detector is not None:
            refine = (functools.partial(self._refine, config)
                      if isinstance(self._detector, RefiningDetector) else None)
            regions = RegionTracker(config, self._detect, refine)
        skipped, last_t = 0, -math.inf
        for item in frames:
            t_s = last_t = max(item.t_s, last_t + 1e-6)  # the filters need increasing times
            if item.image is None:
                skipped += 1
                tracker.update([], t_s)
                continue
            times = {"decode": item.decode_ms, "detect": 0.0, "refine": 0.0}
            start = time.perf_counter()
            if regions is None:
                poses, detected = self.estimate(item.image), False
            else:
                image = check_image(item.image)
                check_frame_size(image, self.config)  # before the detector sees a huge frame
                found = regions.find(image)
                times["detect"], times["refine"] = found.detect_ms, found.refine_ms
                faces = found.found[:self.config.max_faces or None]
                start = time.perf_counter()
                poses = self.estimate(image, boxes=[box for box, _ in faces]) if faces else []
                poses = [dataclasses.replace(p, score=score) for p, (_, score) in zip(poses, faces)]
                detected = found.detected
            smooth_start = time.perf_counter()
            poses = tracker.update(poses, t_s)
            times["pose"] = (smooth_start - start) * 1e3
            times["smooth"] = (time.perf_counter() - smooth_start) * 1e3
            yield FrameResult(item.index, t_s, poses, item.image, skipped, detected, times,
                              item.end)

    def _refine(self, config: TrackConfig, image: np.ndarray, boxes: list[Box]
                ) -> list[tuple[Box, float] | None]:
        """The refine step for :class:`RegionTracker`, with the detection filters applied."""
        detector = self._detector
        assert isinstance(detector, RefiningDetector)  # _track passes it only then
        with self._detect_lock:
            refined = detector.refine(image, boxes, config.refine_score_threshold,
                                      config.search_scale)
        out: list[tuple[Box, float] | None] = []
        for det in refined:
            box = None if det is None else check_box(det.box)
            small = box is not None and min(box[2] - box[0], box[3] - box[1]) < \
                self.config.min_face_px
            out.append(None if box is None or small else (box, float(det.score)))
        return out

    # -- reporting and life cycle -----------------------------------------------------------
    def describe(self) -> EstimatorInfo:
        """Backend, runtime, device, precision, model, decode, detector, and why this backend."""
        det = self._detector
        det_name = "none (whole frame is the face)" if det is None else det.name
        sel = self._selection
        return EstimatorInfo(self._backend.describe(), sel.requested, sel.platform, sel.skipped,
                             sel.timings_ms, sel.timing_source, str(self.model_dir), self.manifest.backbone,
                             self.manifest.input.size_px, decode_implementation(), det_name)

    @property
    def backend(self) -> Backend:
        """The loaded backend (``infer`` takes batches in its ``input_layout``; for tools)."""
        return self._backend

    def close(self) -> None:
        """Release the backend; later calls raise BackendRuntimeError. Idempotent."""
        self._backend.close()

    def __enter__(self) -> "PoseEstimator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        info = self._backend.describe()
        return (f"PoseEstimator(model={str(self.model_dir)!r}, backend={info.name!r}, "
                f"device={info.device!r}, precision={info.precision!r})")


def iter_frames(source: FrameSource, fps: float | None = None
                ) -> Iterator[tuple[np.ndarray, float]]:
    """Frames and their times in seconds from a camera index, a video file or an iterable.

    None or empty frames and failed camera reads are left out (see
    :meth:`PoseEstimator.track` for how they are counted there).

    Raises:
        InputError: the source has the wrong type, the camera index is outside 0-99, or the
            file is missing (here); the camera or file cannot be opened (while iterating).
    """
    frames = _frame_source(source, fps, TrackConfig().max_failed_reads)
    return ((f.image, f.t_s) for f in frames if f.image is not None)


def _frame_source(source: FrameSource, fps: float | None, max_failed_reads: int
                  ) -> Iterator[_SourceFrame]:
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


def _read_iterable(frames: Iterable[Any], fps: float | None) -> Iterator[_SourceFrame]:
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
        yield _SourceFrame(index, t_s, None if empty else frame, decode_ms)


def _read_camera(index: int, max_failed_reads: int) -> Iterator[_SourceFrame]:
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
            yield _SourceFrame(frame_index, time.monotonic() - start, frame, decode_ms)
    finally:
        cap.release()


def _read_file(path: Path) -> Iterator[_SourceFrame]:
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
            yield _SourceFrame(index, t_s, frame, decode_ms, end)
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
