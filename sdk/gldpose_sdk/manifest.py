"""The model manifest (DESIGN section 5): the one place that reads and writes ``manifest.json``.

A model folder holds ``manifest.json`` plus the artefacts it lists (safetensors weights, ONNX,
OpenVINO IR, TensorRT engine). Each artefact lists every file it is made of with that file's
sha256; paths are relative and stay inside the model folder. Every runtime reads the input spec,
the crop rule and the bins from here: nothing in a backend or the decode hard-codes them.

Reading is defensive: the file is capped at :data:`MAX_MANIFEST_BYTES`, must be UTF-8 JSON, and
every value is checked for type, finiteness and range before anything uses it. Format version 1
manifests are migrated on read (their single-file artefacts keep working; an OpenVINO IR whose
``.bin`` digest only sat in free-text notes must be re-exported).
"""
from __future__ import annotations

import bisect
import dataclasses
import functools
import hashlib
import itertools
import json
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

import numpy as np

from gldpose_sdk.errors import ManifestMismatchError, ModelFileError

FORMAT_VERSION = 2
MANIFEST_NAME = "manifest.json"
MAX_MANIFEST_BYTES = 1 << 20
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
ANGLE_NAMES = ("yaw", "pitch", "roll")
PRECISIONS = ("bf16", "fp16", "fp32", "int8")
OUTPUT_MODES = ("angles", "logits")
#: What an artefact's input tensor is: float NCHW already normalised, or the raw crop (uint8
#: NHWC BGR) with channel swap, normalisation and layout folded into the graph.
INPUT_LAYOUTS = ("nchw_float", "nhwc_uint8_bgr")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MAX_TEXT = 4096



def artefact_formats() -> tuple[str, ...]:
    """The artefact formats a manifest may list: those some registered backend runs.

    Taken from the backend registry (one place per concept), so a new format is a backend line
    there, not a second list here. The registry module imports no runtime.
    """
    from gldpose_sdk.backends import BACKENDS
    return tuple(sorted({entry.artefact for entry in BACKENDS.entries.values()}))

@dataclass(frozen=True)
class BinSpec:
    """Angle bins: ``count`` bins of ``width_deg``; bin i has centre ``offset_deg + i*width_deg``.

    ``offset_deg`` is the decode offset: -97.5 (centre of [-99, -96)) for models trained here,
    -99 for imported Hopenet checkpoints, whose own code decodes with the left bin edge.
    """

    count: int = 66
    width_deg: float = 3.0
    offset_deg: float = -97.5

    def __post_init__(self) -> None:
        if not 2 <= self.count <= 1000:
            raise ValueError(f"bins.count must be in [2, 1000], got {self.count}")
        if not 0.1 <= self.width_deg <= 30:
            raise ValueError(f"bins.width_deg must be in [0.1, 30], got {self.width_deg}")
        if not (-180 <= self.low_deg and self.high_deg <= 180):
            raise ValueError(f"bins cover [{self.low_deg}, {self.high_deg}) degrees, which is "
                             "outside [-180, 180]")

    def centres_deg(self) -> np.ndarray:
        """Bin centres in degrees, float32 ``[count]``."""
        return (self.offset_deg + self.width_deg * np.arange(self.count)).astype(np.float32)

    @property
    def low_deg(self) -> float:
        """Lower edge of the first bin for models trained here (-99 by default)."""
        return self.offset_deg - self.width_deg / 2

    @property
    def high_deg(self) -> float:
        """Upper edge (exclusive) of the last bin (+99 by default)."""
        return self.low_deg + self.count * self.width_deg


#: How a crop is shrunk to the input size: ``area`` (OpenCV's area average), or ``area_linear``
#: (an area average by the largest whole factor, then bilinear: about 6x cheaper per face).
RESIZE_FILTERS = ("area", "area_linear")


