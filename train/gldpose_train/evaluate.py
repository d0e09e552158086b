"""Evaluation: the paper's table (Yaw, Pitch, Roll, MAE), MAE by |yaw| band, JSON and a plot."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from gldpose_sdk.inference import angles_from_logits, average_flipped
from gldpose_sdk.manifest import BinSpec, ExpectationMap, Manifest
from gldpose_train.losses import expected_angle

_LOG = logging.getLogger(__name__)
YAW_BANDS_DEG = ((0.0, 30.0), (30.0, 60.0), (60.0, 99.0))


def mae_table(pred_deg: np.ndarray, true_deg: np.ndarray) -> dict[str, float]:
    """MAE per angle and their mean, plus the count. Inputs ``[N, 3]`` yaw, pitch, roll."""
    if pred_deg.shape != true_deg.shape or pred_deg.ndim != 2 or pred_deg.shape[1] != 3:
        raise ValueError(f"need matching [N, 3] arrays, got {pred_deg.shape} and {true_deg.shape}")
    err = np.abs(np.asarray(pred_deg, np.float64) - np.asarray(true_deg, np.float64))
    yaw, pitch, roll = (float(v) for v in err.mean(axis=0)) if len(err) else (np.nan,) * 3
    return {"yaw": yaw, "pitch": pitch, "roll": roll, "mae": (yaw + pitch + roll) / 3,
            "count": int(len(err))}


def mae_by_yaw_band(pred_deg: np.ndarray, true_deg: np.ndarray,
                    bands: Iterable[tuple[float, float]] = YAW_BANDS_DEG) -> dict[str, dict]:
    """:func:`mae_table` for the samples whose true ``|yaw|`` falls in each band."""
    out = {}
    abs_yaw = np.abs(true_deg[:, 0])
    for lo, hi in bands:
        keep = (abs_yaw >= lo) & (abs_yaw < hi)
        out[f"{lo:g}-{hi:g}"] = mae_table(pred_deg[keep], true_deg[keep])
    return out


@torch.no_grad()
def predict_dataset(model: torch.nn.Module, dataset: Dataset, bins: BinSpec, device: str = "cpu",
                    batch_size: int = 64, workers: int = 0, progress: bool = True,
                    expectation_map: ExpectationMap | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` over ``dataset``; return (predicted, true) angles ``[N, 3]`` in degrees.

    The softmax expectation in torch, then ``expectation_map`` (the trainer's own target's,
    as its manifest will hold) when given.
    """
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    preds, trues = [], []
    for images, angles in tqdm(loader, desc="evaluating", unit="batch", disable=not progress,
                               leave=False):
        preds.append(expected_angle(model(images.to(device)), bins).cpu().numpy())
        trues.append(angles.numpy())
    pred = np.concatenate(preds)
    return (expectation_map.apply(pred) if expectation_map is not None else pred,
            np.concatenate(trues))


