"""Measuring what helps: train variants of a recipe under one budget and compare them.

``gldpose ablate --recipe default --data D --out OUT --set epochs=12 --variant base
--variant no_renders:mix_fraction=0 --variant hopenet:loss.name=hopenet,loss.alpha=1
--eval val=crops:D:val --eval renders=synthetic:R``

Every variant is the recipe, then the common ``--set`` overrides, then its own ``key=value``
overrides (dotted keys reach nested fields: ``loss.name``, ``resident_augment.rotate_deg``;
values are JSON where they parse, else strings). Each trains into ``OUT/NAME`` with the one
trainer (a stopped variant resumes from its checkpoint), then is evaluated on every ``--eval``
set with and without flip averaging. ``OUT/results.json`` and ``OUT/results.md`` collect the
table, ``OUT/results_yaw_bands.png`` plots each variant's yaw error by |yaw| band; finished
variants are not retrained.

A ``synth:`` mix source common to the variants is rendered once into ``OUT`` and shared. With
``parallel`` > 1 up to that many variants train at once, each in its own process logging to
``OUT/NAME.log`` (several small runs side by side on one GPU: ``--set device=cuda,
time_budget_s=420 --parallel 7``); evaluation follows in this process.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from gldpose_sdk.model import load_model
from gldpose_train import TrainError
from gldpose_train.loop import CHECKPOINT_NAME, train
from gldpose_train.mix_source import SYNTH_PREFIX, resolve_mix_data
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


def shared_mix_source(recipe: str, data: str, out: Path, common: dict[str, Any]
                      ) -> dict[str, Any]:
    """``common`` with a ``synth:`` mix source rendered once into ``out`` for every variant.

    Without this each variant would render the same heads into its own folder. A variant that
    sets its own ``mix_data`` keeps it. Rendering uses every core (the images do not depend on
    the worker count).
    """
    base = config_from_recipe(recipe, **_merge(common, {"data": data, "out_dir": str(out)}))
    if not base.mix_data.startswith(SYNTH_PREFIX):
        return common
    folder = resolve_mix_data(dataclasses.replace(base, workers=os.cpu_count() or 1))
    return _merge(common, {"mix_data": folder}) if folder else common   # '': nothing mixed in


def _train_logged(recipe: str, data: str, out: Path, name: str, overrides: dict[str, Any],
                  threads: int) -> str:
    """:func:`run_variant` in a worker process: its log and progress bars go to OUT/NAME.log."""
    import torch

    torch.set_num_threads(threads)
    with open(out / f"{name}.log", "a", buffering=1) as log:
        sys.stderr = log   # tqdm's bars
        logging.basicConfig(level=logging.INFO, stream=log, force=True,
                            format="%(asctime)s %(levelname)s %(message)s")
        run_variant(recipe, data, out, name, overrides)
    return name


def train_side_by_side(recipe: str, data: str, out: Path, variants: list[tuple[str, dict]],
                       parallel: int) -> dict[str, str]:
    """Train the unfinished variants, ``parallel`` at a time, each in a spawned process.

    Returns:
        name -> error text of each variant whose training failed (the others are done).
    """
    todo = [(n, o) for n, o in variants if not (out / n / DONE_NAME).is_file()]
    if not todo:
        return {}
    workers = min(parallel, len(todo))
    threads = max(1, (os.cpu_count() or 1) // workers)
    failed: dict[str, str] = {}
    with ProcessPoolExecutor(max_workers=workers,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        jobs = {pool.submit(_train_logged, recipe, data, out, n, o, threads): n for n, o in todo}
        _LOG.info("training %d variants, %d at a time, logs in %s/NAME.log", len(todo), workers,
                  out)
        for job in as_completed(jobs):
            name = jobs[job]
            try:
                job.result()
                _LOG.info("variant %s trained", name)
            except Exception as exc:  # noqa: BLE001 - reported per variant, raised at the end
                failed[name] = f"{type(exc).__name__}: {exc}"
                _LOG.error("variant %s failed: %s (log %s)", name, failed[name],
                           out / f"{name}.log")
    return failed


def plot_yaw_bands_by_variant(results: dict[str, dict], path: Path) -> Path | None:
    """Yaw MAE per |yaw| band, one panel per evaluation set, one line per variant (plain rows).

    Returns the PNG's path, or None when no row has bands.
    """
    rows = {k: v for k, v in results.items() if k.endswith("|plain") and v.get("bands")}
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = sorted({k.split("|")[1] for k in rows})
    fig, axes = plt.subplots(1, len(sets), figsize=(5 * len(sets), 3.6), dpi=100, squeeze=False)
    for ax, set_name in zip(axes[0], sets):
        for key, row in sorted(rows.items()):
            variant, row_set, _ = key.split("|")
            if row_set == set_name:
                bands = list(row["bands"])
                ax.plot(bands, [row["bands"][b]["yaw"] for b in bands], "o-", label=variant)
        ax.set_title(f"{set_name}: yaw MAE by |yaw| band")
        ax.set_xlabel("|yaw| band (degrees)")
        ax.set_ylabel("yaw MAE (degrees)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def run_ablation(recipe: str, data: str, out: Path, variants: list[tuple[str, dict]],
                 common: dict[str, Any], eval_sets: list[EvalSet], flip: bool = True,
                 parallel: int = 1) -> dict:
    """Train and evaluate every variant; write ``results.json`` and ``results.md``.

    Raises:
        TrainError: ``parallel`` < 1, or variants that failed to train side by side (named;
            the others are evaluated first).
    """
    if parallel < 1:
        raise TrainError(f"parallel must be >= 1, got {parallel}")
    out.mkdir(parents=True, exist_ok=True)
    common = shared_mix_source(recipe, data, out, common)
    merged = [(name, _merge(common, overrides)) for name, overrides in variants]
    failed = train_side_by_side(recipe, data, out, merged, parallel) if parallel > 1 else {}
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    for name, overrides in merged:
        if name in failed:
            continue
        run = run_variant(recipe, data, out, name, overrides)
        model, manifest = load_model(run)
        for evalset in eval_sets:
            for use_flip in ((False, True) if flip else (False,)):
                key = f"{name}|{evalset.name}|{'flip' if use_flip else 'plain'}"
                results[key] = evaluate_model(model, manifest, evalset, flip=use_flip)
                results[key]["overrides"] = overrides
        results_path.write_text(json.dumps(results, indent=2, sort_keys=True))
        (out / "results.md").write_text(format_results(results) + "\n")
        _LOG.info("variant %s evaluated:\n%s", name, format_results(
            {k: v for k, v in results.items() if k.startswith(f"{name}|")}))
    plot_yaw_bands_by_variant(results, out / "results_yaw_bands.png")
    if failed:
        raise TrainError("variants failed to train: " + "; ".join(
            f"{n} ({e}; log {out / f'{n}.log'})" for n, e in sorted(failed.items())))
    return results
