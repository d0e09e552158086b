"""Augmentation of uint8 crop batches on the training device (torch), labels kept exact.

Used by the device-resident feed (:mod:`gldpose_train.feeds`): a batch of preprocessed RGB crops
``[n, S, S, 3]`` becomes a normalised float batch with one ``grid_sample`` (zoom, shift, flip and
in-plane rotation together, black outside), then colour jitter, greyscale, darkening and blur. A
flip maps (yaw, pitch, roll) to (-yaw, pitch, -roll); an in-plane rotation is composed with the
head's rotation and decomposed back (:func:`gldpose_sdk.rotation.rotate_in_plane`), so a turned
face's yaw and pitch change as they really do. Rotations that would push an angle outside the bin
range are not applied.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from gldpose_sdk.manifest import BinSpec, InputSpec
from gldpose_sdk.rotation import rotate_in_plane
from gldpose_train.config import ResidentAugment


def normalise_batch(img01: torch.Tensor, spec: InputSpec) -> torch.Tensor:
    """RGB float ``[n, 3, S, S]`` in [0, 1] -> ``(x - mean) / std`` (the SDK's normalisation)."""
    mean = torch.tensor(spec.mean_rgb, device=img01.device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std_rgb, device=img01.device).view(1, 3, 1, 1)
    return (img01 - mean) / std


def to_unit_nchw(crops: torch.Tensor) -> torch.Tensor:
    """uint8 ``[n, S, S, 3]`` -> float ``[n, 3, S, S]`` in [0, 1]."""
    return crops.permute(0, 3, 1, 2).float().div_(255.0)


def _rotations(angles: torch.Tensor, aug: ResidentAugment, bins: BinSpec,
               rand: torch.Tensor, amount: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Clockwise rotation per sample (degrees, 0 where not rotated) and the new labels."""
    n = angles.shape[0]
    phi = torch.where(rand < aug.rotate_prob, (amount * 2 - 1) * aug.rotate_deg,
                      torch.zeros(n, device=angles.device))
    if aug.rotate_deg == 0 or not bool((phi != 0).any()):
        return torch.zeros(n, device=angles.device), angles
    new = rotate_in_plane(angles.detach().cpu().double().numpy(), phi.cpu().double().numpy())
    ok = np.all((new >= bins.low_deg) & (new < bins.high_deg), axis=1)
    ok_t = torch.from_numpy(ok).to(angles.device)
    new_t = torch.from_numpy(new).to(angles.device, angles.dtype)
    return torch.where(ok_t, phi, torch.zeros_like(phi)), torch.where(ok_t[:, None], new_t, angles)


def augment_batch(crops: torch.Tensor, angles: torch.Tensor, aug: ResidentAugment, bins: BinSpec,
                  gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch; returns float ``[n, 3, S, S]`` in [0, 1] and ``[n, 3]`` angles (deg).

    Args:
        crops: uint8 ``[n, S, S, 3]`` RGB on the training device.
        angles: float ``[n, 3]`` yaw, pitch, roll in degrees, same device.
        aug: ranges and probabilities.
        bins: the bin layout (rotated labels must stay inside it).
        gen: generator on the crops' device; every random draw comes from it.
    """
    n, dev = crops.shape[0], crops.device
    img = to_unit_nchw(crops)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen, device=dev)

    zoom = aug.zoom_range[0] + (aug.zoom_range[1] - aug.zoom_range[0]) * rand(n)
    flip = rand(n) < aug.flip_prob
    phi_deg, angles = _rotations(angles, aug, bins, rand(n), rand(n))
    sign = torch.ones(n, 3, device=dev)
    sign[flip, 0] = -1.0
    sign[flip, 2] = -1.0
    # The flip happens after the rotation (in output space), so the flipped sample's rotation
    # label is the flipped rotated pose.
    angles = angles * sign
    phi = phi_deg * (math.pi / 180.0)
    cos, sin = torch.cos(phi), torch.sin(phi)
    fx = torch.where(flip, -1.0, 1.0)
    # grid_sample maps output coordinates to input ones: x_in = A @ x_out + t. The content turns
    # clockwise by phi (image y points down), so output points sample the input turned back.
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0] = cos * fx / zoom
    theta[:, 0, 1] = sin / zoom
    theta[:, 1, 0] = -sin * fx / zoom
    theta[:, 1, 1] = cos / zoom
    theta[:, :, 2] = (rand(n, 2) * 2 - 1) * aug.shift_frac * 2
    grid = F.affine_grid(theta, list(img.shape), align_corners=False)
    img = F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return _colour(img, aug, rand), angles


def _colour(img: torch.Tensor, aug: ResidentAugment, rand) -> torch.Tensor:
    n, dev = img.shape[0], img.device
    gray = img.mul(torch.tensor([0.299, 0.587, 0.114], device=dev).view(1, 3, 1, 1)).sum(
        1, keepdim=True)
    sat = 1 + (rand(n, 1, 1, 1) * 2 - 1) * aug.saturation
    sat = torch.where(rand(n, 1, 1, 1) < aug.gray_prob, torch.zeros_like(sat), sat)
    img = gray + (img - gray) * sat
    mean = img.mean(dim=(1, 2, 3), keepdim=True)
    img = mean + (img - mean) * (1 + (rand(n, 1, 1, 1) * 2 - 1) * aug.contrast)
    img = img * (1 + (rand(n, 1, 1, 1) * 2 - 1) * aug.brightness)
    if aug.dark_prob > 0:
        gamma = 1.5 + 1.5 * rand(n, 1, 1, 1)
        dark = img.clamp(0, 1).pow(gamma) * (0.3 + 0.4 * rand(n, 1, 1, 1))
        img = torch.where(rand(n, 1, 1, 1) < aug.dark_prob, dark, img)
    blurred = F.avg_pool2d(F.pad(img, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    img = torch.where(rand(n, 1, 1, 1) < aug.blur_prob, blurred, img)
    return img.clamp_(0.0, 1.0)
