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
)
from gldpose_sdk.pose import Pose

if TYPE_CHECKING:
    from gldpose_sdk.estimator import PoseEstimator

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # PoseEstimator pulls in the backend registry and OpenCV video code: load it on first use.
    if name == "PoseEstimator":
        from gldpose_sdk.estimator import PoseEstimator

        return PoseEstimator
    raise AttributeError(f"module 'gldpose_sdk' has no attribute {name!r}")


__all__ = [
    "BackendRuntimeError",
    "BackendUnavailableError",
    "GldposeError",
    "InputError",
    "ManifestMismatchError",
    "ModelFileError",
    "Pose",
    "PoseEstimator",
    "__version__",
]
