"""The models shipped inside the package (``gldpose_sdk/models/NAME/``) and how a ``model``
argument names one.

``PoseEstimator(model=...)`` takes a model folder, or the name of a built-in model:

* ``"default"`` (also ``model=None``): mobilenet_v3_large at width 0.75, 96 px, distilled from
  ``"large"``, then fine-tuned with a ResNet50 among its teachers: less yaw error on real faces
  than ``"large"`` (5.61 against 5.77 degrees), a little more pitch/roll error on renders, about
  0.7x the network time (docs/results/default_model.md, top);
* ``"large"``: mobilenet_v3_large at 96 px, the previous default (docs/results/default_model.md,
  round 7) and the default recipe's teacher;
* ``"fast"``: mobilenet_v3_small at 96 px, about half of ``"large"``'s network time for 0.1-0.4
  degree more error than it (docs/results/default_model.md and latency.md, round 6: "the fast
  built-in model").

A folder that exists wins over a built-in name, so ``model="fast"`` with a ``./fast`` model folder
in the working directory loads that folder (the error message says which was looked at).
"""
from __future__ import annotations

from pathlib import Path

from gldpose_sdk.errors import ModelFileError
from gldpose_sdk.manifest import MANIFEST_NAME

#: Built-in model names and what each is (for help texts and errors).
BUILTIN_MODELS = {
    "default": "mobilenet_v3_large at width 0.75, 96 px, distilled from large and a ResNet50",
    "large": "mobilenet_v3_large at 96 px: better pitch/roll, about 1.4x the network time",
    "fast": "mobilenet_v3_small at 96 px: about 0.6x the default's network time, less accurate",
}
DEFAULT_MODEL = "default"
_MODELS_DIR = Path(__file__).resolve().parent / "models"


def builtin_model_dir(name: str = DEFAULT_MODEL) -> Path:
    """Path of a built-in model's folder inside the package (it may be absent)."""
    if name not in BUILTIN_MODELS:
        raise ModelFileError(f"unknown built-in model {name!r}; built-in models: "
                             f"{', '.join(sorted(BUILTIN_MODELS))}")
    return _MODELS_DIR / name


def default_model_dir() -> Path:
    """Path of the default model folder shipped with the package (it may be absent)."""
    return builtin_model_dir(DEFAULT_MODEL)


def require_builtin_model(name: str = DEFAULT_MODEL) -> Path:
    """A built-in model's folder, checked to hold a manifest.

    Raises:
        ModelFileError: unknown name, or the package was installed without that model.
    """
    path = builtin_model_dir(name)
    if not (path / MANIFEST_NAME).is_file():
        raise ModelFileError(
            f"the built-in {name} model is missing: no {MANIFEST_NAME} in {path}. Pass "
            "model=DIR (a folder written by `gldpose train` or `gldpose export`), or reinstall "
            "gldpose with its built-in models")
    return path


def resolve_model(model: str | Path | None) -> Path:
    """The folder a ``model`` argument means: None -> the default model; an existing path -> that
    path; a built-in name -> its folder; anything else -> the path as given (the manifest reader
    then says it is not a model folder)."""
    if model is None:
        return require_builtin_model(DEFAULT_MODEL)
    path = Path(model)
    if isinstance(model, str) and model in BUILTIN_MODELS and not path.exists():
        return require_builtin_model(model)
    return path
