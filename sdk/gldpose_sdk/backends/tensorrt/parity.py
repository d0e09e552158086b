"""Parity of an engine built on the target: against ONNX Runtime, else stored reference outputs.

An engine built on first use is checked before it is cached: the same inputs run through the
new engine and through a reference, both are decoded with the manifest's bins, and the largest
|delta| per angle must stay within :data:`TOLERANCES_DEG` of the engine's precision (the values
``gldpose_export.verify`` gates exports with). The reference is ONNX Runtime on the CPU when it
is installed (optional on a Jetson), else the reference inputs and logits that export stores
beside the ONNX file (``model_reference.npz``, listed as a file of the ONNX artefact, so it is
digest-checked). With neither, the engine is used unchecked and the log says so.
"""
from __future__ import annotations

import importlib
import io
from dataclasses import dataclass

import numpy as np

from gldpose_sdk.decode import decode_logits
from gldpose_sdk.errors import ModelFileError
from gldpose_sdk.manifest import (
    ANGLE_NAMES,
    Artefact,
    Manifest,
    ParityResult,
    read_verified,
)
from gldpose_sdk.registry import is_installed
from gldpose_sdk.tolerances import TOLERANCES_DEG

REFERENCE_SUFFIX = "_reference.npz"
N_SYNTHETIC = 8
_MAX_REFERENCE_BYTES = 64 << 20


@dataclass(frozen=True)
class Reference:
    """Inputs ``[N, 3, S, S]`` float32 and the logits ``[N, 3, bins]`` a reference gave."""

    inputs: np.ndarray
    logits: np.ndarray
    source: str


def stored_reference_file(onnx: Artefact) -> str | None:
    """The ``*_reference.npz`` file listed with an ONNX artefact, if export stored one."""
    return next((f.path for f in onnx.files[1:] if f.path.endswith(REFERENCE_SUFFIX)), None)


def load_reference(model_dir: str, manifest: Manifest, onnx: Artefact,
                   onnx_bytes: bytes) -> Reference | None:
    """The reference an engine built from ``onnx`` is compared with (module docstring).

    Args:
        model_dir: the model folder.
        manifest: its manifest.
        onnx: the FP32 logits ONNX artefact (``nchw_float``).
        onnx_bytes: its digest-checked bytes.

    Raises:
        ModelFileError: a stored reference file is malformed.
    """
    stored = _stored(model_dir, manifest, onnx)
    if is_installed("onnxruntime"):
        inputs = stored.inputs if stored is not None else synthetic_inputs(manifest)
        ort = importlib.import_module("onnxruntime")  # optional: only for this check
        session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
        logits = session.run(None, {session.get_inputs()[0].name: inputs})[0]
        return Reference(inputs, np.asarray(logits, np.float32),
                         f"onnxruntime {ort.__version__} CPU on {onnx.path}")
    return stored


def synthetic_inputs(manifest: Manifest, n: int = N_SYNTHETIC) -> np.ndarray:
    """Seeded standard-normal inputs ``[n, 3, S, S]`` float32 (normalised crops' range)."""
    s = manifest.input.size_px
    return np.random.default_rng(0).standard_normal((n, 3, s, s)).astype(np.float32)


def _stored(model_dir: str, manifest: Manifest, onnx: Artefact) -> Reference | None:
    rel = stored_reference_file(onnx)
    if rel is None:
        return None
    entry = next(f for f in onnx.files if f.path == rel)
    data = read_verified(model_dir, entry, max_bytes=_MAX_REFERENCE_BYTES)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            inputs, logits = np.asarray(npz["inputs"]), np.asarray(npz["logits"])
    except (KeyError, ValueError, OSError) as exc:
        raise ModelFileError(f"{rel} is not a reference file with 'inputs' and 'logits' "
                             f"arrays ({exc}); re-export the ONNX file") from exc
    s, bins = manifest.input.size_px, manifest.bins.count
    n = inputs.shape[0] if inputs.ndim == 4 else -1
    if (inputs.dtype != np.float32 or inputs.shape[1:] != (3, s, s) or not 1 <= n <= 256
            or logits.shape != (n, len(ANGLE_NAMES), bins)
            or not np.all(np.isfinite(logits))):
        raise ModelFileError(f"{rel} holds inputs {inputs.dtype} {inputs.shape} and logits "
                             f"{logits.shape}; expected float32 [N, 3, {s}, {s}] and "
                             f"[N, 3, {bins}]: re-export the ONNX file")
    return Reference(np.ascontiguousarray(inputs), logits.astype(np.float32),
                     f"stored reference outputs ({rel})")


def compare(logits: np.ndarray, reference: Reference, manifest: Manifest,
            precision: str) -> ParityResult:
    """Decode both sets of logits with the manifest's bins; max and mean |delta| per angle."""
    centres = manifest.bins.centres_deg()
    ours = decode_logits(np.asarray(logits, np.float32), centres)[0].astype(np.float64)
    theirs = decode_logits(reference.logits, centres)[0].astype(np.float64)
    delta = np.abs(ours - theirs)
    worst = tuple(float(v) for v in delta.max(axis=0))
    tolerance = TOLERANCES_DEG[precision]
    return ParityResult(reference.source, int(reference.inputs.shape[0]), worst,
                        tuple(float(v) for v in delta.mean(axis=0)), tolerance,
                        max(worst) <= tolerance)
