"""Pose distributions of the synthetic sets: a registry of samplers (yaw, pitch, roll in degrees).

``imbalanced`` follows the shape of 300W-LP's histogram: most faces near frontal, a thin tail of
large poses (about 4 % beyond 60 degrees of |yaw|, about 4 % beyond 20 degrees of |roll|).
``uniform`` covers yaw +-90, pitch +-60 and roll +-45 evenly: the test bed for large poses.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gldpose_train import TrainError

PoseSampler = Callable[[np.random.Generator], tuple[float, float, float]]


def _mixture(rng: np.random.Generator, sigmas: tuple[float, float], p_wide: float,
             limit: float) -> float:
    sigma = sigmas[1] if rng.random() < p_wide else sigmas[0]
    while True:
        value = rng.normal(0.0, sigma)
        if abs(value) <= limit:
            return float(value)


def sample_imbalanced(rng: np.random.Generator) -> tuple[float, float, float]:
    """Near-frontal most of the time: yaw, pitch, roll as two-Gaussian mixtures, truncated."""
    yaw = _mixture(rng, (20.0, 50.0), 0.15, 95.0)
    pitch = _mixture(rng, (10.0, 25.0), 0.12, 75.0)
    roll = _mixture(rng, (7.0, 20.0), 0.10, 70.0)
    return yaw, pitch, roll


def sample_uniform(rng: np.random.Generator) -> tuple[float, float, float]:
    """Yaw U(-90, 90), pitch U(-60, 60), roll U(-45, 45)."""
    return (float(rng.uniform(-90, 90)), float(rng.uniform(-60, 60)), float(rng.uniform(-45, 45)))


POSE_DISTS: dict[str, PoseSampler] = {
    "imbalanced": sample_imbalanced,
    "uniform": sample_uniform,
}


def get_pose_dist(name: str) -> PoseSampler:
    """The sampler registered as ``name``.

    Raises:
        TrainError: unknown name (the message lists the valid ones).
    """
    if name not in POSE_DISTS:
        raise TrainError(f"unknown pose distribution {name!r}; choose one of {sorted(POSE_DISTS)}")
    return POSE_DISTS[name]
