"""Built-in model names: what ``PoseEstimator(model=...)`` and ``gldpose predict --model`` resolve."""
from __future__ import annotations

from pathlib import Path

import pytest

import gldpose_sdk.builtin_models as builtin_models
from gldpose_sdk.builtin_models import BUILTIN_MODELS, builtin_model_dir, resolve_model
from gldpose_sdk.errors import ModelFileError
from gldpose_sdk.manifest import MANIFEST_NAME


def test_none_and_names_resolve_to_the_package_folders() -> None:
    assert resolve_model(None) == builtin_model_dir("default")
    for name in BUILTIN_MODELS:
        folder = resolve_model(name)
        assert folder == builtin_model_dir(name) and (folder / MANIFEST_NAME).is_file()
        assert folder.parent.name == "models" and folder.name == name


def test_an_existing_folder_wins_over_a_name(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fast").mkdir()
    assert resolve_model("fast") == Path("fast")
    assert resolve_model(Path("elsewhere")) == Path("elsewhere")  # paths are never names
    assert resolve_model("not-a-name") == Path("not-a-name")


def test_unknown_and_missing_built_in_models(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelFileError, match="unknown built-in model 'tiny'"):
        builtin_model_dir("tiny")
    monkeypatch.setattr(builtin_models, "_MODELS_DIR", tmp_path)
    with pytest.raises(ModelFileError, match="built-in fast model is missing"):
        resolve_model("fast")
