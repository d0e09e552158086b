"""The one training loop: every recipe (the paper's, the default model's) is a config of it.

Single process (CPU or one GPU), or several under ``torchrun`` (DistributedDataParallel; gloo on
CPU, nccl on CUDA). Data comes from a :mod:`gldpose_train.feeds` feed (DataLoader or
device-resident crops). Options: Adam or AdamW, constant or warm-up + cosine schedule, EMA of the
weights, stochastic weight averaging (SWA: the weights at the end of each of the last epochs,
trained at a constant rate, averaged, batch-norm statistics recomputed), distillation from teacher
models, a wall-time budget that fits the schedule, and
checkpoints every N steps that resume at the same batch. Rank 0 validates, logs and writes the
run folder: ``config.json``, ``checkpoint.pt`` (last state, for ``--resume``),
``model.safetensors`` + ``manifest.json`` (the best model by validation MAE, or the last with
``keep="last"``) and ``history.json``.
"""
from __future__ import annotations

import copy
import itertools
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import Dataset, Subset
from tqdm import tqdm

from gldpose_sdk.builtin_models import resolve_model
from gldpose_sdk.manifest import BinSpec, CropRule, InputSpec, Manifest, TrainingInfo
from gldpose_sdk.model import PoseNet, load_imagenet_trunk, load_model, save_model
from gldpose_train import TrainError
from gldpose_train.config import TrainConfig
from gldpose_train.datasets import DatasetOptions, build_dataset
from gldpose_train.datasets.mixed import MixedDataset
from gldpose_train.evaluate import mae_by_yaw_band, mae_table, plot_history, predict_dataset
from gldpose_train.feeds import BankDataset, CropBank, LoaderFeed, ResidentFeed, preload
from gldpose_train.losses import compute_loss, decode_map
from gldpose_train.mix_source import resolve_mix_data

_LOG = logging.getLogger(__name__)
CHECKPOINT_NAME = "checkpoint.pt"
SWA_BN_BATCHES = 64     # training batches that re-estimate batch-norm statistics after averaging


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


def _options(cfg: TrainConfig) -> DatasetOptions:
    return DatasetOptions(crop_margin_k=cfg.crop_margin_k, seed=cfg.seed,
                          max_samples=cfg.max_samples or None, pad_frac=cfg.pad_frac,
                          label_columns=tuple(cfg.label_columns) or None,
                          file_list=Path(cfg.file_list) if cfg.file_list else None,
                          box_crop=CropRule(*cfg.box_crop) if cfg.box_crop else None,
                          resize=cfg.resize)


def manifest_crop(cfg: TrainConfig, train: Dataset) -> CropRule:
    """The crop rule the manifest records: ``box_crop`` when given, else the reader's own."""
    reader = train.dataset if isinstance(train, Subset) else train
    return CropRule(*cfg.box_crop) if cfg.box_crop else reader.crop_rule


def build_datasets(cfg: TrainConfig) -> tuple[Dataset, Dataset, CropRule]:
    """Training set (augmented, mixed with a second source if asked), validation set, crop rule."""
    train, val = _main_datasets(cfg, augment=True)
    crop = manifest_crop(cfg, train)
    mix_data = resolve_mix_data(cfg)
    if not (mix_data and cfg.mix_fraction > 0):
        return train, val, crop
    extra = build_dataset(cfg.mix_dataset, mix_data, split="train", train=True,
                          input_size_px=cfg.input_size_px, options=_options(cfg))
    # The real set is seen once per epoch; the second source fills mix_fraction of the epoch.
    length = int(round(len(train) / (1 - cfg.mix_fraction)))
    mixed = MixedDataset([train, extra], [1 - cfg.mix_fraction, cfg.mix_fraction],
                         length=length, seed=cfg.seed)
    _LOG.info("training mix: %d samples per epoch, %.0f%% from %s (%d samples)", length,
              100 * cfg.mix_fraction, mix_data, len(extra))
    return mixed, val, crop


