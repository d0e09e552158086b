"""ONNX Runtime backend: the ONNX artefact on the CPU or CUDA execution provider."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from gldpose_sdk.backends.base import Backend, check_model_fits, pick_artefact
from gldpose_sdk.config import BackendOptions, parse_device
from gldpose_sdk.errors import BackendUnavailableError, ModelFileError
from gldpose_sdk.manifest import Manifest, read_verified

_CPU = "CPUExecutionProvider"
_CUDA = "CUDAExecutionProvider"


def _providers(device: str) -> tuple[list, str]:
    """Execution providers (with options) for ``device``, and the resolved device name."""
    kind, index = parse_device(device)
    available = ort.get_available_providers()
    if kind == "auto":
        kind = "cuda" if _CUDA in available else "cpu"
    if kind == "gpu":
        raise BackendUnavailableError("onnxruntime runs NVIDIA GPUs as device 'cuda', not 'gpu'",
                                      reason="device 'gpu' is OpenVINO's; use 'cuda'")
    if kind == "cpu":
        return [_CPU], "cpu"
    if _CUDA not in available:
        raise BackendUnavailableError(
            f"onnxruntime {ort.__version__} has no CUDA execution provider (available: "
            f"{available}); install onnxruntime-gpu", reason="onnxruntime without CUDA provider")
    return [(_CUDA, {"device_id": index}), _CPU], f"cuda:{index}"


class ONNXRuntimeBackend(Backend):
    """Runs ``model.onnx`` with ONNX Runtime; reports the providers actually applied."""

    name = "onnxruntime"

    def __init__(self, session: ort.InferenceSession, **common: Any) -> None:
        super().__init__(**common)
        self._session = session
        self._input_name = session.get_inputs()[0].name
        self._output_name = session.get_outputs()[0].name

    @classmethod
    def load(cls, model_dir: Path, manifest: Manifest,
             options: BackendOptions) -> "ONNXRuntimeBackend":
        """Open the ONNX artefact on the requested device; see :meth:`Backend.load`."""
        artefact = pick_artefact(manifest, "onnx", options.artefact_precision, prefer=("fp32",),
                                 layouts=("nhwc_uint8_bgr", "nchw_float"))
        providers, device = _providers(options.device)
        path = Path(model_dir) / artefact.path
        model_bytes = read_verified(model_dir, artefact.files[0])  # run what was checked
        so = ort.SessionOptions()
        if options.num_threads:
            so.intra_op_num_threads = options.num_threads
        try:
            session = ort.InferenceSession(model_bytes, sess_options=so, providers=providers)
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
            raise ModelFileError(f"onnxruntime cannot load {path}: {exc}") from exc
        applied = session.get_providers()
        if device.startswith("cuda") and applied[0] != _CUDA:
            raise BackendUnavailableError(
                f"onnxruntime asked for CUDA but applied {applied} (CUDA/cuDNN libraries not "
                "found?)", reason=f"CUDA provider not applied (got {applied})")
        check_model_fits(manifest, tuple(session.get_inputs()[0].shape),
                         tuple(session.get_outputs()[0].shape), str(path),
                         layout=artefact.input_layout)
        return cls(session, manifest=manifest, artefact=artefact, artefact_path=path,
                   options=options, runtime_version=ort.__version__,
                   device=f"{device} ({', '.join(applied)})", precision=artefact.precision,
                   input_layout=artefact.input_layout)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run([self._output_name], {self._input_name: batch})[0]

    def _close(self) -> None:
        self._session = None  # type: ignore[assignment]
