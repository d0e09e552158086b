"""Mix several readers at chosen ratios (issue 3 item 5: synthetic renders with real crops).

:class:`MixedDataset` is an ordinary map-style dataset, so it works with any sampler (also
``DistributedSampler``). For each epoch it draws a schedule of ``(dataset, index)`` pairs: dataset k
gets ``round(weight_k * length)`` slots (largest remainders, so the counts are exact), filled by
walking fresh random permutations of that dataset (so within an epoch the use counts of its
samples differ by at most one), and the slots are shuffled. Call :meth:`set_epoch` before each
epoch's iterator is created (with ``persistent_workers`` the workers would keep the old schedule).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from gldpose_train import TrainError


def slot_counts(weights: Sequence[float], length: int) -> np.ndarray:
    """Split ``length`` into integer counts proportional to ``weights`` (largest remainders)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0 or np.any(w < 0) or not np.isfinite(w).all() or w.sum() <= 0:
        raise TrainError(f"mixing weights must be non-negative with a positive sum, got {weights}")
    share = w / w.sum() * length
    counts = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - counts), kind="stable")
    counts[order[: length - counts.sum()]] += 1
    return counts


class MixedDataset(Dataset):
    """Samples from ``datasets`` in proportion to ``weights``.

    Args:
        datasets: readers (each with ``__len__``, ``__getitem__``, ``angles_deg()``, ``names``).
        weights: relative share of each, e.g. ``(1, 3)`` for one render per three real crops.
        length: samples per epoch (default: the sum of the datasets' lengths).
        seed: schedule seed; epoch e uses ``(seed, e)``.
    """

    def __init__(self, datasets: Sequence[Dataset], weights: Sequence[float], *,
                 length: int | None = None, seed: int = 0) -> None:
        if len(datasets) != len(weights) or not datasets:
            raise TrainError(f"need one weight per dataset, got {len(datasets)} datasets and "
                             f"{len(weights)} weights")
        if any(len(d) == 0 for d in datasets):
            raise TrainError("cannot mix an empty dataset")
        self.datasets = list(datasets)
        self.weights = tuple(float(w) for w in weights)
        self.length = int(length) if length is not None else sum(len(d) for d in datasets)
        if self.length < 1:
            raise TrainError(f"length must be >= 1, got {self.length}")
        self.seed = seed
        self.counts = slot_counts(self.weights, self.length)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw the schedule of ``epoch`` (deterministic in ``seed`` and ``epoch``)."""
        rng = np.random.default_rng([self.seed, epoch])
        parts = []
        for k, (dataset, count) in enumerate(zip(self.datasets, self.counts)):
            n = len(dataset)
            perms = [rng.permutation(n) for _ in range(-(-int(count) // n))]
            idx = np.concatenate(perms)[:count] if perms else np.zeros(0, dtype=np.int64)
            parts.append(np.stack([np.full(count, k), idx], axis=1))
        schedule = np.concatenate(parts).astype(np.int64)
        self._schedule = schedule[rng.permutation(len(schedule))]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        k, j = self._schedule[i]
        return self.datasets[k][int(j)]

    def source(self, i: int) -> tuple[int, int]:
        """``(dataset number, index in it)`` of sample ``i`` this epoch."""
        k, j = self._schedule[i]
        return int(k), int(j)

    def angles_deg(self) -> np.ndarray:
        """Labels of this epoch's samples, float64 ``[length, 3]`` degrees."""
        tables = [np.asarray(d.angles_deg()) for d in self.datasets]
        return np.stack([tables[k][j] for k, j in self._schedule]).astype(np.float64)

    @property
    def names(self) -> list[str]:
        """``"k:name"`` for this epoch's samples (k is the dataset's position)."""
        tables = [d.names for d in self.datasets]
        return [f"{k}:{tables[k][j]}" for k, j in self._schedule]