def _main_datasets(cfg: TrainConfig, augment: bool) -> tuple[Dataset, Dataset]:
    common = {"input_size_px": cfg.input_size_px, "options": _options(cfg)}
    train = build_dataset(cfg.dataset, cfg.data, split="train", train=augment, **common)
    if cfg.val_dataset:
        return train, build_dataset(cfg.val_dataset, cfg.val_data or cfg.data,
                                    split=cfg.val_split, train=False, **common)
    if getattr(type(train), "has_split", False):
        return train, build_dataset(cfg.dataset, cfg.data, split=cfg.val_split, train=False,
                                    **common)
    evalset = build_dataset(cfg.dataset, cfg.data, train=False, **common)
    if cfg.val_fraction == 0 or len(train) < 2:
        return train, Subset(evalset, [])
    # No validation set: hold out a seeded fraction, seen through the evaluation transform.
    order = np.random.default_rng(cfg.seed).permutation(len(train))
    n_val = max(1, int(round(cfg.val_fraction * len(train))))
    return (Subset(train, sorted(order[n_val:].tolist())),
            Subset(evalset, sorted(order[:n_val].tolist())))


def _bank(dataset: Dataset, size_px: int, what: str) -> CropBank:
    reader = dataset.dataset if isinstance(dataset, Subset) else dataset
    bank = preload(reader, reader.crop_rule, size_px, what, reader.spec.resize)
    if isinstance(dataset, Subset):
        keep = np.asarray(dataset.indices, dtype=np.int64)
        return CropBank(bank.images[keep], bank.angles_deg[keep])
    return bank


def build_feed(cfg: TrainConfig, bins: BinSpec, rank: int = 0, world: int = 1,
               device: str = "cpu") -> tuple[LoaderFeed | ResidentFeed, Dataset, CropRule]:
    """The training feed, the validation set and the manifest's crop rule for ``cfg``."""
    if not cfg.resident:
        train, val, crop = build_datasets(cfg)
        return LoaderFeed(train, cfg.batch_size, seed=cfg.seed, workers=cfg.workers,
                          rank=rank, world=world), val, crop
    train, val = _main_datasets(cfg, augment=False)
    spec, size = InputSpec(size_px=cfg.input_size_px, resize=cfg.resize), cfg.input_size_px
    banks, fractions = [_bank(train, size, "training crops")], []
    mix_data = resolve_mix_data(cfg)
    if mix_data and cfg.mix_fraction > 0:
        extra = build_dataset(cfg.mix_dataset, mix_data, split="train", train=False,
                              input_size_px=size, options=_options(cfg))
        banks.append(_bank(extra, size, "mixed-in source"))
        fractions.append(cfg.mix_fraction)
    feed = ResidentFeed(banks, fractions, cfg.batch_size, spec=spec, bins=bins,
                        augment=cfg.resident_augment, device=device, seed=cfg.seed, rank=rank,
                        world=world, yaw_balance=cfg.yaw_balance)
    val_set = BankDataset(_bank(val, size, "validation crops"), spec) if len(val) else val
    return feed, val_set, manifest_crop(cfg, train)


def _make_model(cfg: TrainConfig, bins: BinSpec) -> PoseNet:
    model = PoseNet(cfg.backbone, bins.count)
    if cfg.init_from:
        start, start_manifest = load_model(cfg.init_from)
        if start_manifest.backbone != cfg.backbone:
            raise TrainError(f"init_from {cfg.init_from} is a {start_manifest.backbone}, "
                             f"not a {cfg.backbone}")
        model.load_state_dict(start.state_dict())
        _LOG.info("initialised all weights from %s", cfg.init_from)
    elif cfg.imagenet_weights:
        n = load_imagenet_trunk(model, cfg.imagenet_weights)
        _LOG.info("initialised %d trunk tensors from %s", n, cfg.imagenet_weights)
    else:
        _LOG.info("no ImageNet weights given: %s trunk starts from random initialisation",
                  cfg.backbone)
    return model


