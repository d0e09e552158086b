"""Measuring what helps: train variants of a recipe under one budget and compare them.

``gldpose ablate --recipe default --data D --out OUT --set epochs=12 --variant base
--variant no_renders:mix_fraction=0 --variant hopenet:loss.name=hopenet,loss.alpha=1
--eval val=crops:D:val --eval renders=synthetic:R``

Every variant is the recipe, then the common ``--set`` overrides, then its own ``key=value``
overrides (dotted keys reach nested fields: ``loss.name``, ``resident_augment.rotate_deg``;
values are JSON where they parse, else strings). Each trains into ``OUT/NAME`` with the one
trainer (a stopped variant resumes from its checkpoint), then is evaluated on every ``--eval``
set with and without flip averaging. ``OUT/results.json`` and ``OUT/results.md`` collect the
table; finished variants are not retrained.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from gldpose_sdk.model import load_model
from gldpose_train import TrainError
from gldpose_train.loop import CHECKPOINT_NAME, train
from gldpose_train.model_eval import EvalSet, evaluate_model, format_results
from gldpose_train.recipes import config_from_recipe

_LOG = logging.getLogger(__name__)
DONE_NAME = "ablation_done.json"


def parse_assignments(text: str) -> dict[str, Any]:
    """``a=1,loss.name=hopenet`` -> nested dict ``{"a": 1, "loss": {"name": "hopenet"}}``.

    Raises:
        TrainError: an item without ``=``.
    """
    out: dict[str, Any] = {}
    for item in (t for t in text.split(",") if t.strip()):
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise TrainError(f"override {item!r}: expected KEY=VALUE")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        target = out
        *parents, leaf = key.strip().split(".")
        for p in parents:
            target = target.setdefault(p, {})
        target[leaf] = value
    return out


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME[:KEY=VALUE,...]`` -> (name, overrides)."""
    name, _, rest = text.partition(":")
    if not name or "/" in name:
        raise TrainError(f"variant {text!r}: expected NAME[:KEY=VALUE,...]")
    return name, parse_assignments(rest)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def run_variant(recipe: str, data: str, out: Path, name: str, overrides: dict[str, Any]) -> Path:
    """Train one variant into ``out/name`` (resuming if it was stopped); return its folder."""
    run = out / name
    if (run / DONE_NAME).is_file():
        _LOG.info("variant %s already trained", name)
        return run
    fields = _merge(overrides, {"data": data, "out_dir": str(run),
                                "resume": (run / CHECKPOINT_NAME).is_file()})
    summary = train(config_from_recipe(recipe, **fields))
    (run / DONE_NAME).write_text(json.dumps({"overrides": overrides, "steps": summary["steps"],
                                             "epochs": summary["epochs"],
                                             "seconds": summary["seconds"]}, indent=2))
    return run


def run_ablation(recipe: str, data: str, out: Path, variants: list[tuple[str, dict]],
                 common: dict[str, Any], eval_sets: list[EvalSet], flip: bool = True) -> dict:
    """Train and evaluate every variant; write ``results.json`` and ``results.md``."""
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    for name, overrides in variants:
        run = run_variant(recipe, data, out, name, _merge(common, overrides))
        model, manifest = load_model(run)
        for evalset in eval_sets:
            for use_flip in ((False, True) if flip else (False,)):
                key = f"{name}|{evalset.name}|{'flip' if use_flip else 'plain'}"
                results[key] = evaluate_model(model, manifest, evalset, flip=use_flip)
                results[key]["overrides"] = _merge(common, overrides)
        results_path.write_text(json.dumps(results, indent=2, sort_keys=True))
        (out / "results.md").write_text(format_results(results) + "\n")
        _LOG.info("variant %s evaluated:\n%s", name, format_results(
            {k: v for k, v in results.items() if k.startswith(f"{name}|")}))
    return results
