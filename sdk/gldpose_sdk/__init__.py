"""gldpose SDK: head pose (yaw, pitch, roll, with uncertainty) from face crops and frames.

``import gldpose_sdk`` needs only numpy (and OpenCV for images); runtimes load on demand.
"""
from __future__ import annotations

from gldpose_sdk.errors import (
    BackendRuntimeError,
    BackendUnavailableError,
    GldposeError,
    InputError,
    ManifestMismatchError,
    ModelFileError,
)

__version__ = "0.1.0"

__all__ = [
    "BackendRuntimeError",
    "BackendUnavailableError",
    "GldposeError",
    "InputError",
    "ManifestMismatchError",
    "ModelFileError",
    "__version__",
]