def _optimizer(model: PoseNet, cfg: TrainConfig) -> torch.optim.Optimizer:
    groups = [{"params": model.trunk_parameters(), "lr": cfg.lr, "lr_mult": 1.0},
              {"params": model.head_parameters(), "lr": cfg.lr * cfg.head_lr_mult,
               "lr_mult": cfg.head_lr_mult}]
    kind = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return kind(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)


def lr_at(step: int, total: int, warmup: int, base: float, schedule: str,
          floor: float = 0.0) -> float:
    """Learning rate at ``step``: linear warm-up, then constant or cosine decay to ``floor``."""
    if step < warmup:
        return base * (step + 1) / warmup
    if schedule == "constant":
        return base
    done = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (base - floor) * 0.5 * (1 + math.cos(math.pi * done))


def swa_lr_at(step: int, total: int, warmup: int, cfg: TrainConfig, swa_steps: int) -> float:
    """The schedule with its last ``swa_steps`` at ``cfg.swa_lr``: the cosine ends there."""
    if not swa_steps:
        return lr_at(step, total, warmup, cfg.lr, cfg.schedule)
    swa_from = total - swa_steps
    if step >= swa_from:      # a run that is all averaging warms up to swa_lr
        return lr_at(step, total, warmup if swa_from == 0 else 0, cfg.swa_lr, "constant")
    return lr_at(step, swa_from, warmup, cfg.lr, cfg.schedule, floor=cfg.swa_lr)


def distill_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor) -> torch.Tensor:
    """``sum over angles KL(teacher || student)``, batch mean."""
    log_s = F.log_softmax(student_logits.float(), dim=-1)
    kl = (teacher_probs * (torch.log(teacher_probs.clamp_min(1e-30)) - log_s)).sum(-1)
    return kl.sum(-1).mean()


@dataclass
class RunState:
    """Where a run is; saved in every checkpoint."""

    epoch: int = 0
    batch: int = 0                       # batches of ``epoch`` already done
    step: int = 0
    best_mae: float = float("inf")
    planned_epochs: int = 0
    elapsed_s: float = 0.0
    epoch_seconds: list = field(default_factory=list)


