"""MixedDataset: exact ratios, no repeats before a dataset is exhausted, seeded schedules."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gldpose_train import TrainError
from gldpose_train.datasets.mixed import MixedDataset, slot_counts


class Toy(torch.utils.data.Dataset):
    """n samples whose 'image' is (tag, index) and whose angles encode the tag."""

    def __init__(self, tag: int, n: int) -> None:
        self.tag, self.n = tag, n
        self.names = [f"t{tag}_{i}" for i in range(n)]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return torch.tensor([self.tag, i]), torch.tensor([float(self.tag), 0.0, float(i)])

    def angles_deg(self) -> np.ndarray:
        return np.array([[self.tag, 0.0, i] for i in range(self.n)], dtype=np.float64)


def test_slot_counts_exact() -> None:
    assert slot_counts([1, 3], 100).tolist() == [25, 75]
    assert slot_counts([1, 1, 1], 10).sum() == 10
    with pytest.raises(TrainError, match="weights"):
        slot_counts([0, 0], 10)


def test_ratio_coverage_and_determinism() -> None:
    mixed = MixedDataset([Toy(0, 7), Toy(1, 40)], weights=(1, 3), length=40, seed=2)
    items = [mixed[i][0].tolist() for i in range(len(mixed))]
    tags = [t for t, _ in items]
    assert tags.count(0) == 10 and tags.count(1) == 30
    small = [i for t, i in items if t == 0]
    assert sorted(set(np.bincount(small, minlength=7))) == [1, 2]   # all used, repeats even
    big = [i for t, i in items if t == 1]
    assert len(set(big)) == 30
    again = MixedDataset([Toy(0, 7), Toy(1, 40)], weights=(1, 3), length=40, seed=2)
    assert [again[i][0].tolist() for i in range(40)] == items
    mixed.set_epoch(1)
    assert [mixed[i][0].tolist() for i in range(40)] != items
    angles = mixed.angles_deg()
    for i in range(40):
        np.testing.assert_array_equal(angles[i], mixed[i][1].numpy())
        k, j = mixed.source(i)
        assert mixed.names[i] == f"{k}:t{k}_{j}"


def test_rejects_bad_inputs() -> None:
    with pytest.raises(TrainError, match="one weight per dataset"):
        MixedDataset([Toy(0, 3)], weights=(1, 2))
    with pytest.raises(TrainError, match="empty"):
        MixedDataset([Toy(0, 0), Toy(1, 2)], weights=(1, 1))
