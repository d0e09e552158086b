"""Parity of exported artefacts against the PyTorch model that produced them.

Every artefact in a model folder runs on the same inputs as PyTorch FP32 (random normalised
tensors and real-looking synthetic crops); logits are decoded with the manifest's bins and the
max and mean |delta| of yaw, pitch and roll (degrees) are reported. FP32 runs must stay within
``FP32_TOL_DEG``, FP16 runs within ``FP16_TOL_DEG``; bf16 (OpenVINO's default on CPUs with
AVX512_BF16) and INT8 runs are reported, not gated. ONNX Runtime and OpenVINO are driven
directly here, not through the SDK's backends, so a backend bug cannot hide an export bug;
TensorRT engines run through the SDK's TensorRT backend, the project's one engine runner.
"""
from __future__ import annotations

import importlib
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import torch
from gldpose_sdk.backends import load_backend_class, missing_packages
from gldpose_sdk.config import BackendOptions
from gldpose_sdk.inference import angles_from_logits
from gldpose_sdk.errors import BackendUnavailableError
from gldpose_sdk.manifest import (
    ANGLE_NAMES,
    NO_MARGIN,
    Artefact,
    InputSpec,
    Manifest,
    verify_artefact,
)
from gldpose_sdk.model import load_model
from gldpose_sdk.preprocess import (
    IMAGE_SUFFIXES,
    normalise,
    prepare_crop,
    read_image_bgr,
)
from gldpose_sdk.tolerances import FP16_TOL_DEG, FP32_TOL_DEG, TOLERANCES_DEG

from gldpose_export import ExportError, ParityError

_LOG = logging.getLogger(__name__)

__all__ = ["FP16_TOL_DEG", "FP32_TOL_DEG", "TOLERANCES_DEG", "verify_model_dir"]


@dataclass(frozen=True)
class RuntimeRun:
    """Angles ``[N, 3]`` (deg) one runtime computed for one artefact, or why it was skipped."""

    runtime: str
    precision: str
    angles_deg: np.ndarray | None = None
    skipped: str = ""


@dataclass(frozen=True)
class ParityRow:
    """One artefact under one runtime setting vs PyTorch FP32: |delta| per angle, degrees."""

    artefact: str
    runtime: str
    precision: str
    max_deg: tuple[float, float, float] = (float("nan"),) * 3
    mean_deg: tuple[float, float, float] = (float("nan"),) * 3
    tolerance_deg: float | None = None
    skipped: str = ""
    max_deg_by_input: tuple[tuple[str, float], ...] = ()

    @property
    def passed(self) -> bool:
        """True when skipped, report-only, or within tolerance."""
        return bool(self.skipped) or self.tolerance_deg is None or \
            max(self.max_deg) <= self.tolerance_deg


@dataclass(frozen=True)
class ParityReport:
    """All rows of one verification, with the inputs' description."""

    model_dir: str
    n_inputs: int
    rows: tuple[ParityRow, ...]

    @property
    def failures(self) -> tuple[ParityRow, ...]:
        """Rows over their tolerance."""
        return tuple(r for r in self.rows if not r.passed)

    def to_dict(self) -> dict:
        """JSON-able dict: model_dir, n_inputs, rows (each with ``passed``)."""
        return {"model_dir": self.model_dir, "n_inputs": self.n_inputs,
                "rows": [dict(asdict(r), passed=r.passed) for r in self.rows]}

    def table(self) -> str:
        """Plain-text table: one line per row, max / mean |delta| yaw pitch roll in degrees."""
        head = (f"{'artefact':<24} {'runtime':<34} {'prec':<5} "
                + " ".join(f"max_{a:<6}" for a in ANGLE_NAMES) + " "
                + " ".join(f"mean_{a:<5}" for a in ANGLE_NAMES) + "  tol    status  max by input")
        lines = [head, "-" * len(head)]
        for r in self.rows:
            if r.skipped:
                lines.append(f"{r.artefact:<24} {r.runtime:<34} {r.precision:<5} "
                             f"skipped: {r.skipped}")
                continue
            tol = "report" if r.tolerance_deg is None else f"{r.tolerance_deg:.2f}"
            lines.append(f"{r.artefact:<24} {r.runtime:<34} {r.precision:<5} "
                         + " ".join(f"{v:10.4f}" for v in r.max_deg) + " "
                         + " ".join(f"{v:10.4f}" for v in r.mean_deg)
                         + f"  {tol:<6} {'ok' if r.passed else 'FAIL':<6}  "
                         + " ".join(f"{k} {v:.3f}" for k, v in r.max_deg_by_input))
        return "\n".join(lines)


