"""Registry of inference backends: name -> where the class lives and what it needs.

Entries resolve on demand (:func:`load_backend_class`), so listing them imports no runtime.
Adding a backend is one module, one line here and one test file (STYLE a).
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gldpose_sdk.backends.base import Backend


@dataclass(frozen=True)
class BackendEntry:
    """One registry line.

    Attributes:
        target: ``"module:Class"`` of the :class:`~gldpose_sdk.backends.base.Backend` subclass,
            the module relative to this package.
        requires: import names that must all be installed (checked without importing them).
        artefact: the manifest artefact format the backend runs.
    """

    target: str
    requires: tuple[str, ...]
    artefact: str


BACKENDS: dict[str, BackendEntry] = {
    "onnxruntime": BackendEntry("ort:ONNXRuntimeBackend", ("onnxruntime",), "onnx"),
    "openvino": BackendEntry("openvino_ir:OpenVINOBackend", ("openvino",), "openvino"),
    "pytorch": BackendEntry("torch_eager:TorchBackend", ("torch", "torchvision", "safetensors"),
                            "safetensors"),
    "tensorrt": BackendEntry("trt_engine:TensorRTBackend", ("cuda.bindings", "tensorrt"),
                             "tensorrt"),
}


def check_name(name: str) -> BackendEntry:
    """Return the entry of backend ``name``.

    Raises:
        ValueError: unknown name (the message lists the valid ones).
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {sorted(BACKENDS)} or 'auto'")
    return BACKENDS[name]


def _package_available(module: str) -> bool:
    """True when ``module`` can be imported (found by ``importlib.util.find_spec``, not run)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package of a dotted name
        return False


def missing_packages(name: str) -> tuple[str, ...]:
    """The required packages of backend ``name`` that are not installed (empty when all are)."""
    return tuple(m for m in check_name(name).requires if not _package_available(m))


def load_backend_class(name: str) -> type["Backend"]:
    """Import and return the backend class of ``name`` (this imports its runtime)."""
    module_name, class_name = check_name(name).target.split(":")
    return getattr(importlib.import_module(f"{__name__}.{module_name}"), class_name)
