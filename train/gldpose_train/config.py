"""Training configuration: one frozen dataclass, saved as JSON beside every run.

:class:`TrainConfig` holds every option of the one trainer (:mod:`gldpose_train.loop`): data and
mixing, the two ways of feeding data (a DataLoader over the readers, or device-resident crops
augmented on the training device), optimiser and schedule, EMA, weight averaging (SWA),
distillation, time budget and checkpointing. Named presets of it are the recipes
(:mod:`gldpose_train.recipes`).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gldpose_train.losses import LossConfig

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "cosine")
KEEP_RULES = ("best", "last")          # which weights the run folder keeps
AUTOCAST_MODES = ("auto", "bf16", "off")  # mixed precision of the training forward pass


@dataclass(frozen=True)
class ResidentAugment:
    """Augmentation of device-resident crops (random affine with black outside, colour, blur).

    ``rotate_deg`` turns the crop in-plane by up to that many degrees and recomputes the labels
    exactly (:func:`gldpose_sdk.rotation.rotate_in_plane`), instead of adding to the roll.
    """

    zoom_range: tuple[float, float] = (0.85, 1.15)
    shift_frac: float = 0.08
    flip_prob: float = 0.5
    rotate_deg: float = 0.0
    rotate_prob: float = 0.5
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    gray_prob: float = 0.05
    blur_prob: float = 0.15
    dark_prob: float = 0.0                # gamma-darkened copies (low light)

    def __post_init__(self) -> None:
        if not 0 < self.zoom_range[0] <= self.zoom_range[1]:
            raise ValueError(f"zoom_range must be 0 < lo <= hi, got {self.zoom_range}")
        if not 0 <= self.rotate_deg <= 90:
            raise ValueError(f"rotate_deg must be in [0, 90], got {self.rotate_deg}")
        for name in ("flip_prob", "rotate_prob", "gray_prob", "blur_prob", "dark_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything one ``gldpose train`` run needs. Defaults follow the paper (DESIGN 3)."""

    dataset: str
    data: str
    out_dir: str
    recipe: str = ""                      # name of the preset this config started from
    backbone: str = "resnet50"
    loss: LossConfig = field(default_factory=LossConfig)
    epochs: int = 25
    batch_size: int = 16
    optimizer: str = "adam"               # adam (paper) or adamw
    lr: float = 1e-6                      # paper: Adam 1e-6; Hopenet used 1e-5
    head_lr_mult: float = 1.0             # Hopenet: 5x on the heads
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    schedule: str = "constant"            # constant or cosine (per step, after the warm-up)
    warmup_epochs: float = 0.0            # linear warm-up from lr/steps to lr
    ema_decay: float = 0.0                # exponential moving average of the weights (0: off)
    swa_epochs: int = 0                   # last epochs whose end weights are averaged (0: off)
    swa_lr: float = 0.0                   # constant lr of those epochs (the cosine ends there)
    time_budget_s: float = 0.0            # fit the schedule into this wall time (0: no budget)
    input_size_px: int = 224
    resize: str = "area"                  # filter shrinking crops (InputSpec.resize)
    max_steps: int = 0                    # stop after this many steps (0: no limit)
    device: str = "cpu"
    resume: bool = False
    checkpoint_every_steps: int = 0       # also checkpoint mid-epoch (0: at epoch ends only)
    seed: int = 0
    workers: int = 2
    resident: bool = False                # crops preloaded as uint8 on the device, augmented there
    resident_augment: ResidentAugment = field(default_factory=ResidentAugment)
    val_dataset: str = ""                 # default: the same set, held-out part
    val_data: str = ""
    val_split: str = "val"                # for sets with a split column (crops)
    val_fraction: float = 0.05            # held out when no validation set is given
    val_every_steps: int = 0              # 0: validate once per epoch
    max_samples: int = 0                  # 0: all
    imagenet_weights: str = ""            # local torchvision state dict; nothing is downloaded
    init_from: str = ""                   # model folder whose weights start the run
    distill_from: tuple[str, ...] = ()    # teacher folders or built-in names, averaged
    distill_weight: float = 0.0           # weight of KL(teacher || student) per angle
    crop_margin_k: float = 0.2
    pad_frac: float = 0.0                 # whole-crop sets: black border per side
    box_crop: tuple[Any, ...] = ()       # crop rule (l, t, r, b, square) from a tight face box
    label_columns: tuple[str, ...] = ()   # crops CSV: yaw, pitch, roll columns
    file_list: str = ""                   # Hopenet-style list of sample names
    mix_dataset: str = "synthetic"        # second training source (e.g. renders) ...
    mix_data: str = ""                    # ... its folder, or synth:COUNT[:SEED] to render it
    mix_fraction: float = 0.0             # share of each epoch drawn from it
    yaw_balance: float = 0.0              # resident feed: draw the main set's crops with weight
                                          # (count of their |yaw| band)^-yaw_balance (0: each once)
    channels_last: bool = False
    autocast: str = "auto"                # auto: bf16 on CUDA only; bf16: on any device (CPUs
                                          # with AMX or avx512_bf16); off: fp32 everywhere
    save_half: bool = False               # store the kept weights as fp16 safetensors
    keep: str = "best"                    # best: lowest validation MAE; last: the final weights
    log_every_steps: int = 20

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "input_size_px"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.keep not in KEEP_RULES:
            raise ValueError(f"keep must be one of {KEEP_RULES}, got {self.keep!r}")
        if self.autocast not in AUTOCAST_MODES:
            raise ValueError(f"autocast must be one of {AUTOCAST_MODES}, got {self.autocast!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0 <= self.swa_epochs <= self.epochs:
            raise ValueError(f"swa_epochs must be in [0, epochs={self.epochs}], "
                             f"got {self.swa_epochs}")
        if self.swa_epochs and not 0 < self.swa_lr <= self.lr:
            raise ValueError(f"swa_epochs needs 0 < swa_lr <= lr ({self.lr}), got {self.swa_lr}")
        for name in ("warmup_epochs", "time_budget_s", "checkpoint_every_steps",
                     "distill_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.yaw_balance <= 1:
            raise ValueError(f"yaw_balance must be in [0, 1], got {self.yaw_balance}")
        if self.yaw_balance and not self.resident:
            raise ValueError("yaw_balance needs the resident feed (resident=True)")
        if not 0 <= self.mix_fraction < 1:
            raise ValueError(f"mix_fraction must be in [0, 1), got {self.mix_fraction}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.box_crop and len(self.box_crop) != 5:
            raise ValueError("box_crop needs (left, top, right, bottom fractions, square), got "
                             f"{self.box_crop}")
        if self.distill_weight > 0 and not self.distill_from:
            raise ValueError("distill_weight > 0 needs distill_from (teacher model folders)")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def to_json(self) -> str:
        """JSON text (sorted keys)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; names unknown keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}")
        data = dict(data)
        if isinstance(data.get("loss"), dict):
            data["loss"] = LossConfig(**data["loss"])
        if isinstance(data.get("resident_augment"), dict):
            aug = dict(data["resident_augment"])
            aug["zoom_range"] = tuple(aug.get("zoom_range", ResidentAugment.zoom_range))
            data["resident_augment"] = ResidentAugment(**aug)
        for name in ("betas", "label_columns", "distill_from", "box_crop"):
            if name in data and isinstance(data[name], list):
                data[name] = tuple(data[name])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def save(self, path: Path) -> None:
        """Write :meth:`to_json` to ``path``."""
        Path(path).write_text(self.to_json(), encoding="utf-8")
