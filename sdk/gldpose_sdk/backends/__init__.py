"""Registry of inference backends: name -> where the class lives and what it needs.

Entries resolve on demand (``BACKENDS.load(name)``), so listing them imports no runtime.
Adding a backend is one module, one line here and one test file (STYLE a).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gldpose_sdk.registry import Registry, is_installed

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
        builds_from: artefact formats it can build its own artefact from on first use
            (TensorRT builds its engine on the target from the ONNX file).
        own_cpu_threads: ``BackendOptions.num_threads`` sets this instance's CPU threads only
            (not process-wide), so ``"auto"`` may time it with one thread against the
            runtime's default.
    """

    target: str
    requires: tuple[str, ...]
    artefact: str
    builds_from: tuple[str, ...] = ()
    own_cpu_threads: bool = False


BACKENDS: Registry[BackendEntry] = Registry("backend", __name__, {
    "onnxruntime": BackendEntry("ort:ONNXRuntimeBackend", ("onnxruntime",), "onnx",
                                own_cpu_threads=True),
    "openvino": BackendEntry("openvino_ir:OpenVINOBackend", ("openvino",), "openvino",
                             own_cpu_threads=True),
    "pytorch": BackendEntry("torch_eager:PyTorchBackend", ("torch", "torchvision", "safetensors"),
                            "safetensors"),
    "tensorrt": BackendEntry("tensorrt.runtime:TensorRTBackend", ("cuda.bindings", "tensorrt"),
                             "tensorrt", builds_from=("onnx",)),
})


def missing_packages(name: str) -> tuple[str, ...]:
    """The required packages of backend ``name`` that are not installed (empty when all are)."""
    return tuple(m for m in BACKENDS.entry(name).requires if not is_installed(m))


def load_backend_class(name: str) -> type["Backend"]:
    """Import and return the backend class of ``name`` (this imports its runtime)."""
    return BACKENDS.load(name)
