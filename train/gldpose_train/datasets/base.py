"""What every reader shares: options, the ±99° filter, lazy per-process state, the transforms.

A reader parses its annotations once in ``__init__`` (labels and boxes, never pixels) and implements
``_load(index) -> (image_bgr, box)``; :class:`PoseDataset` does the rest: it drops samples outside
the bin range, keeps ``max_samples``, and in ``__getitem__`` applies the evaluation transform (the
SDK's preprocessing) or the training augmentation. Each process (main or DataLoader worker) opens
its own handles and draws augmentation from a generator seeded by ``options.seed`` and
``torch.initial_seed()``, which PyTorch makes distinct and reproducible per worker once the run
calls ``torch.manual_seed``.

OpenCV threads: the readers never change them. Calling ``cv2.setNumThreads`` inside a forked
worker can deadlock (the parent's thread pool is destroyed from a process that lacks its
threads); to keep workers single-threaded, call ``cv2.setNumThreads(1)`` in the main process
before the DataLoader starts its workers.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from gldpose_sdk.manifest import BinSpec, CropRule, InputSpec
from gldpose_sdk.preprocess import Box
from gldpose_train import TrainError
from gldpose_train.transforms import AugmentConfig, EvalTransform, TrainTransform

LOG = logging.getLogger(__name__)
_BINS = BinSpec()


@dataclass(frozen=True)
class DatasetOptions:
    """Options shared by all readers; each reader uses the ones that apply to its format."""

    crop_margin_k: float = 0.2            # Hopenet margin k at evaluation (box-based sets)
    file_list: Path | None = None         # text file of sample names (Hopenet's filename lists)
    label_columns: tuple[str, str, str] | None = None   # crops: CSV columns for yaw, pitch, roll
    pad_frac: float = 0.0                 # whole-image sets: black border, fraction of each side
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    max_samples: int | None = None        # keep a seeded random subset of this size
    seed: int = 0                         # subset choice and augmentation stream
    range_deg: tuple[float, float] = (_BINS.low_deg, _BINS.high_deg)   # keep lo <= angle < hi
    box_crop: CropRule | None = None      # box sets: this fixed crop rule instead of Hopenet's k
    resize: str = "area"                  # filter shrinking crops to the input (InputSpec.resize)

    def __post_init__(self) -> None:
        if self.crop_margin_k < 0:
            raise ValueError(f"crop_margin_k must be >= 0, got {self.crop_margin_k}")
        if self.pad_frac < 0:
            raise ValueError(f"pad_frac must be >= 0, got {self.pad_frac}")
        if self.max_samples is not None and self.max_samples < 1:
            raise ValueError(f"max_samples must be >= 1 or None, got {self.max_samples}")
        if self.label_columns is not None and len(self.label_columns) != 3:
            raise ValueError(f"label_columns needs three names (yaw, pitch, roll), "
                             f"got {self.label_columns}")
        if not self.range_deg[0] < self.range_deg[1]:
            raise ValueError(f"range_deg must be (lo, hi) with lo < hi, got {self.range_deg}")


def require_dir(root: Path, expected: str) -> Path:
    """Return ``root`` if it is a non-empty folder, else raise ``TrainError`` naming it."""
    root = Path(root)
    if not root.is_dir():
        raise TrainError(f"data folder {root} does not exist; expected {expected}")
    if not any(root.iterdir()):
        raise TrainError(f"data folder {root} is empty; expected {expected}")
    return root


def read_file_list(path: Path) -> list[str]:
    """Names from a file list (one per line, blank lines and ``#`` comments skipped)."""
    path = Path(path)
    if not path.is_file():
        raise TrainError(f"file list {path} not found; expected a text file of sample names")
    names = [ln.strip() for ln in path.read_text().splitlines()]
    names = [n for n in names if n and not n.startswith("#")]
    if not names:
        raise TrainError(f"file list {path} holds no names")
    return names


def in_range(angles_deg: np.ndarray, range_deg: tuple[float, float]) -> np.ndarray:
    """Bool ``[N]``: all three angles finite and inside ``[lo, hi)``."""
    lo, hi = range_deg
    return np.all(np.isfinite(angles_deg) & (angles_deg >= lo) & (angles_deg < hi), axis=1)


class PoseDataset(Dataset):
    """Base reader: ``(image float32 [3, S, S], angles float32 [3] yaw/pitch/roll degrees)``.

    Subclasses call :meth:`_setup` at the end of ``__init__`` and implement :meth:`_load`.
    Class attribute ``random_margin``: True for sets cropped from a face box with Hopenet's rule
    (training then draws k per sample); False for whole, pre-cropped faces.
    """

    random_margin: bool = True
    has_split: bool = False                # True: the constructor takes ``split`` (a split column)
    _per_process: tuple[str, ...] = ()     # attributes opened per process, never pickled

    def __init__(self, root: str | Path, *, train: bool, input_size_px: int,
                 options: DatasetOptions) -> None:
        self.root = Path(root)
        self.train = train
        self.options = options
        self.spec = InputSpec(size_px=input_size_px, resize=options.resize)
        self._index = np.zeros(0, dtype=np.int64)
        self._names: list[str] = []
        self._angles = np.zeros((0, 3))
        self._pid = -1
        self._rng: np.random.Generator | None = None

    @property
    def crop_rule(self) -> CropRule:
        """The evaluation crop rule (goes into the manifest of a model trained on this set)."""
        if self.options.box_crop is not None:
            return self.options.box_crop
        return CropRule.hopenet(self.options.crop_margin_k)

    def _setup(self, names: Sequence[str], angles_deg: np.ndarray, what: str) -> None:
        """Record all parsed samples, drop those out of range, keep ``max_samples``."""
        angles_deg = np.asarray(angles_deg, dtype=np.float64).reshape(-1, 3)
        if len(names) == 0:
            raise TrainError(f"no samples found in {self.root}; expected {what}")
        keep = np.flatnonzero(in_range(angles_deg, self.options.range_deg))
        dropped = len(names) - keep.size
        if dropped:
            LOG.info("%s: dropped %d of %d samples outside %s degrees", self.root, dropped,
                     len(names), self.options.range_deg)
        if keep.size == 0:
            raise TrainError(f"all {len(names)} samples in {self.root} are outside "
                             f"{self.options.range_deg} degrees")
        limit = self.options.max_samples
        if limit is not None and keep.size > limit:
            pick = np.random.default_rng(self.options.seed).choice(keep.size, limit, replace=False)
            keep = keep[np.sort(pick)]
        self._index = keep
        self._names = [names[i] for i in keep]
        self._angles = angles_deg[keep]
        self._transform = (TrainTransform(self.spec, self.crop_rule, self.options.augment,
                                          random_margin=self.random_margin
                                          and self.options.box_crop is None)
                           if self.train else EvalTransform(self.spec, self.crop_rule))

    @property
    def names(self) -> list[str]:
        """Sample ids, in dataset order."""
        return list(self._names)

    def angles_deg(self) -> np.ndarray:
        """Labels of all samples, float64 ``[N, 3]`` yaw, pitch, roll in degrees (no image read)."""
        return self._angles.copy()

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples")
        rng = self._process_rng()
        image, box = self._load(int(self._index[i]))
        angles = self._angles[i]
        if self.train:
            x, angles = self._transform(image, box, angles, rng)
        else:
            x = self._transform(image, box)
        return torch.from_numpy(x), torch.as_tensor(angles, dtype=torch.float32)

    def sample(self, i: int) -> tuple[np.ndarray, Box]:
        """The raw BGR image and face box of sample ``i`` (for checks and visualisation)."""
        self._process_rng()
        return self._load(int(self._index[i]))

    def _process_rng(self) -> np.random.Generator:
        """Per-process state, made on first use in each process (DataLoader workers fork)."""
        if self._pid != os.getpid() or self._rng is None:
            self._pid = os.getpid()
            self._rng = np.random.default_rng([self.options.seed, torch.initial_seed() % 2**63])
            self._open()
        return self._rng

    def __getstate__(self) -> dict:
        """Pickle for DataLoader workers without per-process handles or buffers."""
        state = self.__dict__.copy()
        state["_pid"], state["_rng"] = -1, None
        for key in self._per_process:
            state[key] = None
        return state

    def _open(self) -> None:
        """Open per-process handles (files, archives); called once per process."""

    def _load(self, index: int) -> tuple[np.ndarray, Box]:
        """BGR uint8 image and face box ``(x0, y0, x1, y1)`` of parsed sample ``index``."""
        raise NotImplementedError(f"{type(self).__name__} must implement _load")