@torch.no_grad()
def predict_with_std(model: torch.nn.Module, dataset: Dataset, manifest: Manifest,
                     device: str = "cpu", batch_size: int = 128, workers: int = 0,
                     flip: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted angles, predicted std and true angles, all ``[N, 3]`` degrees.

    The SDK's own decode of the manifest (:func:`gldpose_sdk.inference.angles_from_logits`).
    ``flip`` also predicts the mirrored input and averages the two decodes (yaw and roll
    negated back), as ``EstimatorConfig.flip_average`` does at run time.
    """
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    preds, stds, trues = [], [], []
    for images, angles in tqdm(loader, desc="evaluating", unit="batch", leave=False):
        logits = model(images.to(device)).float().cpu().numpy()
        angle, std = angles_from_logits(np.ascontiguousarray(logits), manifest)
        if flip:
            mirrored = model(torch.flip(images, dims=[3]).to(device)).float().cpu().numpy()
            angle, std = average_flipped(angle, std, *angles_from_logits(
                np.ascontiguousarray(mirrored), manifest))
        preds.append(angle)
        stds.append(std)
        trues.append(angles.numpy())
    return np.concatenate(preds), np.concatenate(stds), np.concatenate(trues)


def coverage_table(pred_deg: np.ndarray, std_deg: np.ndarray,
                   true_deg: np.ndarray) -> dict[str, dict[str, float]]:
    """Per angle: share of errors within 1 and 2 stds, mean std, and corr(std, |error|)."""
    err = np.abs(np.asarray(pred_deg, np.float64) - np.asarray(true_deg, np.float64))
    std = np.asarray(std_deg, np.float64)
    out = {}
    for k, name in enumerate(("yaw", "pitch", "roll")):
        e, s = err[:, k], std[:, k]
        corr = float(np.corrcoef(s, e)[0, 1]) if len(e) > 2 and s.std() > 0 else float("nan")
        out[name] = {"within_1std": float(np.mean(e <= s)), "within_2std": float(np.mean(e <= 2 * s)),
                     "mean_std": float(s.mean()), "mae": float(e.mean()), "corr_std_error": corr}
    return out


def format_table(table: dict[str, float], title: str = "") -> str:
    """The paper's table layout as text."""
    head = f"{'':12s}{'Yaw':>8s}{'Pitch':>8s}{'Roll':>8s}{'MAE':>8s}{'count':>8s}"
    row = (f"{title[:12]:12s}{table['yaw']:8.2f}{table['pitch']:8.2f}{table['roll']:8.2f}"
           f"{table['mae']:8.2f}{table['count']:8d}")
    return f"{head}\n{row}"


def plot_yaw_bands(bands: dict[str, dict], path: Path, title: str = "") -> Path:
    """Bar chart of yaw/pitch/roll MAE per |yaw| band, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(bands)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    for k, angle in enumerate(("yaw", "pitch", "roll")):
        ax.bar(x + (k - 1) * 0.27, [bands[n][angle] for n in names], 0.27, label=angle)
    ax.set_xticks(x, [f"|yaw| {n}\n(n={bands[n]['count']})" for n in names])
    ax.set_ylabel("MAE (degrees)")
    ax.set_title(title or "MAE by |yaw| band")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_history(history: list[dict], path: Path, title: str = "",
                 keep: str = "best") -> Path | None:
    """Validation MAE per angle, and yaw MAE beyond 60 degrees, against the training step (PNG).

    ``history`` is the trainer's list of records; those with a ``"val"`` entry are plotted. A
    vertical line marks the weights the run kept (``keep``: the best validation MAE, or the last).
    Returns None (writing nothing) when no record has one.
    """
    rows = [r for r in history if "val" in r]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 3.8), dpi=100)
    for angle in ("yaw", "pitch", "roll"):
        ax.plot(steps, [r["val"][angle] for r in rows], label=angle)
    band = [r.get("val_bands", {}).get("60-99", {}).get("yaw") for r in rows]
    if any(v is not None for v in band):
        ax.plot(steps, [float("nan") if v is None else v for v in band], "--",
                label="yaw, |yaw| > 60")
    best = min(rows, key=lambda r: r["val"]["mae"])
    kept = rows[-1] if keep == "last" else best
    ax.axvline(kept["step"], color="grey", lw=0.8)
    ax.set_ylim(0, max(12.0, min(40.0, 1.2 * best["val"]["yaw"] * 2)))
    ax.set_xlabel("step")
    ax.set_ylabel("validation MAE (degrees)")
    ax.set_title(title or f"validation MAE; best {best['val']['mae']:.2f} at step {best['step']}; "
                          f"kept ({keep}): {kept['val']['mae']:.2f} at step {kept['step']}")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def write_report(pred_deg: np.ndarray, true_deg: np.ndarray, json_path: Path | None,
                 plot_path: Path | None, title: str = "") -> dict:
    """Compute the table and bands; write JSON and PNG where asked; return the JSON dict."""
    result = mae_table(pred_deg, true_deg)
    result["by_yaw_band"] = mae_by_yaw_band(pred_deg, true_deg)
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2, sort_keys=True))
    if plot_path:
        plot_yaw_bands(result["by_yaw_band"], Path(plot_path), title)
    return result
