"""Device-resident training on labelled face crops: the recipe behind the default model.

The whole crop set (tens of thousands of small crops) lives as one uint8 tensor on the training
device, and augmentation runs there too, so a GPU trains small backbones at thousands of images
per second instead of waiting for JPEG decoding. The crops are prepared once with the SDK's own
preprocessing (``gldpose_sdk.preprocess``), so that an un-augmented training view equals the
evaluation input exactly. Works on CPU as well (slowly).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from gldpose_sdk.manifest import BinSpec, CropRule, InputSpec, Manifest, TrainingInfo
from gldpose_sdk.model import PoseNet, load_model, save_model
from gldpose_train import TrainError
from gldpose_train.evaluate import mae_table
from gldpose_train.losses import LossConfig, compute_loss, expected_angle

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceAugment:
    """Random affine (zoom/shift, black outside), flip with sign change, colour, blur."""

    zoom_range: tuple[float, float] = (0.85, 1.15)
    shift_frac: float = 0.08
    flip_prob: float = 0.5
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    gray_prob: float = 0.05
    blur_prob: float = 0.15


@dataclass(frozen=True)
class PreloadedTrainConfig:
    """One training run on preloaded crops. Defaults are the default model's recipe."""

    out_dir: str
    backbone: str = "mobilenet_v3_large"
    loss: LossConfig = LossConfig()
    epochs: int = 60
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 2.0
    ema_decay: float = 0.995
    time_budget_s: float = 0.0
    seed: int = 0
    device: str = "cuda"
    augment: DeviceAugment = DeviceAugment()
    dataset_name: str = "aflw-crops"
    notes: str = ""
    init_from: str = ""                  # model folder to start from (fine-tuning)


@dataclass
class CropArrays:
    """Preprocessed crops (RGB uint8 ``[N, S, S, 3]``) with angles ``[N, 3]`` (yaw, pitch, roll)."""

    images: np.ndarray
    angles_deg: np.ndarray
    eval_angles_deg: np.ndarray
    names: list[str]


def _augment(x: torch.Tensor, angles: torch.Tensor, aug: DeviceAugment,
             gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 NHWC -> float NCHW in [0, 1], augmented; angles flipped where images are."""
    n, dev = x.shape[0], x.device
    img = x.permute(0, 3, 1, 2).float().div_(255.0)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen, device=dev)

    zoom = aug.zoom_range[0] + (aug.zoom_range[1] - aug.zoom_range[0]) * rand(n)
    flip = rand(n) < aug.flip_prob
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0] = torch.where(flip, -1.0, 1.0) / zoom
    theta[:, 1, 1] = 1.0 / zoom
    theta[:, :, 2] = (rand(n, 2) * 2 - 1) * aug.shift_frac * 2
    grid = F.affine_grid(theta, list(img.shape), align_corners=False)
    img = F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    sign = torch.ones(n, 3, device=dev)
    sign[flip, 0] = -1.0
    sign[flip, 2] = -1.0
    angles = angles * sign
    gray = img.mul(torch.tensor([0.299, 0.587, 0.114], device=dev).view(1, 3, 1, 1)).sum(
        1, keepdim=True)
    sat = 1 + (rand(n, 1, 1, 1) * 2 - 1) * aug.saturation
    sat = torch.where(rand(n, 1, 1, 1) < aug.gray_prob, torch.zeros_like(sat), sat)
    img = gray + (img - gray) * sat
    mean = img.mean(dim=(1, 2, 3), keepdim=True)
    img = mean + (img - mean) * (1 + (rand(n, 1, 1, 1) * 2 - 1) * aug.contrast)
    img = img * (1 + (rand(n, 1, 1, 1) * 2 - 1) * aug.brightness)
    blurred = F.avg_pool2d(F.pad(img, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    img = torch.where(rand(n, 1, 1, 1) < aug.blur_prob, blurred, img)
    return img.clamp_(0.0, 1.0), angles


def _normalise(img01: torch.Tensor, spec: InputSpec) -> torch.Tensor:
    mean = torch.tensor(spec.mean_rgb, device=img01.device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std_rgb, device=img01.device).view(1, 3, 1, 1)
    return ((img01 - mean) / std).contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def predict_angles(model: torch.nn.Module, images: torch.Tensor, spec: InputSpec,
                   bins: BinSpec, batch_size: int = 512) -> np.ndarray:
    """Angles ``[N, 3]`` (degrees) for uint8 NHWC images on the model's device, no augmentation."""
    model.eval()
    out = []
    for i in range(0, images.shape[0], batch_size):
        x = _normalise(images[i:i + batch_size].permute(0, 3, 1, 2).float().div(255.0), spec)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=x.device.type == "cuda"):
            logits = model(x)
        out.append(expected_angle(logits.float(), bins).cpu())
    return torch.cat(out).numpy()


