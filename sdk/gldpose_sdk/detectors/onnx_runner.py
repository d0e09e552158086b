"""Run a small ONNX network (a detector's own weights) on the fastest runtime installed.

The detectors' networks are tiny next to the pose model, so this is deliberately smaller than
``gldpose_sdk.backends``: a runner takes one float32 batch and returns the named outputs. The
registry maps a runtime name (the names users see elsewhere: "openvino", "onnxruntime", plus
"opencv" for OpenCV's DNN module, always installed) to ``"module:Class"`` and the import it
needs; a runtime package is imported only by its own module, when its entry is resolved.
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from gldpose_sdk.errors import BackendUnavailableError
from gldpose_sdk.registry import Registry, is_installed

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunnerEntry:
    """Registry entry of a runtime.

    Attributes:
        target: ``"module:Class"``, the module inside ``gldpose_sdk.detectors``.
        module: import name that must be installed (checked with ``find_spec``, not imported).
        requirement: what to ``pip install`` (for messages).
    """

    target: str
    module: str
    requirement: str


RUNNERS: Registry[RunnerEntry] = Registry("detector runtime", "gldpose_sdk.detectors", {
    "onnxruntime": RunnerEntry("onnx_ort:ORTRunner", "onnxruntime", "onnxruntime"),
    "opencv": RunnerEntry("onnx_opencv:OpenCVRunner", "cv2", "opencv-python-headless"),
    "openvino": RunnerEntry("onnx_openvino:OpenVINORunner", "openvino", "openvino"),
})

# Order tried by runtime="auto": fastest first on the MTCNN cascade, measured in
# docs/results/detectors.md (OpenCV's DNN also disagrees with the ONNX reference there).
RUNNER_ORDER: tuple[str, ...] = ("openvino", "onnxruntime", "opencv")


class NetRunner(ABC):
    """One loaded ONNX network. Not thread-safe: the caller holds a lock around :meth:`run`."""

    name: ClassVar[str] = "runner"

    def __init__(self, path: Path, outputs: tuple[str, ...]) -> None:
        self.path = path
        self.outputs = outputs

    @classmethod
    @abstractmethod
    def load(cls, path: Path, outputs: tuple[str, ...], num_threads: int) -> "NetRunner":
        """Read and compile ``path``; ``outputs`` are the output names :meth:`run` returns.

        Raises:
            BackendUnavailableError: the runtime cannot load the file here.
        """

    @abstractmethod
    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Outputs (in ``self.outputs`` order) for a float32 C-contiguous batch."""


def load_runner(name: str, path: Path, outputs: tuple[str, ...],
                num_threads: int = 0) -> NetRunner:
    """Load ``path`` on runtime ``name`` (a key of :data:`RUNNERS`).

    Args:
        name: runtime name.
        path: ONNX file.
        outputs: output names to return, in order.
        num_threads: CPU threads (0: the runtime's default).

    Raises:
        UnknownNameError: unknown runtime name (the message lists the valid ones).
        BackendUnavailableError: the runtime is not installed or cannot load the file.
    """
    entry = RUNNERS.entry(name)
    if not is_installed(entry.module):
        reason = f"{entry.module} not installed (pip install '{entry.requirement}')"
        raise BackendUnavailableError(f"detector runtime {name!r} unavailable: {reason}", reason)
    try:
        runner_class = RUNNERS.load(name)
    except ImportError as exc:  # installed but broken (e.g. a missing shared library)
        reason = f"{entry.module} does not import: {exc}"
        raise BackendUnavailableError(f"detector runtime {name!r} unavailable: {reason}",
                                      reason) from exc
    return runner_class.load(path, outputs, num_threads)


def load_runners(name: str, nets: dict[str, tuple[Path, tuple[str, ...]]],
                 num_threads: int = 0) -> tuple[str, dict[str, NetRunner]]:
    """Load several networks on one runtime: ``name``, or for ``"auto"`` the first of
    :data:`RUNNER_ORDER` that loads them all (each step down logged once with its reason).

    Args:
        name: runtime name or ``"auto"``.
        nets: network key -> (ONNX path, output names).
        num_threads: CPU threads per network (0: the runtime's default).

    Returns:
        The runtime used and the loaded runners by key.

    Raises:
        UnknownNameError: unknown runtime name.
        BackendUnavailableError: the named runtime (for "auto": every runtime) cannot run.
    """
    candidates = RUNNER_ORDER if name == "auto" else (name,)
    reasons = []
    for candidate in candidates:
        try:
            return candidate, {key: load_runner(candidate, path, outs, num_threads)
                               for key, (path, outs) in nets.items()}
        except BackendUnavailableError as exc:
            if name != "auto":
                raise
            LOG.info("detector runtime %s skipped: %s", candidate, exc.reason)
            reasons.append(f"{candidate}: {exc.reason}")
    reason = "; ".join(reasons)
    raise BackendUnavailableError(f"no runtime can run the detector's networks ({reason})",
                                  reason)
