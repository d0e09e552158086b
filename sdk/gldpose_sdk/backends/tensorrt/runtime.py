"""TensorRT backend: a serialized engine (TensorRT 10 named-tensor API), buffers via cuda-python.

An engine only runs on the TensorRT version and GPU it was built with, so the manifest entry
(``runtime_version``, ``gpu_name``, ``compute_capability``) is compared with this machine
before the engine is deserialised; a mismatch is a ManifestMismatchError naming what differs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tensorrt as trt
from cuda.bindings import runtime as cudart

from gldpose_sdk.backends.base import Backend, check_model_fits
from gldpose_sdk.config import BackendOptions, parse_device
from gldpose_sdk.engine_compat import EngineIdentity, check_engine_compat, engine_identity
from gldpose_sdk.errors import (
    BackendRuntimeError,
    BackendUnavailableError,
    ManifestMismatchError,
    ModelFileError,
)
from gldpose_sdk.manifest import ANGLE_NAMES, Artefact, Manifest, verify_artefact


def _cuda(result: tuple, what: str) -> Any:
    """Unpack a cuda-python ``(error, value...)`` tuple, raising on error."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if err != cudart.cudaError_t.cudaSuccess:
        message = cudart.cudaGetErrorString(err)[1]
        raise BackendRuntimeError(f"CUDA {what} failed: {message.decode() if message else err}")
    return values[0] if len(values) == 1 else tuple(values)


def _this_gpu(index: int) -> tuple[str, str]:
    """Name and compute capability (``"major.minor"``) of CUDA device ``index``."""
    count = cudart.cudaGetDeviceCount()
    if count[0] != cudart.cudaError_t.cudaSuccess or count[1] <= index:
        raise BackendUnavailableError(f"no CUDA device {index} (cudaGetDeviceCount: {count})",
                                      reason=f"no CUDA device {index}")
    props = _cuda(cudart.cudaGetDeviceProperties(index), "cudaGetDeviceProperties")
    name = bytes(props.name).split(b"\0", 1)[0].decode()
    return name, f"{props.major}.{props.minor}"


def _pick_engine(manifest: Manifest, gpu: tuple[str, str]) -> Artefact:
    """The first engine artefact built for this TensorRT version and GPU."""
    engines = [a for a in manifest.artefacts if a.format == "tensorrt" and a.output == "logits"]
    if not engines:
        manifest.find("tensorrt")  # raises ModelFileError listing what the manifest has
    here = EngineIdentity(trt.__version__, *gpu)
    problems = []
    for art in engines:
        try:
            check_engine_compat(engine_identity(art), here, art.path)
        except ManifestMismatchError as exc:
            problems.append(str(exc))
        else:
            return art
    raise ManifestMismatchError(" | ".join(problems))


class TensorRTBackend(Backend):
    """Runs a serialized engine with one execution context, stream and device buffers."""

    name = "tensorrt"

    def __init__(self, engine: Any, device_index: int, **common: Any) -> None:
        super().__init__(**common)
        self._engine = engine
        self._index = device_index
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self._in = next(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self._out = next(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
        self._in_dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(self._in)))
        self._out_dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(self._out)))
        _cuda(cudart.cudaSetDevice(device_index), "cudaSetDevice")
        self._context = engine.create_execution_context()
        self._stream = _cuda(cudart.cudaStreamCreate(), "cudaStreamCreate")
        s, n = self.manifest.input.size_px, self.max_batch
        self._out_shape = (len(ANGLE_NAMES), self.manifest.bins.count)
        in_bytes = n * 3 * s * s * self._in_dtype.itemsize  # RGB NCHW
        out_bytes = n * int(np.prod(self._out_shape)) * self._out_dtype.itemsize
        self._d_in = _cuda(cudart.cudaMalloc(in_bytes), "cudaMalloc")
        self._d_out = _cuda(cudart.cudaMalloc(out_bytes), "cudaMalloc")
        self._context.set_tensor_address(self._in, int(self._d_in))
        self._context.set_tensor_address(self._out, int(self._d_out))

    @classmethod
    def load(cls, model_dir: Path, manifest: Manifest,
             options: BackendOptions) -> "TensorRTBackend":
        """Check the engine's build against this machine, then deserialise it."""
        kind, index = parse_device(options.device)
        if kind not in ("auto", "cuda"):
            raise BackendUnavailableError(f"TensorRT runs only on CUDA devices, not {kind!r}",
                                          reason=f"TensorRT needs a CUDA device, asked {kind}")
        gpu = _this_gpu(index)
        artefact = _pick_engine(manifest, gpu)
        path = verify_artefact(model_dir, artefact)
        _cuda(cudart.cudaSetDevice(index), "cudaSetDevice")
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            raise ModelFileError(f"TensorRT {trt.__version__} could not deserialise {path}")
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        in_name = next(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        out_name = next(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
        check_model_fits(manifest, _dims(engine.get_tensor_shape(in_name)),
                         _dims(engine.get_tensor_shape(out_name)), str(path))
        profile_max = engine.get_tensor_profile_shape(in_name, 0)[2][0]
        return cls(engine, index, manifest=manifest, artefact=artefact, artefact_path=path,
                   options=options, runtime_version=trt.__version__,
                   device=f"cuda:{index} ({gpu[0]}, sm {gpu[1]})",
                   precision=artefact.precision, max_batch=int(profile_max))

    def _run(self, batch: np.ndarray) -> np.ndarray:
        _cuda(cudart.cudaSetDevice(self._index), "cudaSetDevice")  # per calling thread
        x = np.ascontiguousarray(batch, dtype=self._in_dtype)
        n = x.shape[0]
        out = np.empty((n, *self._out_shape), dtype=self._out_dtype)
        if not self._context.set_input_shape(self._in, x.shape):
            raise BackendRuntimeError(f"engine rejects input shape {x.shape}")
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, \
            cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        _cuda(cudart.cudaMemcpyAsync(self._d_in, x.ctypes.data, x.nbytes, h2d, self._stream),
              "copy to device")
        if not self._context.execute_async_v3(int(self._stream)):
            raise BackendRuntimeError("TensorRT execute_async_v3 failed (see TensorRT log)")
        _cuda(cudart.cudaMemcpyAsync(out.ctypes.data, self._d_out, out.nbytes, d2h, self._stream),
              "copy to host")
        _cuda(cudart.cudaStreamSynchronize(self._stream), "stream synchronize")
        return out

    def _close(self) -> None:
        cudart.cudaSetDevice(self._index)
        cudart.cudaFree(self._d_in)
        cudart.cudaFree(self._d_out)
        cudart.cudaStreamDestroy(self._stream)
        self._context = None
        self._engine = None


def _dims(dims: Any) -> tuple[int | None, ...]:
    return tuple(int(d) if int(d) >= 0 else None for d in dims)
