"""OpenVINO (CPU plugin) runner for the detectors' networks, read straight from ONNX."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov

from gldpose_sdk.detectors.onnx_runner import NetRunner
from gldpose_sdk.errors import BackendUnavailableError


class OpenVINORunner(NetRunner):
    """One compiled model and infer request on the CPU plugin (dynamic shapes as in the file).

    Runs in float32, like the ONNX reference: the plugin's default bf16 (on CPUs that have it)
    made the MTCNN cascade 1.2-1.5x faster here but moved scores by up to 0.007 and found
    0.7-1.7% fewer of the rendered benchmark faces (docs/results/detectors.md).
    """

    name = "openvino"

    def __init__(self, path: Path, outputs: tuple[str, ...], compiled: ov.CompiledModel) -> None:
        super().__init__(path, outputs)
        self._compiled = compiled
        self._request = compiled.create_infer_request()
        self._ports = [compiled.output(name) for name in outputs]

    @classmethod
    def load(cls, path: Path, outputs: tuple[str, ...], num_threads: int) -> "OpenVINORunner":
        """See :meth:`NetRunner.load`."""
        config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY",
                                     "INFERENCE_PRECISION_HINT": "f32"}
        if num_threads:
            config["INFERENCE_NUM_THREADS"] = num_threads
        try:
            compiled = ov.Core().compile_model(str(path), "CPU", config)
        except RuntimeError as exc:
            reason = f"openvino {ov.get_version()} cannot compile {path.name}: {exc}"
            raise BackendUnavailableError(reason) from exc
        return cls(path, outputs, compiled)

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """See :meth:`NetRunner.run`."""
        self._request.infer({0: batch})
        return [self._request.get_tensor(port).data.copy() for port in self._ports]
