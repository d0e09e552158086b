"""The two ways the trainer is fed, behind one interface: epochs of resumable batches.

* :class:`LoaderFeed`: a ``DataLoader`` over the dataset readers (JPEG decoding and CPU
  augmentation in worker processes). Any reader, any size; what the paper's recipe uses.
* :class:`ResidentFeed`: every crop preprocessed once with the SDK's own crop code and kept as one
  uint8 tensor on the training device, augmented there (:mod:`gldpose_train.device_augment`).
  Small crops train at thousands of images per second on a GPU, and several times faster than the
  loader on a CPU.

Both draw epoch ``e``'s order from ``(seed, e)`` alone, so a run stopped mid-epoch resumes at
the same batch (``start_batch``). Under DDP each rank takes every ``world``-th sample.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from gldpose_sdk.manifest import BinSpec, CropRule, InputSpec
from gldpose_sdk.preprocess import prepare_crop
from gldpose_train.config import ResidentAugment
from gldpose_train.datasets.mixed import MixedDataset, slot_counts
from gldpose_train.device_augment import augment_batch, normalise_batch, to_unit_nchw

_LOG = logging.getLogger(__name__)


def epoch_order(n: int, seed: int, epoch: int, rank: int = 0, world: int = 1) -> np.ndarray:
    """This rank's sample order for one epoch (a seeded permutation, then every world-th)."""
    order = np.random.default_rng([seed, epoch, 7]).permutation(n)
    return order[rank::world]


