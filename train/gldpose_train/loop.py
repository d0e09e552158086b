"""The reference training loop: Adam, GLD or Hopenet loss, validation, checkpoint/resume, DDP.

Single process (CPU or one GPU), or several under ``torchrun`` (DistributedDataParallel with a
DistributedSampler; gloo on CPU, nccl on CUDA). Rank 0 validates, logs and writes the run folder:
``config.json``, ``checkpoint.pt`` (last state, for ``--resume``), ``model.safetensors`` +
``manifest.json`` (the best model by validation MAE) and ``history.json``.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset
from tqdm import tqdm

from gldpose_sdk.manifest import BinSpec, CropRule, InputSpec, Manifest, TrainingInfo
from gldpose_sdk.model import PoseNet, load_imagenet_trunk, save_model
from gldpose_train import TrainError
from gldpose_train.config import TrainConfig
from gldpose_train.datasets import DatasetOptions, build_dataset
from gldpose_train.datasets.mixed import MixedDataset
from gldpose_train.evaluate import mae_table, predict_dataset
from gldpose_train.losses import compute_loss

_LOG = logging.getLogger(__name__)
CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _init_distributed(cfg: TrainConfig) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist(device=cfg.device)
    backend = "nccl" if cfg.device.startswith("cuda") else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    rank, local = dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0"))
    device = f"cuda:{local}" if cfg.device.startswith("cuda") else "cpu"
    if device != "cpu":
        torch.cuda.set_device(local)
    return _Dist(rank=rank, world=world, device=device)


def build_datasets(cfg: TrainConfig) -> tuple[Dataset, Dataset, CropRule]:
    """Training set (augmented, mixed with a second source if asked), validation set, crop rule."""
    train, val, crop = _build_main_datasets(cfg)
    if not (cfg.mix_data and cfg.mix_fraction > 0):
        return train, val, crop
    extra = build_dataset(cfg.mix_dataset, cfg.mix_data, split="train", train=True,
                          input_size_px=cfg.input_size_px,
                          options=DatasetOptions(crop_margin_k=cfg.crop_margin_k, seed=cfg.seed))
    # The real set is seen once per epoch; the second source fills mix_fraction of the epoch.
    length = int(round(len(train) / (1 - cfg.mix_fraction)))
    mixed = MixedDataset([train, extra], [1 - cfg.mix_fraction, cfg.mix_fraction],
                         length=length, seed=cfg.seed)
    _LOG.info("training mix: %d samples per epoch, %.0f%% from %s (%d samples)", length,
              100 * cfg.mix_fraction, cfg.mix_data, len(extra))
    return mixed, val, crop


def _build_main_datasets(cfg: TrainConfig) -> tuple[Dataset, Dataset, CropRule]:
    opts = DatasetOptions(crop_margin_k=cfg.crop_margin_k, seed=cfg.seed,
                          max_samples=cfg.max_samples or None, pad_frac=cfg.pad_frac,
                          label_columns=tuple(cfg.label_columns) or None,
                          file_list=Path(cfg.file_list) if cfg.file_list else None)
    common = {"input_size_px": cfg.input_size_px, "options": opts}
    train = build_dataset(cfg.dataset, cfg.data, split="train", train=True, **common)
    crop = train.crop_rule
    if cfg.val_dataset:
        val = build_dataset(cfg.val_dataset, cfg.val_data or cfg.data, split=cfg.val_split,
                            train=False, **common)
        return train, val, crop
    if getattr(type(train), "has_split", False):
        val = build_dataset(cfg.dataset, cfg.data, split=cfg.val_split, train=False, **common)
        return train, val, crop
    if cfg.val_fraction == 0 or len(train) < 2:
        return train, Subset(build_dataset(cfg.dataset, cfg.data, train=False, **common), []), crop
    # No validation set: hold out a seeded fraction, seen through the evaluation transform.
    order = np.random.default_rng(cfg.seed).permutation(len(train))
    n_val = max(1, int(round(cfg.val_fraction * len(train))))
    evalset = build_dataset(cfg.dataset, cfg.data, train=False, **common)
    return (Subset(train, sorted(order[n_val:].tolist())),
            Subset(evalset, sorted(order[:n_val].tolist())), crop)


def _make_model(cfg: TrainConfig, bins: BinSpec) -> PoseNet:
    model = PoseNet(cfg.backbone, bins.count)
    if cfg.imagenet_weights:
        n = load_imagenet_trunk(model, cfg.imagenet_weights)
        _LOG.info("initialised %d trunk tensors from %s", n, cfg.imagenet_weights)
    else:
        _LOG.info("no ImageNet weights given: %s trunk starts from random initialisation",
                  cfg.backbone)
    return model


def _optimizer(model: PoseNet, cfg: TrainConfig) -> torch.optim.Optimizer:
    groups = [{"params": model.trunk_parameters(), "lr": cfg.lr},
              {"params": model.head_parameters(), "lr": cfg.lr * cfg.head_lr_mult}]
    return torch.optim.Adam(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps,
                            weight_decay=cfg.weight_decay)


class Trainer:
    """Holds one run's state; :meth:`run` trains to the end (or ``max_steps``)."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg, self.bins = cfg, BinSpec()
        self.out = Path(cfg.out_dir)
        self.dist = _init_distributed(cfg)
        torch.manual_seed(cfg.seed + self.dist.rank)
        self.train_set, self.val_set, self.crop = build_datasets(cfg)
        self.model = _make_model(cfg, self.bins).to(self.dist.device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.net: torch.nn.Module = self.model
        if self.dist.world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(self.model)
        self.opt = _optimizer(self.model, cfg)
        self.epoch, self.step, self.best_mae, self.history = 0, 0, float("inf"), []
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            cfg.save(self.out / "config.json")
        if cfg.resume:
            self._load_checkpoint()

    def _loader(self) -> DataLoader:
        sampler = (DistributedSampler(self.train_set, self.dist.world, self.dist.rank,
                                      shuffle=True, seed=self.cfg.seed)
                   if self.dist.world > 1 else None)
        if sampler is not None:
            sampler.set_epoch(self.epoch)
        if isinstance(self.train_set, MixedDataset):
            self.train_set.set_epoch(self.epoch)
        gen = torch.Generator().manual_seed(self.cfg.seed * 1000 + self.epoch)
        return DataLoader(self.train_set, batch_size=self.cfg.batch_size, sampler=sampler,
                          shuffle=sampler is None, generator=gen, drop_last=len(
                              self.train_set) > self.cfg.batch_size * self.dist.world,
                          num_workers=self.cfg.workers, persistent_workers=False)

    def run(self) -> dict:
        """Train; return a summary (best validation table, steps, seconds)."""
        start = time.time()
        while self.epoch < self.cfg.epochs and not self._done():
            self._train_epoch()
            self.epoch += 1
            if not self.cfg.val_every_steps:
                self._validate()
            self._save_checkpoint()
        summary = {"epochs": self.epoch, "steps": self.step, "best_val_mae": self.best_mae,
                   "seconds": time.time() - start, "history": self.history}
        if self.dist.is_main:
            (self.out / "history.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
        return summary

    def _done(self) -> bool:
        return bool(self.cfg.max_steps) and self.step >= self.cfg.max_steps

    def _train_epoch(self) -> None:
        self.net.train()
        loader = self._loader()
        bar = tqdm(loader, desc=f"epoch {self.epoch + 1}/{self.cfg.epochs}", unit="batch",
                   disable=not self.dist.is_main, leave=False)
        for images, angles in bar:
            images, angles = images.to(self.dist.device), angles.to(self.dist.device)
            if self.cfg.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            loss, parts = compute_loss(self.net(images), angles, self.bins, self.cfg.loss)
            if not torch.isfinite(loss):
                raise TrainError(f"loss became {loss.item()} at step {self.step}; lower --lr")
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.step += 1
            if self.step % self.cfg.log_every_steps == 0 or self.step == 1:
                bar.set_postfix(loss=f"{loss.item():.3f}")
                self.history.append({"step": self.step, "epoch": self.epoch + 1,
                                     "loss": loss.item(),
                                     **{k: float(v) for k, v in parts.items()}})
            if self.cfg.val_every_steps and self.step % self.cfg.val_every_steps == 0:
                self._validate()
                self.net.train()
            if self._done():
                break

    def _validate(self) -> None:
        if self.dist.world > 1:
            dist.barrier()
        if not self.dist.is_main:
            return
        if len(self.val_set) == 0:
            self._save_best({"mae": float("nan")}, force=True)
            return
        pred, true = predict_dataset(self.model, self.val_set, self.bins, self.dist.device,
                                     batch_size=max(self.cfg.batch_size, 32))
        table = mae_table(pred, true)
        self.history.append({"step": self.step, "epoch": self.epoch, "val": table})
        _LOG.info("step %d: validation MAE %.2f (yaw %.2f, pitch %.2f, roll %.2f, n=%d)",
                  self.step, table["mae"], table["yaw"], table["pitch"], table["roll"],
                  table["count"])
        self._save_best(table)

    def _save_best(self, table: dict, force: bool = False) -> None:
        if not force and not table["mae"] < self.best_mae:
            return
        self.best_mae = table["mae"] if not force else self.best_mae
        loss = self.cfg.loss
        info = TrainingInfo(dataset=f"{self.cfg.dataset}: {self.cfg.data}", loss=loss.name,
                            alpha=loss.alpha, sigma_bins=loss.sigma_bins,
                            label_form=loss.label_form,
                            notes=f"step {self.step}, validation MAE {table['mae']:.3f}")
        manifest = Manifest(backbone=self.cfg.backbone,
                            input=InputSpec(size_px=self.cfg.input_size_px), crop=self.crop,
                            bins=self.bins, training=info)
        save_model(self.out, self.model, manifest)

    def _save_checkpoint(self) -> None:
        if not self.dist.is_main:
            return
        state = {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                 "epoch": self.epoch, "step": self.step, "best_mae": self.best_mae,
                 "torch_rng": torch.get_rng_state()}
        tmp = self.out / (CHECKPOINT_NAME + ".tmp")
        torch.save(state, tmp)
        tmp.replace(self.out / CHECKPOINT_NAME)
        (self.out / "history.json").write_text(json.dumps(
            {"epochs": self.epoch, "steps": self.step, "best_val_mae": self.best_mae,
             "history": self.history}, indent=2, sort_keys=True))

    def _load_checkpoint(self) -> None:
        path = self.out / CHECKPOINT_NAME
        if not path.is_file():
            raise TrainError(f"--resume given but {path} does not exist")
        try:
            state = torch.load(path, map_location=self.dist.device, weights_only=True)
        except Exception as exc:  # corrupt or foreign file
            raise TrainError(f"cannot load checkpoint {path}: {exc}") from exc
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.best_mae = float(state["best_mae"])
        torch.set_rng_state(state["torch_rng"].cpu())
        history = self.out / "history.json"
        if history.is_file():
            self.history = json.loads(history.read_text()).get("history", [])
        _LOG.info("resumed from %s at epoch %d, step %d", path, self.epoch, self.step)


def train(cfg: TrainConfig) -> dict:
    """Run one training; see :class:`Trainer`."""
    trainer = Trainer(cfg)
    try:
        return trainer.run()
    finally:
        if trainer.dist.world > 1 and dist.is_initialized():
            dist.destroy_process_group()
