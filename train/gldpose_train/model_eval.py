"""Evaluating a model folder on named sets, the way it is deployed: accuracy, bands, std coverage.

An evaluation set is ``NAME=DATASET:PATH[:SPLIT]`` (e.g. ``val=crops:../shared/data/aflw-crops:val``
or ``renders=synthetic:runs/renders-eval``). Box-based sets are cut with the model's own crop
rule from its manifest (what ``PoseEstimator.estimate(frame, boxes=...)`` does), whole-crop sets
are taken whole (``estimate_crops``). The crops set's labels default to the human yaw and the
teacher's pitch and roll.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gldpose_sdk.manifest import Manifest
from gldpose_train import TrainError
from gldpose_train.calibration import coverage
from gldpose_train.config import TrainConfig
from gldpose_train.datasets import DatasetOptions, build_dataset
from gldpose_train.evaluate import coverage_table, mae_by_yaw_band, mae_table, predict_with_std

AFLW_CROPS_COLUMNS = ("yaw_annotated", "pitch_teacher", "roll_teacher")
ANGLES = ("yaw", "pitch", "roll")
#: Where :func:`paired_difference` also compares the two models: all faces, and true |yaw| >= 60.
PAIRED_BANDS = (("all", 0.0), ("60-99", 60.0))


@dataclass(frozen=True)
class EvalSet:
    """One named evaluation set."""

    name: str
    dataset: str
    data: str
    split: str | None = None


def parse_eval_set(text: str) -> EvalSet:
    """``NAME=DATASET:PATH[:SPLIT]`` -> :class:`EvalSet`.

    Raises:
        TrainError: malformed text.
    """
    name, sep, rest = text.partition("=")
    dataset, sep2, tail = rest.partition(":")
    if not (sep and sep2 and name and dataset and tail):
        raise TrainError(f"evaluation set {text!r}: expected NAME=DATASET:PATH[:SPLIT]")
    path, _, split = tail.rpartition(":") if tail.count(":") else (tail, "", "")
    if not path:
        path, split = tail, ""
    return EvalSet(name, dataset, path, split or None)


def load_eval_dataset(evalset: EvalSet, manifest: Manifest | None):
    """The reader of ``evalset`` at the model's input size, cut with the model's crop rule
    (without a model: the readers' defaults, for looking at images and labels only)."""
    columns = AFLW_CROPS_COLUMNS if evalset.dataset == "crops" and _has_columns(
        evalset.data, AFLW_CROPS_COLUMNS) else None
    if manifest is None:
        return build_dataset(evalset.dataset, evalset.data, split=evalset.split, train=False,
                             input_size_px=TrainConfig.input_size_px,
                             options=DatasetOptions(label_columns=columns))
    options = DatasetOptions(box_crop=manifest.crop, label_columns=columns,
                             resize=manifest.input.resize)
    return build_dataset(evalset.dataset, evalset.data, split=evalset.split, train=False,
                         input_size_px=manifest.input.size_px, options=options)


def _has_columns(data: str, columns: tuple[str, ...]) -> bool:
    path = Path(data)
    table = path if path.is_file() else path / "labels.csv"
    try:
        header = table.open(encoding="utf-8").readline().strip().split(",")
    except OSError:
        return False
    return set(columns) <= set(header)


def evaluate_model(model: torch.nn.Module, manifest: Manifest, evalset: EvalSet,
                   flip: bool = False, device: str = "cpu") -> dict:
    """Accuracy, MAE by |yaw| band, raw and calibrated std coverage on one set."""
    pred, raw_std, true = predictions(model, manifest, evalset, flip, device)
    return prediction_report(pred, raw_std, true, manifest, evalset.name, flip)


def prediction_report(pred: np.ndarray, raw_std: np.ndarray, true: np.ndarray,
                      manifest: Manifest, name: str, flip: bool = False) -> dict:
    """:func:`evaluate_model`'s tables from predictions already made."""
    result = {"set": name, "flip": flip, **mae_table(pred, true),
              "bands": mae_by_yaw_band(pred, true),
              "raw_std": coverage_table(pred, raw_std, true)}
    if manifest.calibration is not None:
        err = np.abs(pred.astype(np.float64) - true)
        result["calibrated_std"] = coverage(manifest.calibration, raw_std, err)
    return result


def predictions(model: torch.nn.Module, manifest: Manifest, evalset: EvalSet,
                flip: bool = False, device: str = "cpu"
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted angles, raw stds and true angles ``[N, 3]`` on one set."""
    dataset = load_eval_dataset(evalset, manifest)
    return predict_with_std(model, dataset, manifest, device, flip=flip)


def paired_difference(pred_a: np.ndarray, pred_b: np.ndarray, true: np.ndarray,
                      resamples: int = 4000, seed: int = 0) -> dict[str, dict]:
    """Model A's mean absolute error minus model B's on the same faces, per angle, with a 95 %
    paired bootstrap interval (faces resampled with replacement, both models' errors together),
    on all faces and on those with true ``|yaw| >= 60``.

    Args:
        pred_a, pred_b, true: ``[N, 3]`` degrees, row i the same face for all three.

    Returns:
        ``{band: {"count": n, "yaw": {"diff", "low", "high"}, "pitch": ..., "roll": ...}}``;
        a negative ``diff`` means A is closer.

    Raises:
        TrainError: shapes differ (not the same faces).
    """
    if not pred_a.shape == pred_b.shape == true.shape or true.ndim != 2 or true.shape[1] != 3:
        raise TrainError(f"paired comparison needs [N, 3] arrays of the same faces, got "
                         f"{pred_a.shape}, {pred_b.shape}, {true.shape}")
    diff = (np.abs(pred_a.astype(np.float64) - true) - np.abs(pred_b.astype(np.float64) - true))
    rng = np.random.default_rng(seed)
    out: dict[str, dict] = {}
    for band, low in PAIRED_BANDS:
        d = diff[np.abs(true[:, 0]) >= low]
        row: dict = {"count": int(len(d))}
        if len(d):
            boot = np.concatenate([d[rng.integers(0, len(d), (n, len(d)))].mean(axis=1)
                                   for n in _chunks(resamples, 500)])
            lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
            row.update({a: {"diff": float(d[:, i].mean()), "low": float(lo[i]),
                            "high": float(hi[i])} for i, a in enumerate(ANGLES)})
        out[band] = row
    return out


def _chunks(total: int, size: int) -> list[int]:
    return [min(size, total - i) for i in range(0, total, size)]


def format_paired(rows: dict[str, dict]) -> str:
    """A markdown table of :func:`paired_difference` results, one row per (pair, set, band)."""
    lines = ["| A - B | set | band | n | yaw | pitch | roll |", "|---|---|---|---|---|---|---|"]
    for key, bands in rows.items():
        pair, name = key.rsplit("|", 1)
        for band, r in bands.items():
            cells = [f"{r[a]['diff']:+.2f} ({r[a]['low']:+.2f} to {r[a]['high']:+.2f})"
                     if a in r else "-" for a in ANGLES]
            lines.append(f"| {pair} | {name} | {band} | {r['count']} | {' | '.join(cells)} |")
    return "\n".join(lines)


def format_results(rows: dict[str, dict]) -> str:
    """A markdown table: one row per (model, set)."""
    head = ("| model | set | yaw | pitch | roll | MAE | yaw 0-30 | yaw 30-60 | yaw 60-99 | "
            "pitch 60-99 | roll 60-99 | n |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for key, r in rows.items():
        b = r["bands"]
        lines.append(
            f"| {key.split('|')[0]} | {r['set']}{' +flip' if r.get('flip') else ''} | "
            f"{r['yaw']:.2f} | {r['pitch']:.2f} | {r['roll']:.2f} | {r['mae']:.2f} | "
            f"{b['0-30']['yaw']:.2f} | {b['30-60']['yaw']:.2f} | {b['60-99']['yaw']:.2f} | "
            f"{b['60-99']['pitch']:.2f} | {b['60-99']['roll']:.2f} | {r['count']} |")
    return "\n".join(lines)