def make_inputs(spec: InputSpec, n_random: int = 8, n_crops: int = 8, seed: int = 0,
                images: Sequence[Path] = ()) -> np.ndarray:
    """Verification inputs: float32 NCHW ``[N, 3, S, S]``, normalised per ``spec``.

    ``n_random`` standard-normal tensors, ``n_crops`` real-looking crops (smooth colour fields
    with a face-like ellipse and mild noise), and any ``images`` (files) as face crops.
    """
    return make_input_sets(spec, n_random, n_crops, seed, images)[0]


def make_input_sets(spec: InputSpec, n_random: int = 8, n_crops: int = 8, seed: int = 0,
                    images: Sequence[Path] = ()) -> tuple[np.ndarray, np.ndarray]:
    """:func:`make_inputs`, and the same crops (without the random tensors) as uint8 BGR
    ``[n_crops + len(images), S, S, 3]``, for artefacts taking crops as cut."""
    rng = np.random.default_rng(seed)
    size = spec.size_px
    parts = [rng.standard_normal((n_random, 3, size, size)).astype(np.float32)]
    crops = [synthetic_crop(rng, size) for _ in range(n_crops)]
    crops += [_whole_image_crop(read_image_bgr(p), size, spec.resize) for p in images]
    rgb = np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)
    if crops:
        parts.append(normalise(rgb, spec))
    return (np.ascontiguousarray(np.concatenate(parts)),
            np.ascontiguousarray(rgb[..., ::-1]))


def _whole_image_crop(image: np.ndarray, size_px: int, resize: str = "area") -> np.ndarray:
    return prepare_crop(image, (0, 0, image.shape[1], image.shape[0]), NO_MARGIN, size_px,
                        resize)


