"""OpenCV's bundled Haar cascades: frontal + profile + mirrored profile, merged with NMS.

The cascades ship in opencv-python(-headless) 4.x (``cv2.data.haarcascades``); OpenCV 5 dropped
``CascadeClassifier`` from the main modules, so this detector needs ``opencv-python-headless<5``.
The profile cascade finds faces turned one way only, hence the mirrored pass. Each source has
its own measured correction to the tight landmark box (docs/results/detectors.md).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gldpose_sdk.detect import BoxCorrection, Detection, FaceDetector, check_frame, nms
from gldpose_sdk.errors import BackendUnavailableError, InputError

# Native cascade box -> 68-landmark box, per source; mean of the medians fitted on
# renders and on real photos by benchmarks/detectors.py --calibrate (docs/results/detectors.md).
# The mirrored profile pass uses the "profile" correction with dx_frac negated.
CASCADE_CORRECTIONS = {
    "frontal": BoxCorrection(dx_frac=0.0, dy_frac=0.184, scale_w=0.904, scale_h=0.915),
    "profile": BoxCorrection(dx_frac=-0.002, dy_frac=0.131, scale_w=0.696, scale_h=0.728),
}


@dataclass(frozen=True)
class CascadeConfig:
    """Cascade options.

    Attributes:
        min_face_px: smallest face side searched, pixels.
        scale_factor: image pyramid step.
        min_neighbors: overlapping raw hits needed to accept a face (higher: fewer false hits).
        nms_iou: IoU above which hits of the three passes are merged.
    """

    min_face_px: int = 30
    scale_factor: float = 1.1
    min_neighbors: int = 4
    nms_iou: float = 0.3

    def __post_init__(self) -> None:
        if self.min_face_px < 20 or self.scale_factor <= 1.0 or self.min_neighbors < 1:
            raise InputError(f"invalid CascadeConfig: {self}")


def _cascade(file_name: str) -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / file_name
    classifier = cv2.CascadeClassifier(str(path))
    if classifier.empty():
        raise BackendUnavailableError(f"OpenCV cascade {path} missing or unreadable")
    return classifier


class CascadeDetector(FaceDetector):
    """Haar cascades (frontal + profile both ways); scores are a logistic of the stage weight."""

    name = "opencv-cascade"

    def __init__(self, config: CascadeConfig | None = None) -> None:
        if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
            reason = f"OpenCV {cv2.__version__} has no CascadeClassifier (needs opencv<5)"
            raise BackendUnavailableError(f"face detector 'opencv-cascade' unavailable: {reason}",
                                          reason)
        self.config = config or CascadeConfig()
        self._frontal = _cascade("haarcascade_frontalface_alt2.xml")
        self._profile = _cascade("haarcascade_profileface.xml")
        self._lock = threading.Lock()

    def _run(self, classifier: cv2.CascadeClassifier, gray: np.ndarray) -> list[Detection]:
        cfg = self.config
        with self._lock:
            rects, _, weights = classifier.detectMultiScale3(
                gray, scaleFactor=cfg.scale_factor, minNeighbors=cfg.min_neighbors,
                minSize=(cfg.min_face_px, cfg.min_face_px), outputRejectLevels=True)
        out = []
        for (x, y, w, h), weight in zip(np.reshape(rects, (-1, 4)), np.ravel(weights)):
            score = float(1.0 / (1.0 + np.exp(-float(weight))))
            out.append(Detection((float(x), float(y), float(x + w), float(y + h)), score))
        return out

    def detect_native(self, frame_bgr: np.ndarray) -> list[tuple[str, Detection]]:
        """Uncorrected hits of each pass, as ``(source, detection)``; boxes in frame pixels.

        ``source`` is "frontal", "profile" or "profile_mirrored" (the mirrored pass's boxes are
        mapped back to the frame).
        """
        gray = cv2.equalizeHist(cv2.cvtColor(check_frame(frame_bgr), cv2.COLOR_BGR2GRAY))
        width = gray.shape[1]
        hits = [("frontal", d) for d in self._run(self._frontal, gray)]
        hits += [("profile", d) for d in self._run(self._profile, gray)]
        for d in self._run(self._profile, np.ascontiguousarray(gray[:, ::-1])):
            x0, y0, x1, y1 = d.box
            hits.append(("profile_mirrored", Detection((width - x1, y0, width - x0, y1), d.score)))
        return hits

    def _detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        fixed = [Detection(_correction(src).apply(d.box), d.score)
                 for src, d in self.detect_native(frame_bgr)]
        if not fixed:
            return []
        keep = nms(np.array([d.box for d in fixed]), np.array([d.score for d in fixed]),
                   self.config.nms_iou)
        return [fixed[i] for i in keep]


def _correction(source: str) -> BoxCorrection:
    if source == "profile_mirrored":
        c = CASCADE_CORRECTIONS["profile"]
        return BoxCorrection(-c.dx_frac, c.dy_frac, c.scale_w, c.scale_h)
    return CASCADE_CORRECTIONS[source]