class Trainer:
    """Holds one run's state; :meth:`run` trains to the end (or ``max_steps``, or the budget)."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg, self.bins = cfg, BinSpec()
        self.expectation_map = decode_map(cfg.loss, self.bins)
        self.out = Path(cfg.out_dir)
        self.dist = _init_distributed(cfg)
        torch.manual_seed(cfg.seed + self.dist.rank)
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            cfg.save(self.out / "config.json")
        self.feed, self.val_set, self.crop = build_feed(cfg, self.bins, self.dist.rank,
                                                        self.dist.world, self.dist.device)
        self.model = _make_model(cfg, self.bins).to(self.dist.device)
        # the training forward (teachers' passes included) in bf16: auto = on CUDA only
        self.bf16 = cfg.autocast == "bf16" or (cfg.autocast == "auto"
                                               and torch.device(self.dist.device).type == "cuda")
        if cfg.channels_last or cfg.resident:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.ema = copy.deepcopy(self.model).eval() if cfg.ema_decay else None
        self.swa = (torch.optim.swa_utils.AveragedModel(self.model).eval()
                    if cfg.swa_epochs else None)
        self.teachers, self.teacher_notes = [], []
        self.teacher_sizes: list[int] = []
        for name in cfg.distill_from if cfg.distill_weight else ():   # weight 0: no teacher
            self._add_teacher(name)
        self.net: torch.nn.Module = self.model
        if self.dist.world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(self.model)
        self.opt = _optimizer(self.model, cfg)
        self.state = RunState(planned_epochs=cfg.epochs)
        self.history: list[dict] = []
        if cfg.resume:
            self._load_checkpoint()
            if not cfg.time_budget_s:
                self.state.planned_epochs = cfg.epochs

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> dict:
        """Train; return a summary (best validation MAE, steps, seconds, history)."""
        began = time.time() - self.state.elapsed_s
        while self.state.epoch < self.state.planned_epochs and not self._done():
            epoch_began = time.time()
            self._train_epoch(began)
            if self.state.batch < self.feed.steps_per_epoch:   # stopped by max_steps mid-epoch
                self._validate()
                self._save_checkpoint(began)
                break
            self.state.epoch_seconds.append(time.time() - epoch_began)
            self.state.epoch, self.state.batch = self.state.epoch + 1, 0
            self._average_weights()
            if not self.cfg.val_every_steps:
                self._validate()
            self._fit_budget(began)
            self._save_checkpoint(began)
        summary = {"epochs": self.state.epoch, "steps": self.state.step,
                   "best_val_mae": self.state.best_mae, "seconds": time.time() - began,
                   "planned_epochs": self.state.planned_epochs, "history": self.history}
        if self.dist.is_main:
            (self.out / "history.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
            plot_history(self.history, self.out / "history.png", keep=self.cfg.keep)
        return summary

    def _done(self) -> bool:
        return bool(self.cfg.max_steps) and self.state.step >= self.cfg.max_steps

    def _total_steps(self) -> tuple[int, int]:
        spe = self.feed.steps_per_epoch
        return self.state.planned_epochs * spe, int(self.cfg.warmup_epochs * spe)

    def _train_epoch(self, began: float) -> None:
        self.net.train()
        cfg, st = self.cfg, self.state
        total, warmup = self._total_steps()
        swa_steps = self._swa_epochs() * self.feed.steps_per_epoch
        bar = tqdm(self.feed.batches(st.epoch, st.batch), total=self.feed.steps_per_epoch,
                   initial=st.batch, desc=f"epoch {st.epoch + 1}/{st.planned_epochs}",
                   unit="batch", disable=not self.dist.is_main, leave=False)
        for images, angles in bar:
            rate = swa_lr_at(st.step, total, warmup, cfg, swa_steps)
            for group in self.opt.param_groups:
                group["lr"] = rate * group["lr_mult"]
            loss = self._step(images.to(self.dist.device), angles.to(self.dist.device))
            st.step, st.batch = st.step + 1, st.batch + 1
            if st.step % cfg.log_every_steps == 0 or st.step == 1:
                bar.set_postfix(loss=f"{loss['loss']:.3f}")
                self.history.append({"step": st.step, "epoch": st.epoch + 1, **loss})
            if cfg.val_every_steps and st.step % cfg.val_every_steps == 0:
                self._validate()
                self.net.train()
            if cfg.checkpoint_every_steps and st.step % cfg.checkpoint_every_steps == 0:
                self._save_checkpoint(began)
            if self._done():
                break

    def _step(self, images: torch.Tensor, angles: torch.Tensor) -> dict[str, float]:
        if self.cfg.channels_last or self.cfg.resident:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.net(images)
            teacher = self._teacher_probs(images) if self.teachers else None
        loss, parts = compute_loss(logits.float(), angles, self.bins, self.cfg.loss)
        if teacher is not None:
            kd = distill_loss(logits, teacher)
            loss = loss + self.cfg.distill_weight * kd
            parts["distill"] = kd.detach()
        if not torch.isfinite(loss):
            raise TrainError(f"loss became {loss.item()} at step {self.state.step}; lower --lr")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if self.ema is not None:
            self._update_ema()
        return {"loss": float(loss.detach()), **{k: float(v) for k, v in parts.items()}}

    def _add_teacher(self, name: str) -> None:
        """Load a teacher (a model folder or a built-in model name such as ``large``) and note
        which weights it was (their sha256, from its manifest, checked on load)."""
        model, manifest = load_model(resolve_model(name), self.dist.device)
        if manifest.bins != self.bins:
            raise TrainError(f"teacher {name}: its bins {manifest.bins} differ from the "
                             f"student's {self.bins}")
        if manifest.crop != self.crop:
            _LOG.warning("teacher %s was trained on other crops (%s); it sees the student's "
                         "(%s)", name, manifest.crop, self.crop)
        if manifest.input.size_px != self.cfg.input_size_px:
            _LOG.info("teacher %s sees the student's %d px batches resized to its own %d px",
                      name, self.cfg.input_size_px, manifest.input.size_px)
        digest = manifest.find("safetensors").files[0].sha256
        self.teachers.append(model.eval())
        self.teacher_sizes.append(manifest.input.size_px)
        self.teacher_notes.append(f"{name} (weights sha256 {digest[:16]})")

    @torch.no_grad()
    def _teacher_probs(self, images: torch.Tensor) -> torch.Tensor:
        """The teachers' mean distribution; each sees the batch at its own input size (bilinear,
        antialiased when shrinking), as a network trained at that size expects."""
        probs = []
        for teacher, size in zip(self.teachers, self.teacher_sizes):
            seen = images
            if size != images.shape[-1]:
                seen = F.interpolate(images, size=(size, size), mode="bilinear",
                                     align_corners=False, antialias=size < images.shape[-1])
            probs.append(torch.softmax(teacher(seen).float(), dim=-1))
        return torch.stack(probs).mean(0)

    @torch.no_grad()
    def _update_ema(self) -> None:
        # Warm-up of the decay, so that a short run's EMA is not dominated by the random start.
        d = min(self.cfg.ema_decay, (1 + self.state.step) / (10 + self.state.step))
        ema_state, live = self.ema.state_dict(), self.model.state_dict()
        floats = [k for k, v in ema_state.items() if v.is_floating_point()]
        torch._foreach_lerp_([ema_state[k] for k in floats], [live[k] for k in floats], 1 - d)
        for k, v in ema_state.items():
            if not v.is_floating_point():
                v.copy_(live[k])

    def _swa_epochs(self) -> int:
        """Epochs of the averaging phase (fewer when a time budget cut the run short)."""
        return min(self.cfg.swa_epochs, self.state.planned_epochs)

    @torch.no_grad()
    def _average_weights(self) -> None:
        """In the averaging phase: add this epoch's weights to the average, redo its BN stats."""
        if self.swa is None or self.state.epoch <= self.state.planned_epochs - self._swa_epochs():
            return
        self.swa.update_parameters(self.model)
        if self.dist.is_main:
            batches = self.feed.batches(self.state.epoch, 0)
            images = (b[0].to(self.dist.device) for b in itertools.islice(batches,
                                                                           SWA_BN_BATCHES))
            torch.optim.swa_utils.update_bn(images, self.swa)
            self.swa.eval()
        _LOG.info("epoch %d: weights of %d epochs averaged", self.state.epoch,
                  int(self.swa.n_averaged))

    def _fit_budget(self, began: float) -> None:
        """After the second epoch, fit the planned epochs to the time budget (once)."""
        st, budget = self.state, self.cfg.time_budget_s
        if not budget or st.epoch != 2 or len(st.epoch_seconds) < 2:
            return
        per_epoch = st.epoch_seconds[-1]   # the second epoch: no start-up or autotuning
        left = budget - (time.time() - began)
        st.planned_epochs = max(2, min(self.cfg.epochs, 2 + int(left / per_epoch)))
        _LOG.info("%.1f s per epoch: %d epochs fit the %.0f s budget", per_epoch,
                  st.planned_epochs, budget)

    # -- validation and saving --------------------------------------------------------------
    def _eval_model(self) -> torch.nn.Module:
        if self.swa is not None and int(self.swa.n_averaged):
            return self.swa.module
        return self.ema if self.ema is not None else self.model

    def _validate(self) -> None:
        if self.dist.world > 1:
            dist.barrier()
        if not self.dist.is_main:
            return
        if len(self.val_set) == 0:
            self._save_kept({"mae": float("nan")}, force=True)
            return
        pred, true = predict_dataset(self._eval_model(), self.val_set, self.bins,
                                     self.dist.device, batch_size=max(self.cfg.batch_size, 64),
                                     expectation_map=self.expectation_map)
        table = mae_table(pred, true)
        bands = mae_by_yaw_band(pred, true)
        self.history.append({"step": self.state.step, "epoch": self.state.epoch, "val": table,
                             "val_bands": bands})
        _LOG.info("step %d (epoch %d): validation MAE %.2f (yaw %.2f, pitch %.2f, roll %.2f; "
                  "yaw beyond 60: %.2f; n=%d)", self.state.step, self.state.epoch, table["mae"],
                  table["yaw"], table["pitch"], table["roll"], bands["60-99"]["yaw"],
                  table["count"])
        self._save_kept(table)

    def _save_kept(self, table: dict, force: bool = False) -> None:
        """Save the evaluated weights if they are the ones the run keeps (``cfg.keep``)."""
        better = table["mae"] < self.state.best_mae
        if better:
            self.state.best_mae = table["mae"]
        if not (force or better or self.cfg.keep == "last"):
            return
        loss, cfg = self.cfg.loss, self.cfg
        info = TrainingInfo(dataset=f"{cfg.dataset}: {cfg.data}", loss=loss.name,
                            alpha=loss.alpha, sigma_bins=loss.sigma_bins,
                            label_form=loss.label_form, binned_centre=loss.binned_centre,
                            recipe=cfg.recipe,
                            notes=f"step {self.state.step}, validation MAE {table['mae']:.3f}"
                                  + self._averaged_note() + self._distilled_note())
        manifest = Manifest(backbone=cfg.backbone,
                            input=InputSpec(size_px=cfg.input_size_px, resize=cfg.resize),
                            crop=self.crop, bins=self.bins, training=info,
                            expectation_map=self.expectation_map)
        model = self._eval_model()
        cpu = PoseNet(cfg.backbone, self.bins.count)
        cpu.load_state_dict({k: v.detach().float().cpu() for k, v in model.state_dict().items()})
        save_model(self.out, cpu, manifest, half=cfg.save_half)

    def _distilled_note(self) -> str:
        if not self.cfg.distill_weight:
            return ""
        return (f", distilled from {' + '.join(self.teacher_notes)} at weight "
                f"{self.cfg.distill_weight:g}")

    def _averaged_note(self) -> str:
        n = int(self.swa.n_averaged) if self.swa is not None else 0
        return f", weights of the last {n} epochs averaged (SWA)" if n else ""

    def _save_checkpoint(self, began: float) -> None:
        if not self.dist.is_main:
            return
        self.state.elapsed_s = time.time() - began
        state = {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                 "ema": self.ema.state_dict() if self.ema is not None else {},
                 "swa": self.swa.state_dict() if self.swa is not None else {},
                 "run_state": json.dumps(asdict(self.state)),
                 "torch_rng": torch.get_rng_state()}
        tmp = self.out / (CHECKPOINT_NAME + ".tmp")
        torch.save(state, tmp)
        tmp.replace(self.out / CHECKPOINT_NAME)
        (self.out / "history.json").write_text(json.dumps(
            {"epochs": self.state.epoch, "steps": self.state.step,
             "best_val_mae": self.state.best_mae, "planned_epochs": self.state.planned_epochs,
             "history": self.history}, indent=2, sort_keys=True))

    def _load_checkpoint(self) -> None:
        path = self.out / CHECKPOINT_NAME
        if not path.is_file():
            raise TrainError(f"--resume given but {path} does not exist")
        try:
            state = torch.load(path, map_location=self.dist.device, weights_only=True)
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            if self.ema is not None and state["ema"]:
                self.ema.load_state_dict(state["ema"])
            if self.swa is not None and state.get("swa"):
                self.swa.load_state_dict(state["swa"])
            self.state = RunState(**json.loads(state["run_state"]))
        except Exception as exc:  # corrupt, foreign or older checkpoint
            raise TrainError(f"cannot resume from checkpoint {path}: {exc}") from exc
        torch.set_rng_state(state["torch_rng"].cpu())
        history = self.out / "history.json"
        if history.is_file():
            self.history = json.loads(history.read_text()).get("history", [])
        _LOG.info("resumed from %s at epoch %d, batch %d (step %d)", path, self.state.epoch,
                  self.state.batch, self.state.step)


def train(cfg: TrainConfig) -> dict:
    """Run one training; see :class:`Trainer`."""
    trainer = Trainer(cfg)
    try:
        return trainer.run()
    finally:
        if trainer.dist.world > 1 and dist.is_initialized():
            dist.destroy_process_group()