@dataclass(frozen=True)
class InputSpec:
    """Network input: square RGB crop of ``size_px``, normalised ``(x/255 - mean) / std``.

    ``resize`` is the filter that shrank the training crops; the SDK uses the same one, since a
    model sees slightly different pixels through another filter.
    """

    size_px: int = 224
    mean_rgb: tuple[float, float, float] = IMAGENET_MEAN_RGB
    std_rgb: tuple[float, float, float] = IMAGENET_STD_RGB
    resize: str = "area"

    def __post_init__(self) -> None:
        if not 16 <= self.size_px <= 2048:
            raise ValueError(f"input size_px must be in [16, 2048], got {self.size_px}")
        if len(self.mean_rgb) != 3 or len(self.std_rgb) != 3:
            raise ValueError("mean_rgb and std_rgb need three values (R, G, B)")
        if not all(0.0 <= m <= 1.0 for m in self.mean_rgb):
            raise ValueError(f"mean_rgb must lie in [0, 1] (fractions of 255), got {self.mean_rgb}")
        if not all(0.01 <= s <= 1.0 for s in self.std_rgb):
            raise ValueError(f"std_rgb must lie in [0.01, 1] (fractions of 255), got "
                             f"{self.std_rgb}")
        if self.resize not in RESIZE_FILTERS:
            raise ValueError(f"input resize must be one of {RESIZE_FILTERS}, got {self.resize!r}")


@dataclass(frozen=True)
class CropRule:
    """How a tight face box becomes the network's crop: expand each side by a fraction.

    The left/right fractions are of the box width, top/bottom of the box height, all applied to
    the original size. ``square`` then grows the shorter side about the centre. Regions outside
    the image are padded with black (no clamping), as in Hopenet's published crop.
    """

    left_frac: float = 0.12
    top_frac: float = 0.4
    right_frac: float = 0.12
    bottom_frac: float = 0.12
    square: bool = False

    def __post_init__(self) -> None:
        for name in ("left_frac", "top_frac", "right_frac", "bottom_frac"):
            if not 0.0 <= getattr(self, name) <= 4.0:
                raise ValueError(f"crop.{name} must be in [0, 4], got {getattr(self, name)}")

    @classmethod
    def hopenet(cls, k: float = 0.2) -> "CropRule":
        """Hopenet's crop with margin k (DESIGN 4), steps applied in the published order.

        ``x_min -= 0.6k*w; y_min -= 2k*h; x_max += 0.6k*w'; y_max += 0.6k*h'``, where w' and h'
        are the sizes already enlarged by the earlier steps, so the right and bottom fractions
        of the original size are ``0.6k(1 + 0.6k)`` and ``0.6k(1 + 2k)``.
        """
        return cls(left_frac=0.6 * k, top_frac=2 * k, right_frac=0.6 * k * (1 + 0.6 * k),
                   bottom_frac=0.6 * k * (1 + 2 * k))

    def expand(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """Return the crop box ``(x0, y0, x1, y1)`` in pixels for a tight face box."""
        x0, y0, x1, y1 = box
        x0, y0, x1, y1 = float(x0), float(y0), float(x1), float(y1)
        w, h = x1 - x0, y1 - y0
        x0, x1 = x0 - self.left_frac * w, x1 + self.right_frac * w
        y0, y1 = y0 - self.top_frac * h, y1 + self.bottom_frac * h
        if self.square:
            cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)
            x0, x1, y0, y1 = cx - side / 2, cx + side / 2, cy - side / 2, cy + side / 2
        return x0, y0, x1, y1


#: The crop rule that keeps a box as it is (already-cut crops, frames taken as one face).
NO_MARGIN = CropRule(left_frac=0.0, top_frac=0.0, right_frac=0.0, bottom_frac=0.0)


@dataclass(frozen=True)
class TrainingInfo:
    """Where the weights came from: data, loss and its parameters, recipe, free-form notes."""

    dataset: str = "unknown"
    loss: str = "gld"
    alpha: float = 0.0
    sigma_bins: float = 4.0
    label_form: str = "gaussian"
    binned_centre: bool = False
    recipe: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        if self.alpha < 0 or self.sigma_bins <= 0:
            raise ValueError(f"training.alpha must be >= 0 and sigma_bins > 0, got "
                             f"{self.alpha}, {self.sigma_bins}")


