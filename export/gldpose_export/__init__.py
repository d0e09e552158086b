"""gldpose export: checkpoint -> ONNX / OpenVINO IR / TensorRT engine, each checked against PyTorch.

Importing this package is cheap: torch and the runtimes load only inside the format modules.
"""
from __future__ import annotations

from gldpose_sdk.errors import GldposeError


class ExportError(GldposeError):
    """An export step failed, or cannot run here (missing package, bad input)."""


class ParityError(GldposeError):
    """An exported artefact's angles differ from PyTorch's by more than the tolerance."""


__all__ = ["ExportError", "ParityError"]
