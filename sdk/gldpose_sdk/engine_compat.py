"""Checks a runtime makes before it trusts an exported artefact: built here? all files intact?

TensorRT engines only run on the GPU model and TensorRT version that built them (DESIGN 5, 7):
:func:`check_engine_compat` compares what the manifest recorded with what is running and names
every difference. OpenVINO IR is two files: the manifest lists the ``.xml`` and records the
``.bin``'s sha256 in the artefact's notes; :func:`verify_openvino_files` checks both.
This module imports neither numpy nor any runtime, so a Jetson-side loader can use it as is.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import NamedTuple, Protocol

from gldpose_sdk.errors import ManifestMismatchError, ModelFileError

_BIN_NOTE = re.compile(r"weights (?P<path>\S+) sha256=(?P<sha>[0-9a-f]{64})")


class EngineIdentity(NamedTuple):
    """Where an engine was built or is about to run: TensorRT version, GPU, compute capability."""

    trt_version: str
    gpu_name: str
    compute_capability: str


class _ArtefactLike(Protocol):
    path: str
    sha256: str
    runtime_version: str
    gpu_name: str
    compute_capability: str
    notes: str


def engine_identity(artefact: _ArtefactLike) -> EngineIdentity:
    """The identity a manifest recorded for a TensorRT engine artefact."""
    return EngineIdentity(artefact.runtime_version, artefact.gpu_name,
                          artefact.compute_capability)


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


def openvino_bin_note(bin_rel_path: str, sha256: str) -> str:
    """Note recording an IR's ``.bin``; :func:`verify_openvino_files` reads it back."""
    return f"weights {bin_rel_path} sha256={sha256}"


def verify_openvino_files(model_dir: str | Path, artefact: _ArtefactLike) -> tuple[Path, Path]:
    """Check an OpenVINO IR artefact's ``.xml`` and ``.bin`` against the manifest's sha256s.

    Returns:
        ``(xml_path, bin_path)``.

    Raises:
        ModelFileError: a file is missing, or the notes do not record the ``.bin``.
        ManifestMismatchError: a file's sha256 differs from the recorded one.
    """
    model_dir = Path(model_dir)
    match = _BIN_NOTE.search(artefact.notes)
    if match is None:
        raise ModelFileError(f"manifest entry {artefact.path} does not record its .bin weights "
                             "('weights PATH sha256=HEX' in notes); re-export the IR")
    xml_path = _check_hash(model_dir, artefact.path, artefact.sha256)
    bin_path = _check_hash(model_dir, match["path"], match["sha"])
    return xml_path, bin_path


def _check_hash(model_dir: Path, rel_path: str, expected: str) -> Path:
    path = model_dir / rel_path
    if not path.is_file():
        raise ModelFileError(f"{rel_path} listed in the manifest is missing from {model_dir}")
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise ManifestMismatchError(
            f"sha256 of {path} is {digest.hexdigest()[:12]}..., the manifest records "
            f"{expected[:12]}...: the file was changed or replaced; re-export it")
    return path


def _norm(value: str) -> str:
    return " ".join(value.split()).lower()