@dataclass(frozen=True)
class AngleCalibration:
    """Monotone map from the raw predicted std to a calibrated 1-sigma std, for one angle.

    Piecewise linear through the knots ``(raw_std_deg[i], std_deg[i])``; below the first knot
    the first value holds; above the last one the std grows in proportion to the raw std.
    """

    raw_std_deg: tuple[float, ...]
    std_deg: tuple[float, ...]

    def __post_init__(self) -> None:
        raw, cal = self.raw_std_deg, self.std_deg
        if not 1 <= len(raw) <= 64 or len(raw) != len(cal):
            raise ValueError("a calibration needs 1 to 64 knots, as many raw as calibrated")
        if any(b <= a for a, b in zip(raw, raw[1:])) or any(b < a for a, b in zip(cal, cal[1:])):
            raise ValueError("calibration knots must increase (raw) and not decrease (std)")
        if raw[0] <= 0 or cal[0] <= 0 or raw[-1] > 360 or cal[-1] > 360:
            raise ValueError("calibration stds must lie in (0, 360] degrees")

    def apply(self, raw_std_deg: np.ndarray) -> np.ndarray:
        """Calibrated std for raw stds (any shape, degrees)."""
        raw = np.asarray(raw_std_deg, dtype=np.float32)
        out = np.interp(raw, self.raw_std_deg, self.std_deg).astype(np.float32)
        above = raw > self.raw_std_deg[-1]
        out[above] = raw[above] * (self.std_deg[-1] / self.raw_std_deg[-1])
        return out


