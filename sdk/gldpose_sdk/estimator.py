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
import logging
import math
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, Union

import numpy as np

from gldpose_sdk.backend_timing import TimingCache
from gldpose_sdk.backends.base import Backend, BackendInfo
from gldpose_sdk.config import EstimatorConfig, parse_device
from gldpose_sdk.decode import decode_implementation
from gldpose_sdk.builtin_models import resolve_model
from gldpose_sdk.detect import FaceDetector, RefiningDetector, build_detector
from gldpose_sdk.errors import InputError
from gldpose_sdk.face_crops import (
    FaceCrops,
    check_box_in_frame,
    check_frame_size,
    cut_faces,
    whole_crops,
)
from gldpose_sdk.hardware import PlatformInfo, detect_platform
from gldpose_sdk.inference import PoseDecoder, infer_poses
from gldpose_sdk.manifest import read_manifest
from gldpose_sdk.pose import Box, Pose
from gldpose_sdk.preprocess import check_box, check_image, crop_implementation
from gldpose_sdk.selection import select_backend
from gldpose_sdk.track import FaceTracker, RegionTracker, TrackConfig
from gldpose_sdk.video import (
    FrameResult,
    FrameSource,
    SourceFrame,
    StreamEnd,
    iter_frames,
    open_source,
)

__all__ = ["EstimatorInfo", "FrameResult", "PoseEstimator", "StreamEnd", "iter_frames"]

#: A detector spec: "auto", "none", a name of ``gldpose_sdk.detect.DETECTORS``, a
#: :class:`~gldpose_sdk.detect.FaceDetector`, or a callable
#: ``frame_bgr -> [(x0, y0, x1, y1[, score]), ...]``.
DetectorSpec = Union[str, FaceDetector, Callable[[np.ndarray], Sequence[Any]]]

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
        num_threads: CPU threads ``"auto"`` settled on (0: the runtime's default or the count
            asked for in ``BackendOptions.num_threads``).
        thread_timings_ms: ``(threads, ms at batch 1)`` of the chosen backend with the
            runtime's default threads (0) and one thread, when ``"auto"`` compared them.
        model_dir: the model folder.
        backbone: the network's backbone.
        input_size_px: side of the square network input.
        decode: ``"compiled"`` (C++ extension) or ``"numpy"``.
        detector: the face detector used for frames without boxes.
        crop: ``"compiled"`` (C++ extension, checked against OpenCV) or ``"opencv"``: what cuts
            faces inside the frame (:func:`gldpose_sdk.preprocess.crop_implementation`).
    """

    backend: BackendInfo
    requested_backend: str
    platform: str
    skipped: tuple[tuple[str, str, str], ...]
    timings_ms: tuple[tuple[str, str, float], ...]
    timing_source: str
    num_threads: int
    thread_timings_ms: tuple[tuple[int, float], ...]
    model_dir: str
    backbone: str
    input_size_px: int
    decode: str
    detector: str
    crop: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        out = asdict(self)
        out["skipped"] = [list(s) for s in self.skipped]
        out["timings_ms"] = [list(t) for t in self.timings_ms]
        out["thread_timings_ms"] = [list(t) for t in self.thread_timings_ms]
        return out


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
            model: model folder (manifest.json + artefacts), or a built-in model's name
                (``"default"``, ``"fast"``: :mod:`gldpose_sdk.builtin_models`); None uses the
                default.
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
            ValueError: bad device string.
            UnknownNameError: unknown backend or detector name (also a ValueError).
        """
        self.config = config or EstimatorConfig()
        parse_device(device)
        self.model_dir = resolve_model(model)
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
        self._decoder = PoseDecoder(self.manifest, self.config.quality)

    def _infer(self, faces: FaceCrops) -> list[Pose]:
        """The network and the decode for a batch of crops, with this estimator's decoder
        (made again if ``manifest`` or ``config.quality`` were replaced since)."""
        decoder, config = self._decoder, self.config
        if decoder.manifest is not self.manifest or decoder.quality is not config.quality:
            decoder = self._decoder = PoseDecoder(self.manifest, config.quality)
        return infer_poses(self._backend, faces, decoder, config.flip_average)

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
        return self._infer(faces)

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
        return self._infer(faces)

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
        return self._track(open_source(source, fps, config.max_failed_reads), config)

    def _track(self, frames: Iterator[SourceFrame], config: TrackConfig
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
                             sel.timings_ms, sel.timing_source, sel.num_threads,
                             sel.thread_timings_ms, str(self.model_dir), self.manifest.backbone,
                             self.manifest.input.size_px, decode_implementation(), det_name,
                             crop_implementation(self.manifest.input))

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
