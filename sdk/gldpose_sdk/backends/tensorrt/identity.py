"""Engine identity: which TensorRT version and GPU an engine was built for, and may it run here.

TensorRT engines only run on the TensorRT version and GPU model that built them (DESIGN 5, 7).
This module compares what was recorded (manifest or cache sidecar) with what is running, names
every difference, and derives the file names of engines cached per identity. It imports neither
tensorrt nor CUDA, so export, verification and tests can use it anywhere; reading this machine's
identity is :func:`gldpose_sdk.backends.tensorrt.gpu.read_gpu` (cuda-python), the one place.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from gldpose_sdk.errors import BackendUnavailableError
from gldpose_sdk.manifest import Artefact

_LABELS = {"trt_version": "TensorRT version", "gpu_name": "GPU",
           "compute_capability": "compute capability"}
# Compute capabilities with full-rate FP16 arithmetic below 7.0 (Jetson TX1 5.3, P100 6.0,
# Jetson TX2 6.2); 6.1 (GeForce 10xx) runs FP16 at 1/64 of FP32 (CUDA C++ Programming Guide,
# "Arithmetic Instructions" throughput table). TensorRT 10.5 deprecated
# platform_has_fast_fp16 ("query data type support from CUDA directly") and 11 removed it.
_FAST_FP16_BELOW_7 = frozenset({(5, 3), (6, 0), (6, 2)})


class EngineIdentity(NamedTuple):
    """Where an engine was built or is about to run: TensorRT version, GPU, compute capability."""

    trt_version: str
    gpu_name: str
    compute_capability: str


def engine_identity(artefact: Artefact) -> EngineIdentity:
    """The identity a manifest recorded for a TensorRT engine artefact."""
    return EngineIdentity(artefact.versions.tensorrt, artefact.target.gpu_name,
                          artefact.target.compute_capability)


def engine_mismatch(recorded: EngineIdentity | tuple[str, str, str],
                    current: EngineIdentity | tuple[str, str, str],
                    strict_gpu_name: bool = True) -> str:
    """What keeps an engine built as ``recorded`` from running as ``current`` ("" if nothing).

    Args:
        recorded: ``(trt_version, gpu_name, compute_capability)`` the engine was built with.
        current: the same, read from the running TensorRT and GPU.
        strict_gpu_name: also refuse another GPU model of the same compute capability (engines
            load there but their tactics were timed on a different chip).

    Returns:
        ``""`` when compatible, else e.g. ``"GPU: built with 'A', running 'B'"`` (``; ``-joined).
    """
    rec, cur = EngineIdentity(*recorded), EngineIdentity(*current)
    if not rec.trt_version or not rec.compute_capability:
        return "the TensorRT version and compute capability it was built with are not recorded"
    fields = ["trt_version", "compute_capability"] + (["gpu_name"] if strict_gpu_name else [])
    return "; ".join(f"{_LABELS[f]}: built with {getattr(rec, f)!r}, running {getattr(cur, f)!r}"
                     for f in fields if _norm(getattr(rec, f)) != _norm(getattr(cur, f)))


def check_engine_compat(recorded: EngineIdentity | tuple[str, str, str],
                        current: EngineIdentity | tuple[str, str, str],
                        engine_path: str = "the engine", strict_gpu_name: bool = True) -> None:
    """Refuse an engine built with another TensorRT version or on another GPU.

    An engine from elsewhere is not damaged, it cannot run here: the error is
    :class:`BackendUnavailableError` (``backend="auto"`` steps down), not an integrity error.

    Raises:
        BackendUnavailableError: naming each field that differs, with both values, and the fix.
    """
    problem = engine_mismatch(recorded, current, strict_gpu_name)
    if problem:
        raise BackendUnavailableError(
            f"{engine_path} was built elsewhere ({problem}). TensorRT engines are not portable: "
            "rebuild it here from the ONNX file with `gldpose export --formats tensorrt`, or let "
            "the SDK build it on first use (the model folder needs its ONNX artefact)",
            reason=f"engine built elsewhere: {problem}")


def has_fast_fp16(compute_capability: str) -> bool:
    """True when a GPU of ``compute_capability`` ("major.minor") has full-rate FP16."""
    major, _, minor = compute_capability.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        return False
    return int(major) >= 7 or (int(major), int(minor)) in _FAST_FP16_BELOW_7


def identity_slug(identity: EngineIdentity | tuple[str, str, str]) -> str:
    """File-name key of an identity, e.g. ``nvidia-jetson-orin-nano.sm87.trt10.3.0.30``."""
    ident = EngineIdentity(*identity)
    gpu = re.sub(r"[^0-9a-z]+", "-", ident.gpu_name.lower()).strip("-")[:48] or "gpu"
    cc = re.sub(r"[^0-9]", "", ident.compute_capability) or "0"
    trt = re.sub(r"[^0-9A-Za-z.]+", "_", ident.trt_version) or "0"
    return f"{gpu}.sm{cc}.trt{trt}"


def engine_cache_name(stem: str, identity: EngineIdentity | tuple[str, str, str]) -> str:
    """Engine file name keyed by GPU and TensorRT, e.g. ``model_fp16.<identity slug>.engine``."""
    return f"{stem}.{identity_slug(identity)}.engine"


def _norm(value: str) -> str:
    return " ".join(value.split()).lower()
