"""Softmax-expectation decode of bin logits into angles and their uncertainty (DESIGN 1).

``angle = sum_i p_i c_i`` with ``p = softmax(logits)``; ``std = sqrt(sum_i p_i (c_i - angle)^2)``.
The compiled ``gldpose_sdk._decode`` extension is used when it was built; otherwise numpy.
Both subtract the row maximum, so logits of magnitude 1e4 decode without overflow.
:func:`decode_mapped` also applies a model's piecewise-linear maps (the expectation map and
the std calibration of its manifest) in the same compiled call.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from gldpose_sdk.errors import InputError

_LOG = logging.getLogger(__name__)

try:  # the one sanctioned optional import outside a backend (STYLE a)
    from gldpose_sdk import _decode as _compiled
except ImportError:  # extension not built: numpy fallback
    _compiled = None

_announced = False


def decode_implementation() -> str:
    """Name of the decode in use: ``"compiled"`` (C++ extension) or ``"numpy"``."""
    return "compiled" if _compiled is not None else "numpy"


def _announce() -> None:
    global _announced
    if not _announced:
        _announced = True
        _LOG.info("gldpose decode: using the %s implementation", decode_implementation())


def check_logits(logits: np.ndarray, centres_deg: np.ndarray) -> None:
    """Validate logits ``[N, A, B]`` against bin centres ``[B]``; raise InputError if wrong."""
    if not isinstance(logits, np.ndarray):
        raise InputError(f"logits must be a numpy array, got {type(logits).__name__}")
    if logits.ndim != 3:
        raise InputError(f"logits must have shape [N, angles, bins], got shape {logits.shape}")
    if logits.dtype not in (np.float32, np.float16, np.float64):
        raise InputError(f"logits must be float16/float32/float64, got {logits.dtype}")
    centres = np.asarray(centres_deg)
    if centres.ndim != 1 or centres.shape[0] != logits.shape[2]:
        raise InputError(
            f"logits have {logits.shape[2]} bins but the manifest gives {centres.shape} centres")
    if not np.all(np.isfinite(logits)):
        raise InputError("logits contain NaN or Inf: the network output is not usable")


def decode_logits_numpy(
    logits: np.ndarray, centres_deg: np.ndarray, return_probs: bool = False
) -> tuple[np.ndarray, ...]:
    """Reference numpy decode (float64 inside).

    Args:
        logits: ``[N, A, B]`` float16/32/64.
        centres_deg: ``[B]`` bin centres in degrees.
        return_probs: also return the probabilities ``[N, A, B]`` float32.

    Returns:
        ``(angles_deg [N, A] float32, std_deg [N, A] float32[, probs])``.

    Raises:
        InputError: wrong rank, dtype, bin count, or non-finite values.
    """
    check_logits(logits, centres_deg)
    z = logits.astype(np.float64)
    z -= z.max(axis=2, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=2, keepdims=True)
    c = np.asarray(centres_deg, dtype=np.float64)
    mean = p @ c
    var = np.einsum("nab,nab->na", p, (c[None, None, :] - mean[..., None]) ** 2)
    out = (mean.astype(np.float32), np.sqrt(np.maximum(var, 0.0)).astype(np.float32))
    return out + (p.astype(np.float32),) if return_probs else out


def decode_logits(
    logits: np.ndarray, centres_deg: np.ndarray, return_probs: bool = False
) -> tuple[np.ndarray, ...]:
    """Decode logits ``[N, A, B]`` into angles and std ``[N, A]`` (degrees, float32).

    Uses the compiled extension when available (same contract as :func:`decode_logits_numpy`).

    Raises:
        InputError: wrong rank, dtype, bin count, or NaN/Inf in the logits.
    """
    _announce()
    if _compiled is None or not isinstance(logits, np.ndarray) or logits.dtype == np.float64:
        return decode_logits_numpy(logits, centres_deg, return_probs)
    # The extension validates rank, dtype, bin count and finiteness itself (naming the row).
    centres = np.ascontiguousarray(centres_deg, dtype=np.float32)
    try:
        return tuple(_compiled.decode(logits, centres, return_probs))
    except ValueError as exc:
        raise InputError(str(exc)) from exc


#: Knots ``(x, y)`` of a piecewise-linear map, x strictly increasing (float64 arrays).
Knots = tuple[np.ndarray, np.ndarray]


def decode_mapped_numpy(logits: np.ndarray, centres_deg: np.ndarray,
                        angle_map: Knots | None = None,
                        std_maps: Sequence[Knots] | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference of :func:`decode_mapped` in numpy (``np.interp``)."""
    angles, std = decode_logits_numpy(logits, centres_deg)
    if angle_map is not None:
        xp, fp = angle_map
        slopes = (np.diff(fp) / np.diff(xp)).astype(np.float32)
        segment = np.clip(np.searchsorted(xp, angles, side="right"), 1, len(xp) - 1) - 1
        std = std * slopes[segment]
        angles = np.interp(angles.astype(np.float64), xp, fp).astype(np.float32)
    if std_maps is None:
        return angles, std, std.copy()
    if len(std_maps) != std.shape[1]:
        raise InputError(f"std_maps must hold one (raw, calibrated) pair per angle "
                         f"({std.shape[1]}), got {len(std_maps)}")
    calibrated = np.empty_like(std)
    for a, (raw, cal) in enumerate(std_maps):
        col = std[:, a].astype(np.float64)
        calibrated[:, a] = np.where(col > raw[-1], col * (cal[-1] / raw[-1]),
                                    np.interp(col, raw, cal))
    return angles, std, calibrated