def list_images(folder: Path | None, what: str, minimum: int = 1) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted.

    Raises:
        ExportError: the folder is missing or holds fewer than ``minimum`` images.
    """
    if folder is None or not Path(folder).is_dir():
        raise ExportError(f"{what} folder {folder} does not exist")
    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(paths) < minimum:
        raise ExportError(f"{what} folder {folder} holds {len(paths)} image(s) "
                          f"({', '.join(IMAGE_SUFFIXES)}); it needs at least {minimum}")
    return paths


def synthetic_crop(rng: np.random.Generator, size_px: int) -> np.ndarray:
    """One RGB uint8 ``[S, S, 3]`` crop: smoothed noise background, a shaded ellipse, noise."""
    low = rng.uniform(0, 255, (6, 6, 3)).astype(np.float32)
    image = cv2.resize(low, (size_px, size_px), interpolation=cv2.INTER_CUBIC)
    centre = tuple(int(v) for v in rng.uniform(0.35, 0.65, 2) * size_px)
    axes = (int(size_px * rng.uniform(0.2, 0.3)), int(size_px * rng.uniform(0.28, 0.4)))
    skin = tuple(float(v) for v in rng.uniform([150, 100, 80], [240, 190, 160]))
    cv2.ellipse(image, centre, axes, float(rng.uniform(-40, 40)), 0, 360, skin, -1)
    image = cv2.GaussianBlur(image, (0, 0), sigmaX=max(size_px / 64, 0.5))
    image += rng.normal(0, 4, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def verify_model_dir(model_dir: str | Path, *, n_random: int = 8, n_crops: int = 8,
                     seed: int = 0, images: Sequence[Path] = (),
                     raise_on_failure: bool = True) -> ParityReport:
    """Run PyTorch and every exported artefact of ``model_dir`` on the same inputs; compare.

    Each artefact's sha256 is checked first. Results are logged as a table.

    Returns:
        The :class:`ParityReport` (``.table()``, ``.to_dict()``).

    Raises:
        ManifestMismatchError: an artefact's file does not match its manifest hash.
        ParityError: an FP32 or FP16 run exceeds its tolerance (when ``raise_on_failure``).
    """
    model_dir = Path(model_dir)
    model, manifest = load_model(model_dir)
    inputs, crops_bgr = make_input_sets(manifest.input, n_random, n_crops, seed, images)
    groups = {"random": slice(0, n_random), "crops": slice(n_random, n_random + n_crops),
              "images": slice(n_random + n_crops, len(inputs))}
    groups = {k: v for k, v in groups.items() if v.stop > v.start}
    crop_groups = {k: slice(v.start - n_random, v.stop - n_random) for k, v in groups.items()
                   if k != "random"}
    with torch.no_grad():
        reference = angles_from_logits(model(torch.from_numpy(inputs)).numpy(), manifest)[0]
    rows = []
    for art in manifest.artefacts:
        if art.format == "safetensors":
            continue
        if art.input_layout == "nhwc_uint8_bgr":  # crops as cut: no random tensors
            if len(crops_bgr) == 0:
                rows.append(ParityRow(art.path, art.format, art.precision,
                                      skipped="no crops to feed a uint8 artefact"))
                continue
            feed, ref, grp = crops_bgr, reference[n_random:], crop_groups
        else:
            feed, ref, grp = inputs, reference, groups
        for run in _runner(art.format)(model_dir, art, manifest, feed):
            rows.append(_row(art, run, ref, grp))
    report = ParityReport(str(model_dir), len(inputs), tuple(rows))
    _LOG.info("parity vs PyTorch FP32 on %d inputs (|delta| deg):\n%s", len(inputs),
              report.table())
    if raise_on_failure and report.failures:
        worst = ", ".join(f"{r.artefact} ({r.runtime}, {r.precision}): max "
                          f"{max(r.max_deg):.4f} deg > {r.tolerance_deg} deg"
                          for r in report.failures)
        raise ParityError(f"exported artefacts differ from PyTorch beyond tolerance: {worst}")
    return report


def _row(art: Artefact, run: RuntimeRun, reference: np.ndarray,
         groups: dict[str, slice]) -> ParityRow:
    if run.skipped or run.angles_deg is None:
        return ParityRow(art.path, run.runtime, run.precision, skipped=run.skipped or "no output")
    delta = np.abs(run.angles_deg.astype(np.float64) - reference)
    return ParityRow(art.path, run.runtime, run.precision,
                     tuple(float(v) for v in delta.max(axis=0)),
                     tuple(float(v) for v in delta.mean(axis=0)),
                     TOLERANCES_DEG.get(run.precision),
                     max_deg_by_input=tuple((name, float(delta[sl].max()))
                                            for name, sl in groups.items()))


def _angles(outputs: dict[str, np.ndarray], art: Artefact, manifest: Manifest) -> np.ndarray:
    if art.output == "angles":
        return np.asarray(outputs["angles"], dtype=np.float32)
    logits = np.asarray(outputs["logits"], dtype=np.float32)
    return angles_from_logits(logits, manifest)[0]


def run_onnx(model_dir: Path, art: Artefact, manifest: Manifest,
              inputs: np.ndarray) -> list[RuntimeRun]:
    path = verify_artefact(model_dir, art)
    ort = importlib.import_module("onnxruntime")  # verify needs it only for ONNX artefacts
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, {session.get_inputs()[0].name: inputs})
    runtime = f"onnxruntime {ort.__version__} CPU"
    return [RuntimeRun(runtime, art.precision, _angles(dict(zip(names, values)), art, manifest))]


def run_openvino(model_dir: Path, art: Artefact, manifest: Manifest,
                  inputs: np.ndarray) -> list[RuntimeRun]:
    xml_path = verify_artefact(model_dir, art)
    ov = importlib.import_module("openvino")
    core = ov.Core()
    runs = []
    for label, config in (("f32 hint", {"INFERENCE_PRECISION_HINT": "f32"}), ("default hint", {})):
        compiled = core.compile_model(str(xml_path), "CPU", config)
        hint = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()  # f32, bf16
        precision = {"bf16": "bf16", "f16": "fp16"}.get(hint, "fp32")
        result = compiled(inputs)
        outputs = {o.get_any_name(): np.asarray(result[o]) for o in compiled.outputs}
        runs.append(RuntimeRun(f"openvino CPU {label} ({hint})",
                               _weakest(precision, art.precision),
                               _angles(outputs, art, manifest)))
    return runs


def _weakest(run_precision: str, weight_precision: str) -> str:
    # fp16 weights inferred in f32 are still only fp16-accurate; bf16 compute is coarser still.
    order = ("fp32", "fp16", "bf16", "int8")
    return max(run_precision, weight_precision, key=order.index)


def run_tensorrt(model_dir: Path, art: Artefact, manifest: Manifest,
                 inputs: np.ndarray) -> list[RuntimeRun]:
    """Run an engine through the SDK's TensorRT backend (the project's one engine runner).

    Skipped, with the reason, where tensorrt/cuda-python, a CUDA device or a matching GPU and
    TensorRT version are missing.
    """
    verify_artefact(model_dir, art)  # the digest is checked even where the engine cannot run
    missing = missing_packages("tensorrt")
    if missing:
        return [RuntimeRun("tensorrt", art.precision,
                           skipped=f"{', '.join(missing)} not installed")]
    try:
        backend = load_backend_class("tensorrt").open_artefact(
            model_dir, manifest, art, BackendOptions(device="cuda"))
    except BackendUnavailableError as exc:  # no GPU here, or built elsewhere: report, not fail
        return [RuntimeRun("tensorrt", art.precision, skipped=exc.reason)]
    with backend:
        info = backend.describe()
        logits = backend.infer(np.ascontiguousarray(inputs, dtype=np.float32))
    return [RuntimeRun(f"tensorrt {info.runtime_version} {info.device}", art.precision,
                       _angles({"logits": logits}, art, manifest))]


def _runner(fmt: str) -> Callable[[Path, Artefact, Manifest, np.ndarray], list[RuntimeRun]]:
    from gldpose_export.formats import verifier_of

    return verifier_of(fmt)
