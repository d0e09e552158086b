"""OpenCV DNN runner for the detectors' networks: always installed, the fallback."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from gldpose_sdk.detectors.onnx_runner import NetRunner
from gldpose_sdk.errors import BackendUnavailableError


class OpenCVRunner(NetRunner):
    """One ``cv2.dnn.Net`` on the default (CPU) target.

    OpenCV 5.0's DNN differs from the ONNX reference on MTCNN's R-Net and O-Net by up to 0.08
    in their outputs (P-Net agrees to 1e-6); ONNX Runtime and OpenVINO agree to 1e-6, hence
    this runtime comes last (docs/results/detectors.md).
    """

    name = "opencv"

    def __init__(self, path: Path, outputs: tuple[str, ...], net: cv2.dnn.Net) -> None:
        super().__init__(path, outputs)
        self._net = net
        # OpenCV 5 computes only all of a graph's outputs at once, so ask for all and pick.
        self._all = list(net.getUnconnectedOutLayersNames())
        missing = sorted(set(outputs) - set(self._all))
        if missing:
            raise BackendUnavailableError(f"{path.name} has no output {missing} "
                                          f"(it has {self._all})")
        self._picks = [self._all.index(name) for name in outputs]

    @classmethod
    def load(cls, path: Path, outputs: tuple[str, ...], num_threads: int) -> "OpenCVRunner":
        """See :meth:`NetRunner.load` (``num_threads`` is OpenCV's process-wide setting and is
        left alone here)."""
        try:
            net = cv2.dnn.readNetFromONNX(str(path))
        except cv2.error as exc:
            reason = f"OpenCV {cv2.__version__} cannot read {path.name}: {exc}"
            raise BackendUnavailableError(reason) from exc
        return cls(path, outputs, net)

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """See :meth:`NetRunner.run`."""
        self._net.setInput(batch)
        found = self._net.forward(self._all)
        return [found[i] for i in self._picks]
