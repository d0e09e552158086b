"""gldpose training: datasets, GLD labels and losses, the training loop and evaluation."""
from __future__ import annotations

from gldpose_sdk.errors import GldposeError


class TrainError(GldposeError):
    """A training or evaluation run cannot proceed (bad data folder, config or checkpoint)."""
