"""Training configuration: one frozen dataclass, saved as JSON beside every run."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gldpose_train.losses import LossConfig


@dataclass(frozen=True)
class TrainConfig:
    """Everything one ``gldpose train`` run needs. Defaults follow the paper (DESIGN 3)."""

    dataset: str
    data: str
    out_dir: str
    backbone: str = "resnet50"
    loss: LossConfig = field(default_factory=LossConfig)
    epochs: int = 25
    batch_size: int = 16
    lr: float = 1e-6                      # paper: Adam 1e-6; Hopenet used 1e-5
    head_lr_mult: float = 1.0             # Hopenet: 5x on the heads
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    input_size_px: int = 224
    max_steps: int = 0                    # stop after this many steps (0: no limit)
    device: str = "cpu"
    resume: bool = False
    seed: int = 0
    workers: int = 2
    val_dataset: str = ""                 # default: the same set, held-out part
    val_data: str = ""
    val_split: str = "val"                # for sets with a split column (crops)
    val_fraction: float = 0.05            # held out when no validation set is given
    val_every_steps: int = 0              # 0: validate once per epoch
    max_samples: int = 0                  # 0: all
    imagenet_weights: str = ""            # local torchvision state dict; nothing is downloaded
    crop_margin_k: float = 0.2
    pad_frac: float = 0.0                 # whole-crop sets: black border per side
    label_columns: tuple[str, ...] = ()   # crops CSV: yaw, pitch, roll columns
    file_list: str = ""                   # Hopenet-style list of sample names
    mix_dataset: str = "synthetic"        # second training source (e.g. renders) ...
    mix_data: str = ""                    # ... its folder; empty: no mixing
    mix_fraction: float = 0.0             # share of each epoch drawn from it
    channels_last: bool = False
    log_every_steps: int = 20

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "input_size_px"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.mix_fraction < 1:
            raise ValueError(f"mix_fraction must be in [0, 1), got {self.mix_fraction}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")

    def to_json(self) -> str:
        """JSON text (sorted keys)."""
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        """Inverse of :meth:`to_json`."""
        data: dict[str, Any] = json.loads(text)
        data["loss"] = LossConfig(**data["loss"])
        data["betas"] = tuple(data["betas"])
        data["label_columns"] = tuple(data.get("label_columns", ()))
        return cls(**data)

    def save(self, path: Path) -> None:
        """Write :meth:`to_json` to ``path``."""
        Path(path).write_text(self.to_json(), encoding="utf-8")