def _lr_at(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def train_preloaded(cfg: PreloadedTrainConfig, train: CropArrays, val: CropArrays,
                    input_spec: InputSpec, crop: CropRule) -> dict:
    """Train one model on preloaded crops; keep the best EMA weights by validation MAE.

    Writes ``out_dir/model.safetensors`` + ``manifest.json`` (best), ``history.json``.
    Returns the summary dict (best epoch, validation table, images/s, seconds).
    """
    if train.images.shape[1] != input_spec.size_px:
        raise TrainError(f"crops are {train.images.shape[1]} px but the input spec says "
                         f"{input_spec.size_px}")
    torch.manual_seed(cfg.seed)
    dev = torch.device(cfg.device)
    torch.backends.cudnn.benchmark = dev.type == "cuda"
    bins = BinSpec()
    gen = torch.Generator(device=dev).manual_seed(cfg.seed)
    x_train = torch.from_numpy(train.images).to(dev)
    y_train = torch.from_numpy(train.angles_deg.astype(np.float32)).to(dev)
    x_val = torch.from_numpy(val.images).to(dev)
    model = PoseNet(cfg.backbone, bins.count)
    if cfg.init_from:
        start_model, start_manifest = load_model(cfg.init_from)
        if start_manifest.backbone != cfg.backbone:
            raise TrainError(f"--init-from {cfg.init_from} is a {start_manifest.backbone}, "
                             f"not a {cfg.backbone}")
        model.load_state_dict(start_model.state_dict())
    model = model.to(dev).to(memory_format=torch.channels_last)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, len(x_train) // cfg.batch_size)
    total, warmup = cfg.epochs * steps_per_epoch, int(cfg.warmup_epochs * steps_per_epoch)
    best, history, step, start = None, [], 0, time.time()
    epochs = cfg.epochs
    for epoch in range(cfg.epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=gen, device=dev)
        sums = torch.zeros(2, device=dev)
        for i in range(steps_per_epoch):
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            img, ang = _augment(x_train[idx], y_train[idx], cfg.augment, gen)
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, total, warmup, cfg.lr)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                logits = model(_normalise(img, input_spec))
            loss, _ = compute_loss(logits.float(), ang, bins, cfg.loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            ema.update_parameters(model)
            sums += torch.stack([loss.detach(), torch.ones((), device=dev)])
            step += 1
        pred = predict_angles(ema.module, x_val, input_spec, bins)
        table = mae_table(pred, val.eval_angles_deg)
        elapsed = time.time() - start
        history.append({"epoch": epoch + 1, "loss": float(sums[0] / sums[1]), **table,
                        "seconds": elapsed})
        _LOG.info("%s epoch %d loss %.3f val MAE %.2f (yaw %.2f pitch %.2f roll %.2f) %.0fs",
                  cfg.backbone, epoch + 1, history[-1]["loss"], table["mae"], table["yaw"],
                  table["pitch"], table["roll"], elapsed)
        if best is None or table["mae"] < best["mae"]:
            best = {**table, "epoch": epoch + 1}
            _save(cfg, ema.module, input_spec, crop, best)
        if epoch == 1 and cfg.time_budget_s:
            # Fit the schedule to the budget from the second (steady) epoch's time, so that
            # the cosine decay finishes instead of being cut off.
            per_epoch = elapsed - history[0]["seconds"]
            epochs = max(2, min(cfg.epochs, 2 + int((cfg.time_budget_s - elapsed) / per_epoch)))
            total = epochs * steps_per_epoch
            _LOG.info("%s: %.1fs per epoch, running %d epochs in the %.0fs budget",
                      cfg.backbone, per_epoch, epochs, cfg.time_budget_s)
        if epoch + 1 >= epochs:
            break
    seconds = time.time() - start
    summary = {"config": _config_dict(cfg), "best": best, "epochs_run": len(history),
               "seconds": seconds, "train_images_per_s": step * cfg.batch_size / seconds,
               "history": history}
    Path(cfg.out_dir, "history.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    return summary


def _config_dict(cfg: PreloadedTrainConfig) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def _save(cfg: PreloadedTrainConfig, model: torch.nn.Module, spec: InputSpec, crop: CropRule,
          best: dict) -> None:
    loss = cfg.loss
    info = TrainingInfo(
        dataset=cfg.dataset_name, loss=loss.name, alpha=loss.alpha, sigma_bins=loss.sigma_bins,
        label_form=loss.label_form,
        notes=(f"{cfg.notes} best epoch {best['epoch']}: val MAE {best['mae']:.2f} "
               f"(yaw {best['yaw']:.2f}, pitch {best['pitch']:.2f}, roll {best['roll']:.2f})"),
    )
    manifest = Manifest(backbone=cfg.backbone, input=spec, crop=crop, training=info)
    cpu_model = PoseNet(cfg.backbone)
    cpu_model.load_state_dict({k: v.detach().float().cpu() for k, v in model.state_dict().items()})
    save_model(cfg.out_dir, cpu_model, manifest, half=True)