@dataclass(frozen=True)
class Calibration:
    """Per-angle std calibration fitted on held-out data (``gldpose calibrate``)."""

    yaw: AngleCalibration
    pitch: AngleCalibration
    roll: AngleCalibration
    fitted_on: str = ""
    within_1std: tuple[float, ...] = ()   # measured coverage after calibration, yaw/pitch/roll
    within_2std: tuple[float, ...] = ()

    def apply(self, raw_std_deg: np.ndarray) -> np.ndarray:
        """Calibrated ``[N, 3]`` stds from raw ``[N, 3]`` stds.

        The same numbers as each angle's :meth:`AngleCalibration.apply`, in one ``np.interp``
        over the three angles' knots laid side by side (``_joint_knots``): a third of the time
        at batch 1, where this sat on every ``estimate`` call.
        """
        raw = np.asarray(raw_std_deg, dtype=np.float32)
        if raw.size <= _SMALL_BATCH_VALUES and raw.ndim == 2 and raw.shape[1] == 3:
            return self._apply_small(raw)
        xp, fp = self._joint_knots
        shifted = np.clip(raw, 0.0, _KNOT_SPAN - 1.0, dtype=np.float64) + _ANGLE_OFFSETS
        return np.interp(shifted, xp, fp).astype(np.float32)

    def _apply_small(self, raw: np.ndarray) -> np.ndarray:
        """:meth:`apply` for a few faces: the same interpolation on Python floats.

        At batch 1 the four numpy calls of the joint interpolation cost 17 us per face on a
        cold CPU cache against 10 us here (measured in ``estimate``'s path); the formula and
        the float64 arithmetic are ``np.interp``'s, so the float32 results are the same.
        """
        xs, ys = self._joint_knot_lists
        out = [_interp_float(xs, ys, min(max(r, 0.0), _KNOT_SPAN - 1.0) + _KNOT_SPAN * (k % 3))[0]
               for k, r in enumerate(raw.ravel().tolist())]
        return np.array(out, np.float32).reshape(raw.shape)

    @functools.cached_property
    def knots(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        """Per angle (yaw, pitch, roll), ``(raw_std_deg, std_deg)`` as float64 arrays."""
        return tuple((np.asarray(c.raw_std_deg, np.float64), np.asarray(c.std_deg, np.float64))
                     for c in (self.yaw, self.pitch, self.roll))

    @functools.cached_property
    def _joint_knot_lists(self) -> tuple[list[float], list[float]]:
        xp, fp = self._joint_knots
        return xp.tolist(), fp.tolist()

    @functools.cached_property
    def _joint_knots(self) -> tuple[np.ndarray, np.ndarray]:
        """Knots of all three angles on one axis: angle k's raw stds shifted by ``k * span``.

        Each angle's knots get a start knot at raw 0 (the first value holds below the first
        knot) and an end knot at ``span - 1`` on the proportional line (above the last knot the
        std grows with the raw std), so one interpolation reproduces every angle's map exactly
        for raw stds up to ``span - 1`` degrees (a softmax over +-99 degrees cannot exceed 100).
        """
        xs, ys = [], []
        for k, c in enumerate((self.yaw, self.pitch, self.roll)):
            end = _KNOT_SPAN - 1.0
            xs += [k * _KNOT_SPAN, *(k * _KNOT_SPAN + r for r in c.raw_std_deg),
                   k * _KNOT_SPAN + end]
            ys += [c.std_deg[0], *c.std_deg, end * c.std_deg[-1] / c.raw_std_deg[-1]]
        return np.asarray(xs, np.float64), np.asarray(ys, np.float64)


#: Most knots an :class:`ExpectationMap` may have (the trainer spaces its knots to fit).
MAX_MAP_KNOTS = 256


@dataclass(frozen=True)
class ExpectationMap:
    """Monotone map from a distribution's softmax expectation to the angle (all three angles).

    A network trained towards label distributions cut off at the ends of the bin range (GLD's
    Gaussian over +-99 degrees, renormalised) learns, for a true angle ``a``, the expectation
    ``g(a)`` of that cut-off target, which falls short of ``a`` near the ends: 4.7 degrees
    at 90 and 9.6 at 99 with sigma 4 bins of 3 degrees, nothing below 60. The trainer writes
    the knots ``(g(a), a)`` of its own target (``gldpose_train.labels``); decoding maps each
    expectation back through them, piecewise linearly (the end values hold beyond the knots),
    and scales the distribution's std by the map's local :meth:`slope` (the map stretches the
    scale near the ends, so the spread stretches with it). Without a map (Hopenet's loss, older
    manifests) the expectation is the angle and the std is the distribution's.
    """

    expectation_deg: tuple[float, ...]
    angle_deg: tuple[float, ...]
    source: str = ""

    def __post_init__(self) -> None:
        xs, ys = self.expectation_deg, self.angle_deg
        if not 2 <= len(xs) <= MAX_MAP_KNOTS or len(xs) != len(ys):
            raise ValueError(f"an expectation map needs 2 to {MAX_MAP_KNOTS} knots, as many "
                             "angles as expectations")
        if any(b <= a for a, b in itertools.pairwise(xs)) or \
                any(b <= a for a, b in itertools.pairwise(ys)):
            raise ValueError("expectation map knots must increase (expectations and angles)")
        if max(map(abs, xs + ys)) > 180:
            raise ValueError("expectation map knots must lie in [-180, 180] degrees")

    def apply(self, expectation_deg: np.ndarray) -> np.ndarray:
        """Angles (float32, same shape) for softmax expectations in degrees."""
        xp, fp, _ = self._knots
        return np.interp(np.asarray(expectation_deg, np.float32), xp, fp).astype(np.float32)

    def slope(self, expectation_deg: np.ndarray) -> np.ndarray:
        """The map's local slope d(angle)/d(expectation) (float32, same shape): the factor by
        which a spread of the expectation becomes a spread of the angle (delta method). The
        segment's own slope, the end segments' beyond the knots."""
        xp, _, slopes = self._knots
        segment = np.searchsorted(xp, np.asarray(expectation_deg, np.float32), side="right") - 1
        return slopes[np.clip(segment, 0, len(slopes) - 1)]

    def map(self, expectation_deg: np.ndarray, std_deg: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
        """``(apply(expectation), std * slope(expectation))``, float32: what the decode does.

        Up to four faces (12 values) in one pass on Python floats, the same numbers as the
        numpy path (tested): at batch 1 inside ``estimate``, with the caches as the call leaves
        them, the numpy path's eight calls cost 0.028 ms per face, this one 0.013 (measured).
        """
        x = np.asarray(expectation_deg, np.float32)
        if x.size > _SMALL_BATCH_VALUES:
            return self.apply(x), (np.asarray(std_deg, np.float32) * self.slope(x))
        xs, ys, slopes = self._knot_lists
        angles, scaled = [], []
        for v, sd in zip(x.ravel().tolist(), np.asarray(std_deg, np.float32).ravel().tolist()):
            angle, j = _interp_float(xs, ys, v)
            angles.append(angle)
            scaled.append(sd * slopes[j - 1])
        return (np.array(angles, np.float32).reshape(x.shape),
                np.array(scaled, np.float32).reshape(x.shape))

    @functools.cached_property
    def _knots(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The knots as arrays once (``np.interp`` on the tuples would convert them on every
        call: 10 us against 1.5 us per face at batch 1, measured) and each segment's slope."""
        xp, fp = np.asarray(self.expectation_deg), np.asarray(self.angle_deg)
        return xp, fp, (np.diff(fp) / np.diff(xp)).astype(np.float32)

    @functools.cached_property
    def knots(self) -> tuple[np.ndarray, np.ndarray]:
        """``(expectation_deg, angle_deg)`` as float64 arrays (for the compiled decode)."""
        xp, fp, _ = self._knots
        return xp, fp

    @functools.cached_property
    def _knot_lists(self) -> tuple[list[float], list[float], list[float]]:
        xp, fp, slopes = self._knots
        return xp.tolist(), fp.tolist(), slopes.tolist()


def _interp_float(xs: list[float], ys: list[float], v: float) -> tuple[float, int]:
    """``np.interp(v, xs, ys)`` on Python floats (its formula in float64, the end values held
    beyond the knots, NaN kept) and ``j``, the right knot of ``v``'s segment (1 .. len - 1).

    The batch-of-a-few paths of :class:`Calibration` and :class:`ExpectationMap` use it: at
    batch 1 it is cheaper than numpy's calls and gives the same float32 results (tested).
    """
    last = len(xs) - 1
    j = min(max(bisect.bisect_right(xs, v), 1), last)
    if math.isnan(v):
        return v, j
    if v <= xs[0]:
        return ys[0], j
    if v >= xs[last]:
        return ys[last], j
    x0, y0 = xs[j - 1], ys[j - 1]
    return (ys[j] - y0) / (xs[j] - x0) * (v - x0) + y0, j


_KNOT_SPAN = 1000.0   # degrees of raw std given to each angle on the joint knot axis
_ANGLE_OFFSETS = np.array([0.0, _KNOT_SPAN, 2 * _KNOT_SPAN])
_SMALL_BATCH_VALUES = 12   # up to 4 faces: Calibration.apply interpolates on Python floats


@dataclass(frozen=True)
class ArtefactFile:
    """One file of an artefact: a path relative to the model folder and its sha256."""

    path: str
    sha256: str

    def __post_init__(self) -> None:
        check_relative_path(self.path)
        if not _SHA256.fullmatch(self.sha256):
            raise ValueError(f"sha256 of {self.path!r} must be 64 lowercase hex digits")


@dataclass(frozen=True)
class RuntimeVersions:
    """Versions an artefact was produced with (empty or 0 when not applicable)."""

    onnx_opset: int = 0
    openvino: str = ""
    tensorrt: str = ""
    torch: str = ""


@dataclass(frozen=True)
class BuildTarget:
    """Hardware an artefact was built for (TensorRT engines only run there)."""

    gpu_name: str = ""
    compute_capability: str = ""


@dataclass(frozen=True)
class ParityResult:
    """One parity check of an artefact against a reference run, in degrees."""

    reference: str
    inputs: int
    max_abs_diff_deg: tuple[float, float, float]
    mean_abs_diff_deg: tuple[float, float, float]
    tolerance_deg: float                  # 0: reported, not gated (bf16, INT8)
    passed: bool


@dataclass(frozen=True)
class Artefact:
    """A runnable form of the model: its files with their sha256 and what a runtime needs."""

    format: str
    files: tuple[ArtefactFile, ...]
    precision: str = "fp32"
    output: str = "logits"
    input_layout: str = "nchw_float"
    batch_min_opt_max: tuple[int, int, int] = (1, 1, 0)
    versions: RuntimeVersions = field(default_factory=RuntimeVersions)
    target: BuildTarget = field(default_factory=BuildTarget)
    parity: tuple[ParityResult, ...] = ()
    notes: str = ""

    def __post_init__(self) -> None:
        for name, allowed in (("format", artefact_formats()), ("precision", PRECISIONS),
                              ("output", OUTPUT_MODES), ("input_layout", INPUT_LAYOUTS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"artefact {name} {getattr(self, name)!r} not in {allowed}")
        if not self.files:
            raise ValueError("an artefact lists at least one file")
        lo, opt, hi = self.batch_min_opt_max
        if not (1 <= lo <= opt and (hi == 0 or opt <= hi <= 65536)):
            raise ValueError(f"batch_min_opt_max must be 1 <= min <= opt <= max (0: unbounded), "
                             f"got {self.batch_min_opt_max}")

    @property
    def path(self) -> str:
        """The artefact's main file (the one a runtime opens)."""
        return self.files[0].path

    @property
    def sha256(self) -> str:
        """The main file's sha256."""
        return self.files[0].sha256

    def file_with_suffix(self, suffix: str) -> ArtefactFile:
        """The listed file ending in ``suffix`` (e.g. an IR's ``.bin``).

        Raises:
            ModelFileError: no such file is listed.
        """
        for f in self.files:
            if f.path.endswith(suffix):
                return f
        raise ModelFileError(f"artefact {self.path} lists no {suffix} file with its digest; "
                             f"re-export it with `gldpose export --formats {self.format}`")


@dataclass(frozen=True)
class Manifest:
    """Everything a runtime must know about a model, and the artefacts that carry it."""

    backbone: str
    input: InputSpec = field(default_factory=InputSpec)
    bins: BinSpec = field(default_factory=BinSpec)
    crop: CropRule = field(default_factory=CropRule)
    training: TrainingInfo = field(default_factory=TrainingInfo)
    calibration: Calibration | None = None
    expectation_map: ExpectationMap | None = None
    artefacts: tuple[Artefact, ...] = ()
    label_convention: str = "300w-lp: yaw=Pose_Para[1], pitch=Pose_Para[0], roll=Pose_Para[2]"
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if not self.backbone or len(self.backbone) > 100:
            raise ValueError("backbone must be a non-empty name")
        paths = [f.path for a in self.artefacts for f in a.files]
        if len(set(paths)) != len(paths):
            raise ValueError("two artefact entries list the same file")

    def candidates(self, fmt: str, output: str = "logits") -> list[Artefact]:
        """Artefacts of ``fmt`` and ``output``, in manifest order."""
        return [a for a in self.artefacts if a.format == fmt and a.output == output]

    def find(self, fmt: str, precision: str | None = None, output: str = "logits") -> Artefact:
        """Return the artefact of ``fmt`` (and ``precision`` if given) or raise ModelFileError."""
        for art in self.candidates(fmt, output):
            if precision in (None, art.precision):
                return art
        have = ", ".join(f"{a.format}/{a.precision}/{a.output}" for a in self.artefacts) or "none"
        raise ModelFileError(
            f"manifest lists no {fmt} artefact (precision={precision or 'any'}, output={output}); "
            f"it has: {have}. Export it with `gldpose export --formats {fmt}`."
        )

    def has(self, fmt: str, precision: str | None = None, output: str = "logits") -> bool:
        """True when :meth:`find` would succeed."""
        return any(precision in (None, a.precision) for a in self.candidates(fmt, output))

    def with_artefact(self, artefact: Artefact) -> "Manifest":
        """Return a copy listing ``artefact``, replacing one with the same main path."""
        kept = tuple(a for a in self.artefacts if a.path != artefact.path)
        return dataclasses.replace(self, artefacts=tuple(sorted(kept + (artefact,),
                                                                key=lambda a: a.path)))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """JSON text with sorted keys."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Manifest":
        """Build a manifest from a dict, checking format_version first, every key and value.

        Raises:
            ManifestMismatchError: wrong format_version, unknown or missing keys, bad values.
        """
        if not isinstance(data, Mapping):
            raise ManifestMismatchError(f"manifest must be a JSON object, got {type(data).__name__}")
        version = data.get("format_version")
        if version == 1:
            data = _migrate_v1(data)
        elif version != FORMAT_VERSION:
            raise ManifestMismatchError(
                f"manifest format_version is {version!r}, this gldpose reads 1 and "
                f"{FORMAT_VERSION}; re-export the model with this version of gldpose")
        try:
            return _build(cls, data, "manifest")
        except (TypeError, ValueError) as exc:
            raise ManifestMismatchError(f"invalid manifest: {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        """Parse JSON text; see :meth:`from_dict`."""
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise ModelFileError(f"manifest is not valid JSON: {str(exc)[:200]}") from exc
        return cls.from_dict(data)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a manifest may hold")


def check_relative_path(path: str) -> str:
    """Check that ``path`` is a plain relative POSIX path inside its folder; return it.

    Raises:
        ValueError: empty, absolute, with a drive, backslash, ``..`` or ``.`` part.
    """
    parts = PurePosixPath(path).parts
    if (not path or len(path) > 512 or path.startswith("/") or "\\" in path or ":" in path
            or any(p in ("..", ".", "") for p in parts) or "\x00" in path):
        raise ValueError(f"artefact path {path!r} must be relative, inside the model folder, "
                         "without '..'")
    return path


def _migrate_v1(data: Mapping[str, Any]) -> dict[str, Any]:
    """Format 1 -> 2: single-file artefacts gain ``files``; versions and GPU become typed."""
    out = dict(data, format_version=FORMAT_VERSION)
    arts = []
    for i, old in enumerate(data.get("artefacts") or []):
        if not isinstance(old, Mapping):
            raise ManifestMismatchError(f"manifest.artefacts[{i}] must be an object")
        art = {k: v for k, v in old.items() if k not in (
            "path", "sha256", "runtime_version", "gpu_name", "compute_capability")}
        art["files"] = [{"path": old.get("path"), "sha256": old.get("sha256")}]
        version = str(old.get("runtime_version", ""))
        if old.get("format") == "onnx" and version.split()[-1:] and version.split()[-1].isdigit():
            art["versions"] = {"onnx_opset": int(version.split()[-1])}
        elif old.get("format") == "tensorrt":
            art["versions"] = {"tensorrt": version}
            art["target"] = {"gpu_name": str(old.get("gpu_name", "")),
                             "compute_capability": str(old.get("compute_capability", ""))}
        elif old.get("format") == "openvino":
            art["versions"] = {"openvino": version.replace("openvino ", "")}
        arts.append(art)
    out["artefacts"] = arts
    return out


def _check_value(value: Any, kind: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``kind``; return it converted (lists -> tuples)."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        return None if value is None else _check_value(value, options[0], where)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, Mapping):
            raise TypeError(f"{where} must be an object, got {type(value).__name__}")
        return _build(kind, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) > 256:
            raise TypeError(f"{where} must be a list (at most 256 items), got "
                            f"{type(value).__name__}")
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_check_value(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ValueError(f"{where} needs {len(args)} values, got {len(value)}")
        return tuple(_check_value(v, a, f"{where}[{i}]") for i, (v, a) in
                     enumerate(zip(value, args)))
    if kind is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{where} must be true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{where} must be an integer, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value):
            raise TypeError(f"{where} must be a finite number, got {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str) or len(value) > _MAX_TEXT:
            raise TypeError(f"{where} must be a string of at most {_MAX_TEXT} characters")
        return value
    raise TypeError(f"{where}: unsupported field type {kind}")


def _build(klass: type, data: Mapping[str, Any], where: str) -> Any:
    """Construct dataclass ``klass`` from ``data``, checking keys, types and values."""
    hints = typing.get_type_hints(klass)
    fields = {f.name: f for f in dataclasses.fields(klass)}
    unknown = sorted(str(k) for k in set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where} has unknown key(s) {unknown[:10]}; expected {sorted(fields)}")
    required = [n for n, f in fields.items()
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = sorted(set(required) - set(data))
    if missing:
        raise ValueError(f"{where} is missing key(s) {missing}")
    kwargs = {name: _check_value(value, hints[name], f"{where}.{name}")
              for name, value in data.items()}
    return klass(**kwargs)


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(model_dir: str | Path) -> Manifest:
    """Read and check ``model_dir/manifest.json``.

    Raises:
        ModelFileError: the folder or manifest is missing, too large, not UTF-8 or not JSON.
        ManifestMismatchError: the manifest's keys or values are invalid.
    """
    path = Path(model_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ModelFileError(f"no {MANIFEST_NAME} in {model_dir}: not a gldpose model folder")
    size = path.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise ModelFileError(f"{path} is {size} bytes; a manifest is at most "
                             f"{MAX_MANIFEST_BYTES} bytes")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"{path} is not UTF-8 text: {exc.reason}") from exc
    return Manifest.from_json(text)


def write_manifest(model_dir: str | Path, manifest: Manifest) -> Path:
    """Write ``model_dir/manifest.json`` (sorted keys) and return its path."""
    path = Path(model_dir) / MANIFEST_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(manifest.to_json(), encoding="utf-8")
    return path


def make_artefact(model_dir: str | Path, rel_paths: str | tuple[str, ...] | list[str], fmt: str,
                  **fields: Any) -> Artefact:
    """Describe existing file(s) of the model folder (main file first), hashing each."""
    paths = (rel_paths,) if isinstance(rel_paths, str) else tuple(rel_paths)
    files = tuple(ArtefactFile(p, sha256_file(Path(model_dir) / p)) for p in paths)
    return Artefact(format=fmt, files=files, **fields)


def resolve_inside(model_dir: str | Path, rel_path: str) -> Path:
    """``model_dir / rel_path``, refusing a path that resolves outside the folder (symlinks).

    Raises:
        ManifestMismatchError: the path escapes the model folder.
    """
    root = Path(model_dir).resolve()
    target = (root / check_relative_path(rel_path)).resolve()
    if target != root and root not in target.parents:
        raise ManifestMismatchError(f"artefact file {rel_path} resolves to {target}, outside the "
                                    f"model folder {root}")
    return target


def verify_artefact(model_dir: str | Path, artefact: Artefact) -> Path:
    """Check every file of the artefact (inside the folder, present, recorded sha256).

    Returns:
        The path of the artefact's main file.

    Raises:
        ModelFileError: a file is missing.
        ManifestMismatchError: a file's sha256 differs from the manifest's (tampered or
            replaced), or a path leaves the model folder.
    """
    paths = [verify_file(model_dir, f) for f in artefact.files]
    return paths[0]


def read_verified(model_dir: str | Path, entry: ArtefactFile, max_bytes: int = 4 << 30) -> bytes:
    """The bytes of one listed file, checked against its digest after reading them.

    A runtime given these bytes (rather than the path) runs exactly what was checked, even if
    the file is swapped afterwards.

    Raises:
        ModelFileError: missing or larger than ``max_bytes``.
        ManifestMismatchError: digest mismatch or a path leaving the model folder.
    """
    path = resolve_inside(model_dir, entry.path)
    if not path.is_file():
        raise ModelFileError(f"artefact file {entry.path} listed in the manifest is missing "
                             f"from {model_dir}")
    if path.stat().st_size > max_bytes:
        raise ModelFileError(f"{path} is larger than {max_bytes} bytes")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != entry.sha256:
        raise ManifestMismatchError(
            f"sha256 of {path} is {actual[:12]}..., the manifest records "
            f"{entry.sha256[:12]}...: the file was changed or replaced; re-export it")
    return data


def verify_file(model_dir: str | Path, entry: ArtefactFile) -> Path:
    """Check one listed file; see :func:`verify_artefact`."""
    path = resolve_inside(model_dir, entry.path)
    if not path.is_file():
        raise ModelFileError(f"artefact file {entry.path} listed in the manifest is missing "
                             f"from {model_dir}")
    actual = sha256_file(path)
    if actual != entry.sha256:
        raise ManifestMismatchError(
            f"sha256 of {path} is {actual[:12]}..., the manifest records "
            f"{entry.sha256[:12]}...: the file was changed or replaced; re-export it")
    return path
