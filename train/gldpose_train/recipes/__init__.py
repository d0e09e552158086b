"""Training recipes: named, saved presets of :class:`~gldpose_train.config.TrainConfig`.

A recipe is a JSON file of ``TrainConfig`` fields in this folder (``default.json``,
``paper.json``, ...), or any JSON file given by path. ``gldpose train --recipe NAME`` starts from
it and the flags given on the command line override single fields; the recipe's name is recorded
in the config and in the model's manifest.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from gldpose_train import TrainError
from gldpose_train.config import TrainConfig

RECIPES_DIR = Path(__file__).resolve().parent
NESTED_FIELDS = ("loss", "resident_augment")   # merged key by key, not replaced


def recipe_names() -> list[str]:
    """Names of the built-in recipes."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.json"))


def _layer(lower: dict[str, Any], upper: dict[str, Any]) -> dict[str, Any]:
    """``upper``'s fields over ``lower``'s; nested fields (NESTED_FIELDS) merge key by key."""
    merged = {**lower, **upper}
    for key in NESTED_FIELDS:
        if isinstance(upper.get(key), dict):
            merged[key] = {**lower.get(key, {}), **upper[key]}
    return merged


def recipe_fields(name_or_path: str) -> dict[str, Any]:
    """The fields a recipe sets (built-in name or path to a JSON file).

    Raises:
        TrainError: unknown recipe, unreadable file, or a field TrainConfig does not have.
    """
    path = Path(name_or_path)
    if not path.suffix == ".json":
        path = RECIPES_DIR / f"{name_or_path}.json"
    if not path.is_file():
        raise TrainError(f"unknown recipe {name_or_path!r}; built-in recipes: "
                         f"{', '.join(recipe_names())} (or give a path to a .json file)")
    try:
        fields = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrainError(f"cannot read recipe {path}: {exc}") from exc
    if not isinstance(fields, dict):
        raise TrainError(f"recipe {path} must hold a JSON object of TrainConfig fields")
    fields.pop("comment", None)
    base = fields.pop("base", None)
    if base is not None:          # a recipe may name another and set only what differs
        if not isinstance(base, str) or Path(base).stem == path.stem:
            raise TrainError(f"recipe {path}: 'base' must name another recipe")
        fields = _layer(recipe_fields(base), fields)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise TrainError(f"recipe {path} sets unknown field(s) {unknown}")
    return fields


def config_from_recipe(name_or_path: str, **overrides: Any) -> TrainConfig:
    """A TrainConfig: the recipe's fields, then ``overrides`` (e.g. ``data``, ``out_dir``).

    Nested fields (``loss``, ``resident_augment``) merge key by key.
    """
    merged = {**_layer(recipe_fields(name_or_path), overrides),
              "recipe": Path(name_or_path).stem}
    try:
        return TrainConfig.from_dict(merged)
    except (TypeError, ValueError) as exc:
        raise TrainError(f"recipe {name_or_path!r}: {exc}") from exc
