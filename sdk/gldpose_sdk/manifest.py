"""The model manifest (DESIGN section 5): the one place that reads and writes ``manifest.json``.

A model folder holds ``manifest.json`` plus the artefacts it lists (safetensors weights, ONNX,
OpenVINO IR, TensorRT engine), each with the sha256 of its file. Every runtime reads the input
spec, the crop rule and the bins from here: nothing in a backend or the decode hard-codes them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from gldpose_sdk.errors import ManifestMismatchError, ModelFileError

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
ANGLE_NAMES = ("yaw", "pitch", "roll")
ARTEFACT_FORMATS = ("onnx", "openvino", "safetensors", "tensorrt")
PRECISIONS = ("bf16", "fp16", "fp32", "int8")
OUTPUT_MODES = ("angles", "logits")


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
        if self.count < 2 or self.width_deg <= 0:
            raise ValueError(f"BinSpec needs count >= 2 and width_deg > 0, got {self}")

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


@dataclass(frozen=True)
class InputSpec:
    """Network input: square RGB crop of ``size_px``, normalised ``(x/255 - mean) / std``."""

    size_px: int = 224
    mean_rgb: tuple[float, float, float] = IMAGENET_MEAN_RGB
    std_rgb: tuple[float, float, float] = IMAGENET_STD_RGB

    def __post_init__(self) -> None:
        if self.size_px < 16:
            raise ValueError(f"input size_px must be >= 16, got {self.size_px}")
        if len(self.mean_rgb) != 3 or len(self.std_rgb) != 3 or min(self.std_rgb) <= 0:
            raise ValueError("mean_rgb/std_rgb need three values, std > 0")


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
        x0, y0, x1, y1 = (float(v) for v in box)
        w, h = x1 - x0, y1 - y0
        x0, x1 = x0 - self.left_frac * w, x1 + self.right_frac * w
        y0, y1 = y0 - self.top_frac * h, y1 + self.bottom_frac * h
        if self.square:
            cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)
            x0, x1, y0, y1 = cx - side / 2, cx + side / 2, cy - side / 2, cy + side / 2
        return x0, y0, x1, y1


@dataclass(frozen=True)
class TrainingInfo:
    """Where the weights came from: data, loss and its parameters, free-form notes."""

    dataset: str = "unknown"
    loss: str = "gld"
    alpha: float = 0.0
    sigma_bins: float = 4.0
    label_form: str = "gaussian"
    notes: str = ""


@dataclass(frozen=True)
class Artefact:
    """One file of the model folder, with its sha256 and what a runtime needs to accept it."""

    format: str
    path: str
    sha256: str
    precision: str = "fp32"
    output: str = "logits"
    runtime_version: str = ""
    gpu_name: str = ""
    compute_capability: str = ""
    batch_min_opt_max: tuple[int, int, int] = (1, 1, 0)
    notes: str = ""

    def __post_init__(self) -> None:
        if self.format not in ARTEFACT_FORMATS:
            raise ValueError(f"artefact format {self.format!r} not in {ARTEFACT_FORMATS}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"artefact precision {self.precision!r} not in {PRECISIONS}")
        if self.output not in OUTPUT_MODES:
            raise ValueError(f"artefact output {self.output!r} not in {OUTPUT_MODES}")


@dataclass(frozen=True)
class Manifest:
    """Everything a runtime must know about a model, and the artefacts that carry it."""

    backbone: str
    input: InputSpec = field(default_factory=InputSpec)
    bins: BinSpec = field(default_factory=BinSpec)
    crop: CropRule = field(default_factory=CropRule)
    training: TrainingInfo = field(default_factory=TrainingInfo)
    artefacts: tuple[Artefact, ...] = ()
    label_convention: str = "300w-lp: yaw=Pose_Para[1], pitch=Pose_Para[0], roll=Pose_Para[2]"
    format_version: int = FORMAT_VERSION

    def find(self, fmt: str, precision: str | None = None, output: str = "logits") -> Artefact:
        """Return the artefact of ``fmt`` (and ``precision`` if given) or raise ModelFileError."""
        for art in self.artefacts:
            if art.format == fmt and art.output == output and precision in (None, art.precision):
                return art
        have = ", ".join(f"{a.format}/{a.precision}/{a.output}" for a in self.artefacts) or "none"
        raise ModelFileError(
            f"manifest lists no {fmt} artefact (precision={precision or 'any'}, output={output}); "
            f"it has: {have}. Export it with `gldpose export --formats {fmt}`."
        )

    def has(self, fmt: str, precision: str | None = None, output: str = "logits") -> bool:
        """True when :meth:`find` would succeed."""
        return any(
            a.format == fmt and a.output == output and precision in (None, a.precision)
            for a in self.artefacts
        )

    def with_artefact(self, artefact: Artefact) -> "Manifest":
        """Return a copy listing ``artefact``, replacing one with the same path."""
        kept = tuple(a for a in self.artefacts if a.path != artefact.path)
        return dataclasses.replace(self, artefacts=tuple(sorted(kept + (artefact,),
                                                                key=lambda a: a.path)))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """JSON text with sorted keys."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Manifest":
        """Build a manifest from a dict, checking format_version first and every key.

        Raises:
            ManifestMismatchError: wrong format_version, unknown or missing keys, bad values.
        """
        if not isinstance(data, Mapping):
            raise ManifestMismatchError(f"manifest must be a JSON object, got {type(data).__name__}")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ManifestMismatchError(
                f"manifest format_version is {version!r}, this gldpose reads {FORMAT_VERSION}; "
                "re-export the model with this version"
            )
        try:
            return _build(cls, data, "manifest")
        except (TypeError, ValueError) as exc:
            raise ManifestMismatchError(f"invalid manifest: {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        """Parse JSON text; see :meth:`from_dict`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestMismatchError(f"manifest is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


def _build(klass: type, data: Mapping[str, Any], where: str) -> Any:
    """Construct dataclass ``klass`` from ``data``, naming unknown/missing keys, restoring tuples."""
    fields = {f.name: f for f in dataclasses.fields(klass)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where} has unknown key(s) {unknown}; expected {sorted(fields)}")
    required = [n for n, f in fields.items()
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = sorted(set(required) - set(data))
    if missing:
        raise ValueError(f"{where} is missing key(s) {missing}")
    nested = {"input": InputSpec, "bins": BinSpec, "crop": CropRule, "training": TrainingInfo}
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        if klass is Manifest and name in nested:
            value = _build(nested[name], value, f"{where}.{name}")
        elif klass is Manifest and name == "artefacts":
            value = tuple(_build(Artefact, a, f"{where}.artefacts[{i}]")
                          for i, a in enumerate(value))
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return klass(**kwargs)


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(model_dir: str | Path) -> Manifest:
    """Read ``model_dir/manifest.json``.

    Raises:
        ModelFileError: the folder or manifest is missing.
        ManifestMismatchError: the manifest is invalid.
    """
    path = Path(model_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ModelFileError(f"no {MANIFEST_NAME} in {model_dir}: not a gldpose model folder")
    return Manifest.from_json(path.read_text(encoding="utf-8"))


def write_manifest(model_dir: str | Path, manifest: Manifest) -> Path:
    """Write ``model_dir/manifest.json`` (sorted keys) and return its path."""
    path = Path(model_dir) / MANIFEST_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(manifest.to_json(), encoding="utf-8")
    return path


def make_artefact(model_dir: str | Path, rel_path: str, fmt: str, **fields: Any) -> Artefact:
    """Describe an existing file of the model folder, computing its sha256."""
    return Artefact(format=fmt, path=rel_path, sha256=sha256_file(Path(model_dir) / rel_path),
                    **fields)


def verify_artefact(model_dir: str | Path, artefact: Artefact) -> Path:
    """Check that the artefact's file exists and has the recorded sha256; return its path.

    Raises:
        ModelFileError: the file is missing.
        ManifestMismatchError: its sha256 differs from the manifest's (tampered or replaced).
    """
    path = Path(model_dir) / artefact.path
    if not path.is_file():
        raise ModelFileError(f"artefact {artefact.path} listed in the manifest is missing "
                             f"from {model_dir}")
    actual = sha256_file(path)
    if actual != artefact.sha256:
        raise ManifestMismatchError(
            f"sha256 of {path} is {actual[:12]}..., the manifest records "
            f"{artefact.sha256[:12]}...: the file was changed or replaced; re-export it"
        )
    return path
