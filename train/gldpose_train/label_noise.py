"""How much of a model's error against human labels is the labels' own noise.

Labelled face sets hold the same photo (or a burst frame of it) under several entries, each
annotated on its own (the shared AFLW crops hold over a thousand such pairs). Two labels of one
face differ by annotation noise (plus any real change of pose between burst frames), so their
mean absolute difference is what predicting one entry's label by the other's annotation scores.
It bounds what the annotation noise alone costs a perfect model from above: for independent
zero-mean noise E|n1 - n2| >= E|n1| (Jensen), and under Gaussian noise the perfect model's share
is that figure over sqrt 2. Given a model's predictions on the same
entries, the report also gives its error on the pairs against one label and against the pair's
mean label, and how far its two predictions differ.

Pairs are found as the dataset README of the shared crops describes its near-duplicate groups:
cosine similarity of the 32x32 grey images (mean removed) at or above a threshold, only within
the set given, so a pair never straddles a split.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from tqdm import tqdm

from gldpose_train import TrainError

THUMB_PX = 32
BLOCK_ROWS = 2048     # similarity rows computed at a time: 2048 x N float32 stays small


def grey_thumbnail(image_bgr: np.ndarray, box: Sequence[float] | None = None) -> np.ndarray:
    """``[32*32]`` float32 grey thumbnail of the image (or of its box), mean removed, unit length
    (zeros for a flat image)."""
    if box is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        image_bgr = image_bgr[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)]
    if image_bgr.size == 0:
        raise TrainError(f"empty image or box {box} for a thumbnail")
    grey = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    v = cv2.resize(grey, (THUMB_PX, THUMB_PX), interpolation=cv2.INTER_AREA)
    v = v.astype(np.float32).ravel()
    v -= v.mean()
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 1e-6 else np.zeros_like(v)


def near_duplicate_pairs(thumbnails: np.ndarray, threshold: float) -> np.ndarray:
    """``[P, 2]`` index pairs ``i < j`` whose thumbnails have cosine >= ``threshold``."""
    if not 0 < threshold <= 1:
        raise TrainError(f"threshold must be in (0, 1], got {threshold}")
    pairs = []
    for start in range(0, len(thumbnails), BLOCK_ROWS):
        sim = thumbnails[start:start + BLOCK_ROWS] @ thumbnails.T
        rows, cols = np.nonzero(sim >= threshold)
        rows = rows + start
        keep = cols > rows
        pairs.append(np.stack([rows[keep], cols[keep]], axis=1))
    return np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)


def pair_label_noise(labels: np.ndarray, pairs: np.ndarray,
                     predictions: np.ndarray | None = None) -> dict[str, float]:
    """Per-pair statistics of one angle (degrees): labels ``[N]``, predictions ``[N]`` or None.

    Keys: ``pairs``; ``label_diff_mae`` / ``label_diff_median`` (|label_i - label_j|, i.e. the
    error of predicting one entry by the other's annotation); ``noise_std`` (std of the
    difference over sqrt 2, each label's own noise if independent); with predictions:
    ``model_mae`` (against each entry's own label), ``model_mae_pair_mean`` (the pair's mean
    prediction against its mean label), ``model_pair_diff_mae`` (|pred_i - pred_j|) and
    ``model_error_std_beyond_noise`` (sqrt(var(error) - noise variance), 0 if negative).
    """
    if len(pairs) == 0:
        raise TrainError("no near-duplicate pairs at this threshold: nothing to measure")
    i, j = pairs[:, 0], pairs[:, 1]
    diff = labels[i] - labels[j]
    noise_var = float(np.var(diff)) / 2.0
    out = {"pairs": float(len(pairs)), "label_diff_mae": float(np.abs(diff).mean()),
           "label_diff_median": float(np.median(np.abs(diff))),
           "noise_std": float(np.sqrt(noise_var))}
    if predictions is not None:
        errors = np.concatenate([predictions[i] - labels[i], predictions[j] - labels[j]])
        out["model_mae"] = float(np.abs(errors).mean())
        out["model_mae_pair_mean"] = float(np.abs((predictions[i] + predictions[j]) / 2
                                                  - (labels[i] + labels[j]) / 2).mean())
        out["model_pair_diff_mae"] = float(np.abs(predictions[i] - predictions[j]).mean())
        out["model_error_std_beyond_noise"] = float(np.sqrt(max(np.var(errors) - noise_var, 0)))
    return out


def dataset_thumbnails(dataset) -> np.ndarray:
    """``[N, 32*32]`` thumbnails of the face boxes of a
    :class:`~gldpose_train.datasets.base.PoseDataset`, in its order."""
    out = np.zeros((len(dataset), THUMB_PX * THUMB_PX), np.float32)
    for k in tqdm(range(len(dataset)), desc="thumbnails", unit="img", leave=False):
        out[k] = grey_thumbnail(*dataset.sample(k))
    return out
