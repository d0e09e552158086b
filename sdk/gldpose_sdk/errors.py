"""One error hierarchy for the whole project, rooted in the SDK.

train/ and export/ add their own classes under :class:`GldposeError`.
"""
from __future__ import annotations


class GldposeError(Exception):
    """Root of every error raised on purpose by gldpose."""


class InputError(GldposeError, ValueError):
    """Unreadable image, wrong rank/dtype/shape, empty batch or bad box."""


class ModelFileError(GldposeError):
    """A model artefact is missing, truncated or corrupt."""


class ManifestMismatchError(ModelFileError):
    """A manifest does not match its artefact or the runtime (hash, version, sizes, GPU)."""


class BackendUnavailableError(GldposeError):
    """A backend cannot run here (package or device missing); ``reason`` says why."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason if reason is not None else message


class BackendRuntimeError(GldposeError):
    """A runtime failed during inference or produced non-finite output."""


class UnknownNameError(GldposeError, ValueError):
    """A name that no registry holds (backend, detector, export format, dataset, recipe)."""
