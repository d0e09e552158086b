"""gldpose SDK: head pose (yaw, pitch, roll, with uncertainty) from face crops and frames.

``import gldpose_sdk`` needs only numpy (and OpenCV for images); runtimes load on demand.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gldpose_sdk.errors import (
    BackendRuntimeError,
    BackendUnavailableError,
    GldposeError,
    InputError,
    ManifestMismatchError,
    ModelFileError,
    UnknownNameError,
)
from gldpose_sdk.pose import Pose, PoseQuality

if TYPE_CHECKING:
    from gldpose_sdk.config import EstimatorConfig
    from gldpose_sdk.estimator import PoseEstimator
    from gldpose_sdk.track import TrackConfig
    from gldpose_sdk.video import FrameResult, StreamEnd

__version__ = "0.1.0"


_LAZY = {"PoseEstimator": "gldpose_sdk.estimator", "EstimatorConfig": "gldpose_sdk.config",
         "TrackConfig": "gldpose_sdk.track", "FrameResult": "gldpose_sdk.video",
         "StreamEnd": "gldpose_sdk.video"}


def __getattr__(name: str) -> Any:
    # The estimator pulls in the backend registry and OpenCV video code: load on first use.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gldpose_sdk' has no attribute {name!r}")


__all__ = [
    "BackendRuntimeError",
    "BackendUnavailableError",
    "EstimatorConfig",
    "FrameResult",
    "GldposeError",
    "InputError",
    "ManifestMismatchError",
    "ModelFileError",
    "Pose",
    "PoseEstimator",
    "PoseQuality",
    "StreamEnd",
    "TrackConfig",
    "UnknownNameError",
    "__version__",
]
