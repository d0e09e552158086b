"""Where the built-in default model lives: ``gldpose_sdk/models/default/`` inside the package."""
from __future__ import annotations

from pathlib import Path

from gldpose_sdk.errors import ModelFileError
from gldpose_sdk.manifest import MANIFEST_NAME


def default_model_dir() -> Path:
    """Path of the default model folder shipped with the package (it may be absent)."""
    return Path(__file__).resolve().parent / "models" / "default"


def require_default_model() -> Path:
    """The default model folder, checked to hold a manifest.

    Raises:
        ModelFileError: the package was installed without its default model.
    """
    path = default_model_dir()
    if not (path / MANIFEST_NAME).is_file():
        raise ModelFileError(
            f"the built-in default model is missing: no {MANIFEST_NAME} in {path}. Pass "
            "model=DIR (a folder written by `gldpose train` or `gldpose export`), or reinstall "
            "gldpose with its default model")
    return path
