"""ONNX Runtime (CPU execution provider) runner for the detectors' networks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from gldpose_sdk.detectors.onnx_runner import NetRunner
from gldpose_sdk.errors import BackendUnavailableError


class ORTRunner(NetRunner):
    """One ``InferenceSession`` on the CPU execution provider."""

    name = "onnxruntime"

    def __init__(self, path: Path, outputs: tuple[str, ...],
                 session: ort.InferenceSession) -> None:
        super().__init__(path, outputs)
        self._session = session
        self._input = session.get_inputs()[0].name

    @classmethod
    def load(cls, path: Path, outputs: tuple[str, ...], num_threads: int) -> "ORTRunner":
        """See :meth:`NetRunner.load`."""
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        try:
            session = ort.InferenceSession(str(path), sess_options=options,
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001  ORT raises its own unrooted exception types
            reason = f"onnxruntime {ort.__version__} cannot load {path.name}: {exc}"
            raise BackendUnavailableError(reason) from exc
        return cls(path, outputs, session)

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """See :meth:`NetRunner.run`."""
        return self._session.run(list(self.outputs), {self._input: batch})