class LoaderFeed:
    """Batches from a ``DataLoader`` over a (possibly mixed) reader; CPU augmentation."""

    def __init__(self, dataset: Dataset, batch_size: int, *, seed: int, workers: int,
                 rank: int = 0, world: int = 1) -> None:
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.workers, self.rank, self.world = workers, rank, world
        per_rank = len(dataset) // world
        self.drop_last = per_rank > batch_size
        self.steps_per_epoch = (per_rank // batch_size if self.drop_last
                                else max(1, -(-per_rank // batch_size)))

    def batches(self, epoch: int, start_batch: int = 0
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Normalised float batches ``[b, 3, S, S]`` and angles ``[b, 3]`` from ``start_batch``."""
        if isinstance(self.dataset, MixedDataset):
            self.dataset.set_epoch(epoch)
        order = epoch_order(len(self.dataset), self.seed, epoch, self.rank, self.world)
        order = order[: self.steps_per_epoch * self.batch_size][start_batch * self.batch_size:]
        if order.size == 0:
            return iter(())
        loader = DataLoader(self.dataset, batch_size=self.batch_size, sampler=order.tolist(),
                            num_workers=self.workers, drop_last=False)
        return iter(loader)


@dataclass
class CropBank:
    """Preprocessed RGB uint8 crops ``[N, S, S, 3]`` with float32 angles ``[N, 3]`` (degrees)."""

    images: np.ndarray
    angles_deg: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def preload(dataset: Dataset, crop: CropRule, size_px: int, what: str,
            resize: str = "area") -> CropBank:
    """Cut every sample of a reader with ``crop`` (the SDK's :func:`prepare_crop`) at ``size_px``.

    ``crop`` applies to the reader's face box: for whole-image sets (crops) the box is the image.
    """
    images = np.empty((len(dataset), size_px, size_px, 3), np.uint8)
    for i in tqdm(range(len(dataset)), desc=f"preloading {what}", unit="img", leave=False):
        image, box = dataset.sample(i)
        images[i] = prepare_crop(image, box, crop, size_px, resize)
    return CropBank(images, dataset.angles_deg().astype(np.float32))


class BankDataset(Dataset):
    """A :class:`CropBank` as a reader of normalised tensors (for validation and evaluation)."""

    def __init__(self, bank: CropBank, spec: InputSpec) -> None:
        self.bank, self.spec = bank, spec

    def __len__(self) -> int:
        return len(self.bank)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = to_unit_nchw(torch.from_numpy(self.bank.images[i:i + 1]))
        return (normalise_batch(x, self.spec)[0],
                torch.from_numpy(self.bank.angles_deg[i]).float())

    def angles_deg(self) -> np.ndarray:
        """Labels ``[N, 3]``."""
        return self.bank.angles_deg.astype(np.float64)


#: Width of the |yaw| bands that :class:`ResidentFeed`'s ``yaw_balance`` evens out (degrees).
YAW_BAND_DEG = 10.0


def yaw_band_weights(yaw_deg: np.ndarray, balance: float) -> np.ndarray:
    """Draw probabilities ``[N]``: (count of each crop's |yaw| band) ** -balance, summing to 1."""
    band = np.minimum(np.abs(yaw_deg) // YAW_BAND_DEG, 90 // YAW_BAND_DEG).astype(np.int64)
    counts = np.bincount(band)
    weights = counts[band].astype(np.float64) ** -balance
    return weights / weights.sum()


class ResidentFeed:
    """Batches cut from device-resident banks, mixed at fixed shares, augmented on the device.

    Args:
        banks: the main bank first, then extra sources (e.g. renders).
        fractions: share of each epoch per extra source; the main bank is seen once per epoch.
        yaw_balance: 0 (each main crop once per epoch) to 1: the main bank's draws (as many
            as it has crops, with replacement) weighted by the count of each crop's
            :data:`YAW_BAND_DEG`-wide |yaw| band to the power ``-yaw_balance``; 1 draws every
            band equally often. Large poses are rare in real sets; this shows them more often.
    """

    def __init__(self, banks: Sequence[CropBank], fractions: Sequence[float], batch_size: int, *,
                 spec: InputSpec, bins: BinSpec, augment: ResidentAugment, device: str,
                 seed: int, rank: int = 0, world: int = 1, yaw_balance: float = 0.0) -> None:
        if len(fractions) != len(banks) - 1:
            raise ValueError("need one fraction per extra bank")
        self.spec, self.bins, self.augment, self.device = spec, bins, augment, torch.device(device)
        self.batch_size, self.seed, self.rank, self.world = batch_size, seed, rank, world
        self._x = torch.from_numpy(np.concatenate([b.images for b in banks])).to(self.device)
        self._y = torch.from_numpy(np.concatenate([b.angles_deg for b in banks])).to(self.device)
        self._starts = np.cumsum([0] + [len(b) for b in banks])
        main = len(banks[0])
        length = int(round(main / (1 - sum(fractions)))) if fractions else main
        self._counts = slot_counts([1 - sum(fractions), *fractions], length) if fractions \
            else np.array([main])
        self._counts[0] = main
        self.steps_per_epoch = max(1, int(self._counts.sum()) // world // batch_size)
        self._main_weights = (yaw_band_weights(banks[0].angles_deg[:, 0], yaw_balance)
                              if yaw_balance else None)

    def _epoch_indices(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, epoch, 11])
        parts = []
        for k, count in enumerate(self._counts):
            size = self._starts[k + 1] - self._starts[k]
            if k == 0 and self._main_weights is not None:
                parts.append(rng.choice(size, int(count), p=self._main_weights))
                continue
            reps = np.concatenate([rng.permutation(size) for _ in range(-(-int(count) // size))])
            parts.append(self._starts[k] + reps[:count])
        allidx = np.concatenate(parts)
        return allidx[epoch_order(len(allidx), self.seed, epoch)][self.rank::self.world]

    def batches(self, epoch: int, start_batch: int = 0
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Normalised, augmented float batches and their exact angles, from ``start_batch``."""
        idx = torch.from_numpy(self._epoch_indices(epoch)).to(self.device)
        for b in range(start_batch, self.steps_per_epoch):
            pick = idx[b * self.batch_size:(b + 1) * self.batch_size]
            gen = torch.Generator(device=self.device).manual_seed(
                int(np.random.default_rng([self.seed, epoch, b]).integers(2**62)))
            img, ang = augment_batch(self._x[pick], self._y[pick], self.augment, self.bins, gen)
            yield normalise_batch(img, self.spec), ang
