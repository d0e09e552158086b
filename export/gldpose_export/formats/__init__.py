"""Export formats: name -> ``"module:function"``, resolved on demand (STYLE a).

Each function has the signature ``(model, manifest, out_dir, config) -> tuple[Artefact, ...]``:
it writes its files under ``out_dir`` and describes them; the caller adds them to the manifest.
A format module may also define ``preflight(config) -> None``, run for every requested format
before anything is exported, so a missing package or bad input fails before minutes of work.
"""
from __future__ import annotations

import importlib
from typing import Callable

from gldpose_export import ExportError

FORMATS: dict[str, str] = {
    "onnx": "gldpose_export.formats.to_onnx:export_onnx",
    "openvino": "gldpose_export.formats.to_openvino:export_openvino",
    "tensorrt": "gldpose_export.formats.to_tensorrt:export_tensorrt",
}

# Formats built from the ONNX file: exporting them exports (and lists) the ONNX file first.
NEEDS_ONNX: frozenset[str] = frozenset({"openvino", "tensorrt"})

# The pip extra that brings each format's packages, for "not installed" messages.
EXTRAS: dict[str, str] = {
    "onnx": "export",
    "openvino": "openvino",
    "tensorrt": "tensorrt",
}


def resolve_format(name: str) -> Callable[..., tuple]:
    """Return the export function of format ``name`` (importing its module).

    Raises:
        ExportError: unknown name (the message lists the valid ones), or its package is missing.
    """
    if name not in FORMATS:
        raise ExportError(f"unknown export format {name!r}; choose from {sorted(FORMATS)}")
    module_name, func_name = FORMATS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ExportError(
            f"format {name!r} needs the package {exc.name!r}, which is not installed "
            f"(pip install 'gldpose[{EXTRAS[name]}]')") from exc
    return getattr(module, func_name)


def preflight_format(name: str, config: object) -> None:
    """Import format ``name`` and run its module's ``preflight(config)`` if it has one.

    Raises:
        ExportError: unknown format, missing package, or the format's own check failed.
    """
    export = resolve_format(name)
    check = getattr(importlib.import_module(export.__module__), "preflight", None)
    if check is not None:
        check(config)
