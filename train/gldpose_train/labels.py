"""Gaussian label distributions over angle bins (DESIGN 2).

``gaussian`` (default): a normalised Gaussian of ``sigma`` bins around the continuous bin position
``u = (angle - offset) / width``. ``paper_eq1``: the paper's Eq. (1) as printed, a softmax over
``exp(-(l - alpha)^2 / (2 sigma^2)) / sigma``, which is nearly flat; kept for the ablation.
"""
from __future__ import annotations

import numpy as np
import torch

from gldpose_sdk.manifest import MAX_MAP_KNOTS, BinSpec, ExpectationMap

LABEL_FORMS = ("gaussian", "paper_eq1")


def bin_position(angles_deg: torch.Tensor, bins: BinSpec) -> torch.Tensor:
    """Continuous position of each angle in bin units (bin i's centre is at i)."""
    return (angles_deg - bins.offset_deg) / bins.width_deg


def hard_bin(angles_deg: torch.Tensor, bins: BinSpec) -> torch.Tensor:
    """Index of the bin containing each angle, clamped to ``[0, count-1]`` (int64)."""
    idx = torch.floor((angles_deg - bins.low_deg) / bins.width_deg).long()
    return idx.clamp_(0, bins.count - 1)


def gld_targets(
    angles_deg: torch.Tensor,
    bins: BinSpec,
    sigma_bins: float = 4.0,
    form: str = "gaussian",
    binned_centre: bool = False,
) -> torch.Tensor:
    """Target distributions ``[..., bins]`` (float32, each summing to 1) for angles ``[...]``.

    Args:
        angles_deg: ground-truth angles in degrees, any shape.
        bins: the bin layout.
        sigma_bins: the Gaussian's standard deviation in bins (paper: 4).
        form: ``"gaussian"`` or ``"paper_eq1"``.
        binned_centre: centre on the hard bin index (the paper's alpha) instead of ``u``.
    """
    if form not in LABEL_FORMS:
        raise ValueError(f"unknown label form {form!r}; choose one of {LABEL_FORMS}")
    if sigma_bins <= 0:
        raise ValueError(f"sigma_bins must be > 0, got {sigma_bins}")
    angles = angles_deg.float()
    centre = hard_bin(angles, bins).float() if binned_centre else bin_position(angles, bins)
    grid = torch.arange(bins.count, dtype=torch.float32, device=angles.device)
    sq = (grid - centre.unsqueeze(-1)) ** 2
    if form == "gaussian":
        return torch.softmax(-sq / (2 * sigma_bins**2), dim=-1)
    return torch.softmax(torch.exp(-sq / (2 * sigma_bins**2)) / sigma_bins, dim=-1)


def target_expectation_map(bins: BinSpec, sigma_bins: float = 4.0, form: str = "gaussian",
                           binned_centre: bool = False, step_deg: float = 1.0
                           ) -> ExpectationMap | None:
    """The decode's map from softmax expectation back to the angle, for this target.

    :func:`gld_targets` cuts each Gaussian off at the ends of the bins and renormalises it, so
    the target of angle ``a`` has the expectation ``g(a)``, short of ``a`` near +-99 degrees.
    A network that learns the target reproduces ``g(a)``; the knots ``(g(a), a)`` every
    ``step_deg`` over the bin range (at most ``MAX_MAP_KNOTS``) let the SDK map it back
    (:class:`ExpectationMap`).

    Returns:
        The map of a ``gaussian`` target, or None where the target's expectation does not
        strictly increase with the angle, so that nothing can invert it: ``binned_centre``
        targets (the hard bin's centre), ``paper_eq1``'s nearly flat targets, and Gaussians
        narrower than about 0.25 bin (one-hot in float32: a staircase).
    """
    if binned_centre or form != "gaussian":
        return None
    count = min(MAX_MAP_KNOTS, round((bins.high_deg - bins.low_deg) / step_deg) + 1)
    angles = np.linspace(bins.low_deg, bins.high_deg, count)
    target = gld_targets(torch.from_numpy(angles), bins, sigma_bins, form).double()
    expectation = (target @ torch.from_numpy(bins.centres_deg()).double()).numpy()
    if not np.all(np.diff(np.round(expectation, 6)) > 0):
        return None
    return ExpectationMap(tuple(round(float(v), 6) for v in expectation),
                          tuple(round(float(v), 6) for v in angles),
                          source=f"gld target, {form}, sigma {sigma_bins:g} bins, cut off at "
                                 f"[{bins.low_deg:g}, {bins.high_deg:g}] degrees")