def decode_mapped(logits: np.ndarray, centres_deg: np.ndarray, angle_map: Knots | None = None,
                  std_maps: Sequence[Knots] | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The decode, then a model's maps, in one compiled call when the extension is built.

    Args:
        logits: ``[N, A, B]`` float16/32 (float64 goes through numpy).
        centres_deg: ``[B]`` bin centres in degrees.
        angle_map: knots ``(expectation, angle)`` that every expectation goes through (the
            end values hold beyond them); the std is scaled by the slope of its segment.
        std_maps: one pair of knots ``(raw std, std)`` per angle, the calibration: the first
            value holds below the knots, the std grows in proportion above them.

    Returns:
        ``(angles, std after the angle map, calibrated std)``, each ``[N, A]`` float32.

    Raises:
        InputError: what :func:`decode_logits` raises, and knots that are not increasing
            finite pairs.
    """
    _announce()
    if _compiled is None or not isinstance(logits, np.ndarray) or logits.dtype == np.float64:
        return decode_mapped_numpy(logits, centres_deg, angle_map, std_maps)
    centres = np.ascontiguousarray(centres_deg, dtype=np.float32)
    try:
        return tuple(_compiled.decode_mapped(logits, centres, angle_map, std_maps))
    except ValueError as exc:
        raise InputError(str(exc)) from exc


class MappedDecode:
    """:func:`decode_mapped` with its bin centres and maps fixed, prepared once per model.

    With the compiled decode, the centres and knots are checked and converted once (its
    ``MappedDecoder``), so that a call converts nothing but the logits: at batch 1 right after
    the network, looking the tables up and converting them on every call cost more than the
    decode itself (issue 12: median 40 us against 14 for the lookups alone, measured).

    Raises:
        InputError: centres or knots the compiled decode refuses (at construction).
    """

    __slots__ = ("centres_deg", "angle_map", "std_maps", "_prepared")

    def __init__(self, centres_deg: np.ndarray, angle_map: Knots | None = None,
                 std_maps: Sequence[Knots] | None = None) -> None:
        _announce()
        centres = np.array(centres_deg, dtype=np.float32)   # an own, contiguous copy
        centres.setflags(write=False)
        self.centres_deg = centres
        self.angle_map = angle_map
        self.std_maps = std_maps
        self._prepared = None
        if _compiled is not None:
            try:
                self._prepared = _compiled.MappedDecoder(centres, angle_map, std_maps)
            except ValueError as exc:
                raise InputError(str(exc)) from exc

    def __call__(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(angles, std after the angle map, calibrated std)`` ``[N, A]`` float32 of logits
        ``[N, A, B]``; raises InputError as :func:`decode_logits` does."""
        if self._prepared is None or not isinstance(logits, np.ndarray) or \
                logits.dtype == np.float64:
            return decode_mapped_numpy(logits, self.centres_deg, self.angle_map, self.std_maps)
        try:
            return self._prepared(logits)
        except ValueError as exc:
            raise InputError(str(exc)) from exc
