"""TensorRT engine identity: built here (same TensorRT version and GPU)?

TensorRT engines only run on the GPU model and TensorRT version that built them (DESIGN 5, 7):
:func:`check_engine_compat` compares what the manifest recorded with what is running and names
every difference.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from gldpose_sdk.errors import ManifestMismatchError
from gldpose_sdk.manifest import Artefact


class EngineIdentity(NamedTuple):
    """Where an engine was built or is about to run: TensorRT version, GPU, compute capability."""

    trt_version: str
    gpu_name: str
    compute_capability: str


def engine_identity(artefact: Artefact) -> EngineIdentity:
    """The identity a manifest recorded for a TensorRT engine artefact."""
    return EngineIdentity(artefact.versions.tensorrt, artefact.target.gpu_name,
                          artefact.target.compute_capability)


def check_engine_compat(recorded: EngineIdentity | tuple[str, str, str],
                        current: EngineIdentity | tuple[str, str, str],
                        engine_path: str = "the engine", strict_gpu_name: bool = True) -> None:
    """Refuse an engine built with another TensorRT version or on another GPU.

    Args:
        recorded: ``(trt_version, gpu_name, compute_capability)`` from the manifest.
        current: the same, read from the running TensorRT and GPU.
        engine_path: named in the message.
        strict_gpu_name: also refuse another GPU model of the same compute capability (engines
            load there but their tactics were timed on a different chip).

    Raises:
        ManifestMismatchError: naming each field that differs, with both values, and the fix.
    """
    rec, cur = EngineIdentity(*recorded), EngineIdentity(*current)
    if not rec.trt_version or not rec.compute_capability:
        raise ManifestMismatchError(
            f"{engine_path}: the manifest does not record the TensorRT version and compute "
            "capability it was built with; rebuild it with `gldpose export --formats tensorrt`")
    fields = ["trt_version", "compute_capability"] + (["gpu_name"] if strict_gpu_name else [])
    labels = {"trt_version": "TensorRT version", "gpu_name": "GPU",
              "compute_capability": "compute capability"}
    diffs = [f"{labels[f]}: built with {getattr(rec, f)!r}, running {getattr(cur, f)!r}"
             for f in fields if _norm(getattr(rec, f)) != _norm(getattr(cur, f))]
    if diffs:
        raise ManifestMismatchError(
            f"{engine_path} was built elsewhere ({'; '.join(diffs)}). TensorRT engines are "
            "not portable: rebuild it here from the ONNX file with "
            "`gldpose export --formats tensorrt` (or let the SDK rebuild it)")


def engine_cache_name(stem: str, identity: EngineIdentity | tuple[str, str, str]) -> str:
    """Engine file name keyed by GPU and TensorRT, e.g. ``model_fp16.sm90.trt10.8.0.engine``."""
    ident = EngineIdentity(*identity)
    cc = ident.compute_capability.replace(".", "")
    trt = re.sub(r"[^0-9A-Za-z.]+", "_", ident.trt_version)
    return f"{stem}.sm{cc}.trt{trt}.engine"


def _norm(value: str) -> str:
    return " ".join(value.split()).lower()
