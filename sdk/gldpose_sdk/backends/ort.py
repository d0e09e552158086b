"""ONNX Runtime backend: the ONNX artefact on the CPU or CUDA execution provider.

A session's thread pool does not survive ``fork()`` (Linux's default multiprocessing start
method): used in a forked child, the inherited session can hang in ``run``, and destroying it
there can crash in ``pthread_join`` on the parent's threads (onnxruntime PR #31961, which makes
only the destruction safe). So a backend used in a forked child opens its own session there,
from the artefact's bytes checked again against the manifest, and keeps the inherited one
referenced, never running or destroying it.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from gldpose_sdk.backends.base import Backend, check_model_fits, pick_artefact
from gldpose_sdk.config import BackendOptions, parse_device
from gldpose_sdk.errors import BackendUnavailableError, ModelFileError
from gldpose_sdk.manifest import ArtefactFile, Manifest, read_verified

_LOG = logging.getLogger(__name__)
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


#: Sessions inherited through fork() and replaced in the child: kept alive for the child's
#: lifetime, because destroying one joins threads that belong to the parent.
_INHERITED_SESSIONS: list[ort.InferenceSession] = []


def _open_session(model_dir: Path, entry: ArtefactFile, providers: list,
                  options: BackendOptions) -> ort.InferenceSession:
    """A session on the artefact's verified bytes (so it runs exactly what was checked)."""
    model_bytes = read_verified(model_dir, entry)
    so = ort.SessionOptions()
    if options.num_threads:
        so.intra_op_num_threads = options.num_threads
    try:
        return ort.InferenceSession(model_bytes, sess_options=so, providers=providers)
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
        raise ModelFileError(f"onnxruntime cannot load {Path(model_dir) / entry.path}: "
                             f"{exc}") from exc


class ONNXRuntimeBackend(Backend):
    """Runs ``model.onnx`` with ONNX Runtime; reports the providers actually applied."""

    name = "onnxruntime"

    def __init__(self, session: ort.InferenceSession, reopen: tuple[Path, ArtefactFile, list],
                 **common: Any) -> None:
        super().__init__(**common)
        self._session = session
        self._reopen = reopen   # model folder, artefact file, providers: for a forked child
        self._pid = os.getpid()
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
        session = _open_session(Path(model_dir), artefact.files[0], providers, options)
        applied = session.get_providers()
        if device.startswith("cuda") and applied[0] != _CUDA:
            raise BackendUnavailableError(
                f"onnxruntime asked for CUDA but applied {applied} (CUDA/cuDNN libraries not "
                "found?)", reason=f"CUDA provider not applied (got {applied})")
        check_model_fits(manifest, tuple(session.get_inputs()[0].shape),
                         tuple(session.get_outputs()[0].shape), str(path),
                         layout=artefact.input_layout)
        return cls(session, (Path(model_dir), artefact.files[0], providers), manifest=manifest,
                   artefact=artefact, artefact_path=path,
                   options=options, runtime_version=ort.__version__,
                   device=f"{device} ({', '.join(applied)})", precision=artefact.precision,
                   input_layout=artefact.input_layout)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if os.getpid() != self._pid:
            self._after_fork()
        return self._session.run([self._output_name], {self._input_name: batch})[0]

    def _after_fork(self) -> None:
        """Replace the session inherited through fork() by one of this process."""
        model_dir, entry, providers = self._reopen
        if self.describe().device.startswith("cuda"):
            raise BackendUnavailableError(
                "this onnxruntime CUDA backend was created in another process; CUDA cannot be "
                "used after fork(): create the estimator in the child, or use the 'spawn' start "
                "method", reason="CUDA after fork")
        _INHERITED_SESSIONS.append(self._session)
        self._session = _open_session(model_dir, entry, providers, self.options)
        self._pid = os.getpid()
        _LOG.info("onnxruntime backend used in a forked child: opened a session of its own (the "
                  "parent's thread pool does not survive fork; 'spawn' avoids this)")

    def _close(self) -> None:
        if os.getpid() != self._pid and self._session is not None:
            _INHERITED_SESSIONS.append(self._session)   # never destroyed in a forked child
        self._session = None  # type: ignore[assignment]
