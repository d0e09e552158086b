"""Export formats: one spec per format holding all its facts, in one registry (STYLE a, h).

A spec names the exporter function (``module:function`` in this package, resolved on demand),
the pip extra that brings its packages, whether it is built from the ONNX file, the parity
runner of :mod:`gldpose_export.verify`, the manifest artefact format it writes and the SDK
backend that runs it. An exporter has the signature ``(model, manifest, out_dir, config) ->
tuple[Artefact, ...]``; its module may define ``preflight(config) -> None``, run for every
requested format before anything is exported, so a missing package fails before minutes of
work. Adding a format is one module, one line here and one test file.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from gldpose_export import ExportError
from gldpose_sdk.registry import Registry, resolve_target


@dataclass(frozen=True)
class FormatSpec:
    """Everything about one export format.

    Attributes:
        target: ``"module:function"`` of the exporter, module relative to this package.
        extra: ``pip install 'gldpose[EXTRA]'`` brings its packages (for messages).
        needs_onnx: built from ``model.onnx``: exporting it exports (and lists) ONNX first.
        verifier: ``"module:function"`` (absolute) of its parity runner.
        artefact: the manifest artefact format it writes.
        backend: the SDK backend that runs that artefact.
    """

    target: str
    extra: str
    needs_onnx: bool
    verifier: str
    artefact: str
    backend: str


FORMATS: Registry[FormatSpec] = Registry("export format", __name__, {
    "onnx": FormatSpec("to_onnx:export_onnx", "export", False,
                       "gldpose_export.verify:run_onnx", "onnx", "onnxruntime"),
    "openvino": FormatSpec("to_openvino:export_openvino", "openvino", True,
                           "gldpose_export.verify:run_openvino", "openvino", "openvino"),
    "tensorrt": FormatSpec("to_tensorrt:export_tensorrt", "tensorrt", True,
                           "gldpose_export.verify:run_tensorrt", "tensorrt", "tensorrt"),
})


def resolve_format(name: str) -> Callable[..., tuple]:
    """Return the export function of format ``name`` (importing its module).

    Raises:
        UnknownNameError: unknown name (the message lists the valid ones).
        ExportError: its package is missing.
    """
    spec = FORMATS.entry(name)
    try:
        return FORMATS.load(name)
    except ModuleNotFoundError as exc:
        raise ExportError(
            f"format {name!r} needs the package {exc.name!r}, which is not installed "
            f"(pip install 'gldpose[{spec.extra}]')") from exc


def verifier_of(artefact_format: str) -> Callable:
    """The parity runner for artefacts of ``artefact_format``.

    Raises:
        ExportError: no format writes that artefact format.
    """
    for spec in FORMATS.entries.values():
        if spec.artefact == artefact_format:
            return resolve_target(spec.verifier)
    raise ExportError(f"no verification runner for artefact format {artefact_format!r}")


def preflight_format(name: str, config: object) -> None:
    """Import format ``name`` and run its module's ``preflight(config)`` if it has one.

    Raises:
        ExportError: unknown format, missing package, or the format's own check failed.
    """
    export = resolve_format(name)
    check = getattr(importlib.import_module(export.__module__), "preflight", None)
    if check is not None:
        check(config)
