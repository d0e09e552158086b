"""TensorRT backend: a serialized engine (TensorRT 10/11 named-tensor API), buffers via cuda-python.

An engine only runs on the TensorRT version and GPU it was built with. :meth:`load` uses an
engine the manifest lists for this machine (digest-checked); otherwise it builds one here from
the model's ONNX file on first use and caches it (:mod:`.target_build`). An engine from another
GPU or TensorRT version is therefore never loaded, and never an integrity error: it is rebuilt,
or, where nothing can be built, the backend is unavailable (BackendUnavailableError), so
``backend="auto"`` steps down. A tampered engine is ManifestMismatchError.

TensorRT's start-up is checked before this process creates a Runtime: with a CUDA driver
older than TensorRT's CUDA, ``trt.Runtime()`` logs "CUDA initialization failure" and returns an
object that crashes the process when used or freed. :func:`.gpu.check_driver` compares the
driver with the CUDA TensorRT needs, then :func:`.startup.probe_startup` starts TensorRT in a
child process; either failing makes the backend unavailable.

The engine's optimisation profile bounds the batch: :meth:`Backend.infer` splits above its
maximum, and :meth:`_run` pads a chunk below its minimum with zero rows that are dropped again.
Written against the TensorRT documentation; tested with fakes, never run on a GPU here.
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import numpy as np
import tensorrt as trt

from gldpose_sdk.backends.base import Backend, check_model_fits
from gldpose_sdk.backends.tensorrt import gpu, startup
from gldpose_sdk.backends.tensorrt.identity import (
    EngineIdentity,
    check_engine_compat,
    engine_identity,
    engine_mismatch,
)
from gldpose_sdk.backends.tensorrt.target_build import BuildRequest, obtain_engine
from gldpose_sdk.config import BackendOptions, parse_device
from gldpose_sdk.errors import (
    BackendRuntimeError,
    BackendUnavailableError,
    ModelFileError,
)
from gldpose_sdk.manifest import (
    ANGLE_NAMES,
    Artefact,
    Manifest,
    read_verified,
    resolve_inside,
)

_LOG = logging.getLogger(__name__)


class TensorRTBackend(Backend):
    """Runs a serialized engine with one execution context, stream and device buffers."""

    name = "tensorrt"

    def __init__(self, engine: Any, runtime: tuple[Any, startup.TensorRTLog], device_index: int,
                 **common: Any) -> None:
        self._engine, self._index = engine, device_index
        self._trt_runtime, self._trt_log = runtime  # the log must outlive the runtime
        self._in, self._out = _io_names(engine)
        profile = engine.get_tensor_profile_shape(self._in, 0)  # [min, opt, max] shapes
        self._profile_min, profile_max = int(profile[0][0]), int(profile[2][0])
        super().__init__(**common, max_batch=profile_max)
        self._in_dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(self._in)))
        self._out_dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(self._out)))
        self._out_shape = (len(ANGLE_NAMES), self.manifest.bins.count)
        rows = max(self.max_batch, self._profile_min)  # a short chunk is padded up to min
        s = self.manifest.input.size_px
        gpu.set_device(device_index)
        self._context = engine.create_execution_context()
        self._stream = gpu.create_stream()
        self._d_in = gpu.malloc(rows * 3 * s * s * self._in_dtype.itemsize)
        self._d_out = gpu.malloc(rows * int(np.prod(self._out_shape)) * self._out_dtype.itemsize)
        self._context.set_tensor_address(self._in, self._d_in)
        self._context.set_tensor_address(self._out, self._d_out)

    @classmethod
    def load(cls, model_dir: Path, manifest: Manifest,
             options: BackendOptions) -> TensorRTBackend:
        """A listed engine built for this machine, else one built here on first use (cached).

        Raises:
            BackendUnavailableError: no CUDA device or driver, TensorRT cannot start, or no
                engine for this GPU and none can be built (no ONNX file, no builder).
            ManifestMismatchError: a listed or cached engine (or the ONNX file) was tampered.
            ModelFileError: an engine cannot be deserialised, or a file is missing.
            BackendRuntimeError: building failed, or the new engine failed its parity check.
        """
        index, info = _device(options)
        here = EngineIdentity(trt.__version__, info.name, info.compute_capability)
        listed = _listed_engine(manifest, here, options.artefact_precision)
        if listed is not None:
            return cls.open_artefact(model_dir, manifest, listed, options)
        request = BuildRequest(here, options.artefact_precision, options.max_batch)
        opener = functools.partial(cls._from_bytes, manifest=manifest, options=options,
                                   device=(index, info))
        engine = obtain_engine(Path(model_dir), manifest, request, opener)
        return engine  # type: ignore[return-value]  (opener returns this class)

    @classmethod
    def open_artefact(cls, model_dir: Path, manifest: Manifest, artefact: Artefact,
                      options: BackendOptions) -> TensorRTBackend:
        """Run exactly the listed engine ``artefact`` (what export's verification runs).

        Raises:
            BackendUnavailableError: it was built for another GPU or TensorRT version, or no
                CUDA device, driver or working TensorRT start-up here.
            ManifestMismatchError: its bytes do not match the manifest's sha256.
            ModelFileError: missing, or TensorRT cannot deserialise it.
        """
        index, info = _device(options)
        here = EngineIdentity(trt.__version__, info.name, info.compute_capability)
        check_engine_compat(engine_identity(artefact), here, artefact.path)
        data = read_verified(model_dir, artefact.files[0])  # deserialise what was checked
        return cls._from_bytes(data, artefact, resolve_inside(model_dir, artefact.path),
                               manifest=manifest, options=options, device=(index, info))

    @classmethod
    def _from_bytes(cls, data: bytes, artefact: Artefact, path: Path, *, manifest: Manifest,
                    options: BackendOptions, device: tuple[int, gpu.GpuInfo]) -> TensorRTBackend:
        index, info = device
        gpu.set_device(index)
        runtime, log = startup.start_runtime()
        engine = runtime.deserialize_cuda_engine(data)
        if engine is None:
            del runtime  # freed while its log is still alive
            raise ModelFileError(
                f"TensorRT {trt.__version__} could not deserialise {path} "
                f"({'; '.join(log.errors) or 'no message'}); delete it to have it rebuilt, or "
                "re-export it with `gldpose export --formats tensorrt` on this device")
        in_name, out_name = _io_names(engine)
        check_model_fits(manifest, _dims(engine.get_tensor_shape(in_name)),
                         _dims(engine.get_tensor_shape(out_name)), str(path))
        return cls(engine, (runtime, log), index, manifest=manifest, artefact=artefact,
                   artefact_path=path, options=options, runtime_version=trt.__version__,
                   device=f"cuda:{index} ({info.name}, sm {info.compute_capability})",
                   precision=artefact.precision)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        gpu.set_device(self._index)  # per calling thread
        n = batch.shape[0]
        x = np.ascontiguousarray(batch, dtype=self._in_dtype)
        if n < self._profile_min:  # the engine rejects fewer rows than its profile minimum
            pad = np.zeros((self._profile_min - n, *x.shape[1:]), dtype=x.dtype)
            x = np.ascontiguousarray(np.concatenate([x, pad]))
        out = np.empty((x.shape[0], *self._out_shape), dtype=self._out_dtype)
        if not self._context.set_input_shape(self._in, x.shape):
            raise BackendRuntimeError(f"the engine rejects input shape {x.shape}")
        gpu.copy_to_device(self._d_in, x, self._stream)
        if not self._context.execute_async_v3(int(self._stream)):
            raise BackendRuntimeError("TensorRT execute_async_v3 failed (see the TensorRT log)")
        gpu.copy_to_host(out, self._d_out, self._stream)
        gpu.synchronize(self._stream)  # x and out must outlive the copies
        return out[:n]

    def _close(self) -> None:
        gpu.set_device(self._index)
        gpu.free(self._d_in)
        gpu.free(self._d_out)
        gpu.destroy_stream(self._stream)
        # Free in dependency order: context, engine, runtime, and its log last.
        self._context = None
        self._engine = None
        self._trt_runtime = None
        self._trt_log = None


def _device(options: BackendOptions) -> tuple[int, gpu.GpuInfo]:
    """The CUDA device asked for, after checking the driver.

    Raises:
        BackendUnavailableError: not a CUDA device, no driver, too old a driver, no device,
            or TensorRT cannot start here.
    """
    kind, index = parse_device(options.device)
    if kind not in ("auto", "cuda"):
        raise BackendUnavailableError(f"TensorRT runs only on CUDA devices, not {kind!r}",
                                      reason=f"TensorRT needs a CUDA device, asked {kind}")
    gpu.check_driver()
    info = gpu.read_gpu(index)
    startup.probe_startup()  # before anything creates a TensorRT object in this process
    return index, info


def _listed_engine(manifest: Manifest, here: EngineIdentity, precision: str) -> Artefact | None:
    """The manifest's engine built for ``here`` in ``precision`` (fp16 first for "auto")."""
    order = ("fp16", "fp32") if precision == "auto" else (precision,)
    engines = [a for a in manifest.candidates("tensorrt")
               if a.precision in order and a.input_layout == "nchw_float"]
    usable = [a for a in engines if not engine_mismatch(engine_identity(a), here)]
    for art in engines:
        if art not in usable:
            _LOG.info("gldpose tensorrt: not using %s: %s", art.path,
                      engine_mismatch(engine_identity(art), here))
    usable.sort(key=lambda a: order.index(a.precision))
    return usable[0] if usable else None


def _io_names(engine: Any) -> tuple[str, str]:
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelFileError(f"the engine has inputs {inputs} and outputs {outputs}; a gldpose "
                             "logits engine has one of each: rebuild it from model.onnx")
    return inputs[0], outputs[0]


def _dims(dims: Any) -> tuple[int | None, ...]:
    return tuple(int(d) if int(d) >= 0 else None for d in dims)
