"""PoseEstimator: detector -> preprocess -> backend -> decode, for frames, crops and video.

Example::

    from gldpose_sdk import PoseEstimator
    with PoseEstimator() as est:                      # default model, fastest backend here
        poses = est.estimate(frame_bgr)               # faces found by the built-in detector
        poses = est.estimate(frame_bgr, boxes=[(x0, y0, x1, y1)])   # your own tight boxes
"""
from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, Union

import cv2
import numpy as np

from gldpose_sdk.backends.base import Backend, BackendInfo
from gldpose_sdk.config import EstimatorConfig, parse_device
from gldpose_sdk.decode import decode_implementation, decode_logits
from gldpose_sdk.default_model import require_default_model
from gldpose_sdk.detect import FaceDetector, build_detector
from gldpose_sdk.errors import InputError
from gldpose_sdk.hardware import PlatformInfo, detect_platform
from gldpose_sdk.manifest import CropRule, read_manifest
from gldpose_sdk.pose import Box, Pose
from gldpose_sdk.preprocess import check_box, check_image, normalise, prepare_crop
from gldpose_sdk.select import select_backend
from gldpose_sdk.track import FaceTracker, TrackConfig

#: A detector spec: "auto", "none", a name of ``gldpose_sdk.detect.DETECTORS``, a
#: :class:`~gldpose_sdk.detect.FaceDetector`, or a callable
#: ``frame_bgr -> [(x0, y0, x1, y1[, score]), ...]``.
DetectorSpec = Union[str, FaceDetector, Callable[[np.ndarray], Sequence[Any]]]
#: What :meth:`PoseEstimator.track` reads: a camera index, a video file, or frames.
FrameSource = Union[int, str, Path, Iterable[np.ndarray]]

_NO_MARGIN = CropRule(left_frac=0.0, top_frac=0.0, right_frac=0.0, bottom_frac=0.0)


@dataclass(frozen=True)
class EstimatorInfo:
    """What :meth:`PoseEstimator.describe` reports.

    Attributes:
        backend: the loaded backend (runtime version, device, precision, artefact + sha256).
        requested_backend: ``"auto"`` or the name asked for.
        platform: ``"cpu"``, ``"nvidia_gpu"`` or ``"jetson"``.
        skipped: ``(backend, device, reason)`` for each candidate passed over by ``"auto"``.
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
    model_dir: str
    backbone: str
    input_size_px: int
    decode: str
    detector: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        out = asdict(self)
        out["skipped"] = [list(s) for s in self.skipped]
        return out


@dataclass(frozen=True)
class FrameResult:
    """One frame of :meth:`PoseEstimator.track`: index, time in seconds, tracked poses, frame."""

    index: int
    t_s: float
    poses: list[Pose]
    frame: np.ndarray = field(repr=False, compare=False)


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
        self._backend, self._selection = select_backend(
            self.model_dir, self.manifest, backend, options, self._platform)
        self._centres = self.manifest.bins.centres_deg()

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
        if boxes is None and self._detector is None:
            return self.estimate_crops([image])
        if boxes is None:
            found = self._detect(image)
        else:
            found = [(check_box(b), 1.0) for b in boxes]
        if not found:
            return []
        size = self.manifest.input.size_px
        crops = np.stack([prepare_crop(image, box, self.manifest.crop, size) for box, _ in found])
        return self._poses(crops, found)

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
        items = list(crops)
        if not items:
            raise InputError("no crops given (empty batch)")
        size = self.manifest.input.size_px
        found, prepared = [], []
        for i, crop in enumerate(items):
            crop = check_image(crop, f"crop {i}")
            box = (0.0, 0.0, float(crop.shape[1]), float(crop.shape[0]))
            prepared.append(prepare_crop(crop, box, _NO_MARGIN, size))
            found.append((box, 1.0))
        return self._poses(np.stack(prepared), found)

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

    def _poses(self, crops_rgb: np.ndarray, found: list[tuple[Box, float]]) -> list[Pose]:
        logits = self._backend.infer(normalise(crops_rgb, self.manifest.input))
        angles, std = decode_logits(logits, self._centres)
        return [Pose(*(float(v) for v in angles[i]), *(float(v) for v in std[i]),
                     box=tuple(float(v) for v in box), score=score)
                for i, (box, score) in enumerate(found)]

    # -- video ------------------------------------------------------------------------------
    def track(self, source: FrameSource, track_config: TrackConfig | None = None,
              fps: float | None = None) -> Iterator[FrameResult]:
        """Detect, estimate, associate and smooth faces over a video.

        Args:
            source: camera index (int or digit string), video file path, or an iterable of
                uint8 BGR frames.
            track_config: One Euro filter and association options; None uses the defaults.
            fps: frame rate for the time stamps of an iterable (None: wall-clock time).
                Video files use their own frame rate, cameras the wall clock.

        Yields:
            :class:`FrameResult` per frame, poses carrying ``track_id`` and smoothed angles.

        Raises:
            InputError: the camera or file cannot be opened, or a frame is not an image.
        """
        tracker = FaceTracker(track_config if track_config is not None else TrackConfig())
        for index, (frame, t_s) in enumerate(iter_frames(source, fps)):
            poses = tracker.update(self.estimate(frame), t_s)
            yield FrameResult(index, t_s, poses, frame)

    # -- reporting and life cycle -----------------------------------------------------------
    def describe(self) -> EstimatorInfo:
        """Backend, runtime, device, precision, model, decode, detector, and why this backend."""
        det = self._detector
        det_name = "none (whole frame is the face)" if det is None else det.name
        sel = self._selection
        return EstimatorInfo(self._backend.describe(), sel.requested, sel.platform, sel.skipped,
                             str(self.model_dir), self.manifest.backbone,
                             self.manifest.input.size_px, decode_implementation(), det_name)

    @property
    def backend(self) -> Backend:
        """The loaded backend (``infer`` takes normalised batches; for benchmarks and tools)."""
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

    Raises:
        InputError: the camera or file cannot be opened.
    """
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        yield from _read_capture(cv2.VideoCapture(int(source)), f"camera {source}", None)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InputError(f"video file not found: {path}")
        yield from _read_capture(cv2.VideoCapture(str(path)), str(path), "file")
    else:
        start = time.monotonic()
        for index, frame in enumerate(source):
            yield frame, (index / fps if fps else time.monotonic() - start)


def _read_capture(cap: cv2.VideoCapture, what: str, kind: str | None
                  ) -> Iterator[tuple[np.ndarray, float]]:
    if not cap.isOpened():
        raise InputError(f"cannot open {what} with OpenCV")
    try:
        file_fps = cap.get(cv2.CAP_PROP_FPS) if kind == "file" else 0.0
        start, index = time.monotonic(), 0
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame, (index / file_fps if file_fps > 0 else time.monotonic() - start)
            index += 1
    finally:
        cap.release()
