"""Losses of the paper (GLD: KL + Euclidean + alpha*MSE) and the Hopenet baseline (DESIGN 2).

Every loss takes logits ``[N, 3, B]`` and angles ``[N, 3]`` in degrees (yaw, pitch, roll), sums
over the three angles and averages over the batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gldpose_sdk.manifest import BinSpec, ExpectationMap, TrainingInfo
from gldpose_train.labels import gld_targets, hard_bin, target_expectation_map

LOSSES = ("gld", "hopenet")


@dataclass(frozen=True)
class LossConfig:
    """Which loss, and its parameters."""

    name: str = "gld"
    alpha: float = 0.01
    sigma_bins: float = 4.0
    label_form: str = "gaussian"
    binned_centre: bool = False

    def __post_init__(self) -> None:
        if self.name not in LOSSES:
            raise ValueError(f"unknown loss {self.name!r}; choose one of {LOSSES}")
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")


def expected_angle(logits: torch.Tensor, bins: BinSpec) -> torch.Tensor:
    """Softmax-expectation decode in torch: logits ``[..., B]`` -> degrees ``[...]``."""
    centres = torch.as_tensor(bins.centres_deg(), device=logits.device, dtype=torch.float32)
    return torch.softmax(logits.float(), dim=-1) @ centres


def gld_loss(logits: torch.Tensor, angles_deg: torch.Tensor, bins: BinSpec,
             cfg: LossConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``sum_angles (L_KL + L_Eu + alpha * L_MSE)``, batch mean. Returns (loss, detached parts)."""
    target = gld_targets(angles_deg, bins, cfg.sigma_bins, cfg.label_form, cfg.binned_centre)
    log_p = F.log_softmax(logits.float(), dim=-1)
    kl = (target * (torch.log(target.clamp_min(1e-30)) - log_p)).sum(-1)
    eu = torch.linalg.vector_norm(target - log_p.exp(), dim=-1)
    mse = (expected_angle(logits, bins) - angles_deg.float()) ** 2
    total = (kl + eu + cfg.alpha * mse).sum(-1).mean()
    parts = {"kl": kl.sum(-1).mean().detach(), "eu": eu.sum(-1).mean().detach(),
             "mse": mse.sum(-1).mean().detach()}
    return total, parts


def hopenet_loss(logits: torch.Tensor, angles_deg: torch.Tensor, bins: BinSpec,
                 cfg: LossConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Hopenet: cross-entropy on the hard bin + ``alpha * MSE`` of the decoded angle."""
    target = hard_bin(angles_deg, bins)
    ce = F.cross_entropy(logits.float().flatten(0, 1), target.flatten(), reduction="none")
    ce = ce.view(target.shape)
    mse = (expected_angle(logits, bins) - angles_deg.float()) ** 2
    total = (ce + cfg.alpha * mse).sum(-1).mean()
    return total, {"ce": ce.sum(-1).mean().detach(), "mse": mse.sum(-1).mean().detach()}


def compute_loss(logits: torch.Tensor, angles_deg: torch.Tensor, bins: BinSpec,
                 cfg: LossConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Dispatch on ``cfg.name``."""
    fn = gld_loss if cfg.name == "gld" else hopenet_loss
    return fn(logits, angles_deg, bins, cfg)


def decode_map(cfg: LossConfig, bins: BinSpec) -> ExpectationMap | None:
    """The expectation map a model trained with this loss needs at decode time.

    GLD's targets are cut off at the ends of the bins (:func:`target_expectation_map`);
    Hopenet's hard bins plus MSE have no such target, so their expectation stays as it is.
    """
    if cfg.name != "gld":
        return None
    return target_expectation_map(bins, cfg.sigma_bins, cfg.label_form, cfg.binned_centre)


def loss_of_training(info: TrainingInfo) -> LossConfig:
    """The :class:`LossConfig` a manifest's ``training`` section records."""
    return LossConfig(name=info.loss, alpha=info.alpha, sigma_bins=info.sigma_bins,
                      label_form=info.label_form, binned_centre=info.binned_centre)
