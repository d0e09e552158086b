"""TensorRT engine builder: ONNX -> serialized engine (TensorRT 10 and 11 Python API).

The one builder of the project: ``gldpose export --formats tensorrt`` and the SDK's build on
first use (``runtime.py``) both call :func:`build_engine`. It parses the ONNX bytes with
``OnnxParser``, adds one optimisation profile over the batch axis, picks the precision, attaches
the timing cache and serialises the engine. Written against the TensorRT 10.x/11.x
documentation and exercised only with a fake ``tensorrt`` module: it has never run here.

Precision: an ``"fp32"`` engine is built with ``BuilderFlag.TF32`` cleared (TensorRT enables TF32
by default, which rounds matmul/conv inputs to 10-bit mantissas and can break the 0.05 degree
FP32 parity). ``"fp16"`` uses ``BuilderFlag.FP16`` where it exists (TensorRT 10, weak typing);
TensorRT 11 removed it, so there the FP16 engine is built, strongly typed, from an ONNX file
whose graph is already FP16 (``model_fp16.onnx`` from export).
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tensorrt as trt

from gldpose_sdk.backends.tensorrt.cache import atomic_write
from gldpose_sdk.backends.tensorrt.identity import has_fast_fp16
from gldpose_sdk.errors import (
    BackendRuntimeError,
    BackendUnavailableError,
    ModelFileError,
)

_LOG = logging.getLogger(__name__)
HEARTBEAT_S = 30.0


@dataclass(frozen=True)
class BuildSpec:
    """What to build.

    Attributes:
        precision: ``"fp32"`` or ``"fp16"``.
        strongly_typed: the ONNX graph carries the precision (TensorRT 11 FP16 builds).
        size_px: input crop size.
        batch_min_opt_max: the optimisation profile over the batch axis.
        input_layout: ``"nchw_float"`` or ``"nhwc_uint8_bgr"`` (shape of the profile).
        workspace_mib: builder workspace limit, MiB.
    """

    precision: str
    strongly_typed: bool
    size_px: int
    batch_min_opt_max: tuple[int, int, int]
    input_layout: str = "nchw_float"
    workspace_mib: int = 1024

    def __post_init__(self) -> None:
        lo, opt, hi = self.batch_min_opt_max
        if self.precision not in ("fp32", "fp16"):
            raise ValueError(f"TensorRT builds fp32 or fp16 engines, not {self.precision!r}")
        if not 1 <= lo <= opt <= hi:
            raise ValueError(f"batch_min_opt_max needs 1 <= min <= opt <= max, got "
                             f"{self.batch_min_opt_max}")

    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        """Min, opt and max input shapes of the profile."""
        s = self.size_px
        if self.input_layout == "nhwc_uint8_bgr":
            return tuple((b, s, s, 3) for b in self.batch_min_opt_max)
        return tuple((b, 3, s, s) for b in self.batch_min_opt_max)


@dataclass(frozen=True)
class BuiltEngine:
    """A serialized engine and how it was made."""

    data: bytes
    seconds: float
    trt_version: str
    spec: BuildSpec


def tensorrt_version() -> str:
    """Version of the imported TensorRT."""
    return str(trt.__version__)


def has_builder() -> bool:
    """True when this TensorRT has the builder and ONNX parser (a runtime-only install has not)."""
    return hasattr(trt, "Builder") and hasattr(trt, "OnnxParser")


def has_weak_fp16() -> bool:
    """True when ``BuilderFlag.FP16`` exists (TensorRT 10; removed in 11)."""
    return hasattr(trt.BuilderFlag, "FP16")


def choose_precision(wanted: str, compute_capability: str,
                     has_fp16_onnx: bool) -> tuple[str, bool]:
    """Pick the precision of an engine built here (see the module docstring).

    Args:
        wanted: ``"auto"`` (FP16 where the GPU has full-rate FP16), ``"fp16"`` or ``"fp32"``.
        compute_capability: of the target GPU.
        has_fp16_onnx: an FP16 ONNX graph is available (needed for FP16 on TensorRT 11).

    Returns:
        ``(precision, strongly_typed)``: ``("fp32", False)``; ``("fp16", False)`` with the FP16
        builder flag; ``("fp16", True)`` from the FP16 ONNX graph.

    Raises:
        BackendUnavailableError: ``"fp16"`` asked for but impossible here, or another precision.
    """
    if wanted not in ("auto", "fp16", "fp32"):
        raise BackendUnavailableError(
            f"the TensorRT backend builds fp32 or fp16 engines, not {wanted!r}",
            reason=f"no {wanted} TensorRT engine")
    if wanted == "fp32":
        return "fp32", False
    why_not = ("" if has_fast_fp16(compute_capability) else
               f"the GPU (compute capability {compute_capability}) has no full-rate FP16")
    if not why_not and has_weak_fp16():
        return "fp16", False
    if not why_not and has_fp16_onnx:
        return "fp16", True
    why_not = why_not or (f"TensorRT {tensorrt_version()} builds FP16 only from an FP16 ONNX "
                          "graph and the model folder has none (re-export with --fp16)")
    if wanted == "fp16":
        raise BackendUnavailableError(f"cannot build an fp16 engine here: {why_not}",
                                      reason=f"no fp16 TensorRT engine: {why_not}")
    _LOG.info("gldpose tensorrt: building fp32, not fp16: %s", why_not)
    return "fp32", False


def build_engine(onnx: bytes, spec: BuildSpec, *, name: str,
                 timing_cache: Path | None = None) -> BuiltEngine:
    """Build a serialized engine from ONNX bytes.

    Args:
        onnx: the ONNX model (digest-checked bytes; weights inside the file).
        spec: precision, profile and workspace.
        name: what is built, for the log and messages (e.g. ``"model.onnx fp16"``).
        timing_cache: file read before the build (a corrupt or foreign one is discarded with a
            warning) and written after it; None: no timing cache.

    Raises:
        BackendUnavailableError: this TensorRT has no builder (runtime-only install).
        ModelFileError: the ONNX parser rejected the model (its errors are included).
        BackendRuntimeError: the builder returned no engine.
    """
    if not has_builder():
        raise BackendUnavailableError(
            f"TensorRT {tensorrt_version()} here has no builder (a runtime-only install), so "
            f"{name} cannot be built into an engine; install the full TensorRT",
            reason="TensorRT builder not installed")
    start = time.perf_counter()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(spec.strongly_typed))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelFileError(f"TensorRT {tensorrt_version()} could not parse {name}: {errors}; "
                             "re-export the ONNX file or update TensorRT")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, spec.workspace_mib << 20)
    _set_precision(config, spec)
    profile = builder.create_optimization_profile()
    profile.set_shape(network.get_input(0).name, *spec.input_shapes())
    config.add_optimization_profile(profile)
    _attach_timing_cache(config, timing_cache)
    with _heartbeat(name):
        serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendRuntimeError(f"TensorRT {tensorrt_version()} failed to build an engine "
                                  f"from {name} (see the TensorRT log above)")
    _save_timing_cache(config, timing_cache)
    seconds = time.perf_counter() - start
    _LOG.info("gldpose tensorrt: built %s in %.1f s (TensorRT %s)", name, seconds,
              tensorrt_version())
    return BuiltEngine(bytes(serialized), seconds, tensorrt_version(), spec)


def _network_flags(strongly_typed: bool) -> int:
    flags = 0
    if int(tensorrt_version().split(".")[0]) < 10:  # 8.x needs explicit batch; 10 implies it
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if strongly_typed:  # accepted and implied on TensorRT 11
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return flags


def _set_precision(config: Any, spec: BuildSpec) -> None:
    if spec.precision == "fp32":
        # TF32 is on by default; an fp32 engine must compute in fp32 to meet fp32 parity.
        config.clear_flag(trt.BuilderFlag.TF32)
    elif not spec.strongly_typed:
        config.set_flag(trt.BuilderFlag.FP16)


def _attach_timing_cache(config: Any, path: Path | None) -> None:
    """Load ``path`` into the config; discard it (with a warning) when TensorRT refuses it."""
    if path is None:
        return
    data = path.read_bytes() if path.is_file() else b""
    if data:
        cache = config.create_timing_cache(data)
        if cache is not None and config.set_timing_cache(cache, False):
            _LOG.info("gldpose tensorrt: reusing timing cache %s", path)
            return
        _LOG.warning("gldpose tensorrt: timing cache %s is corrupt or from another GPU or "
                     "TensorRT version: discarded, a new one is written after this build", path)
        path.unlink(missing_ok=True)
    cache = config.create_timing_cache(b"")
    if cache is None or not config.set_timing_cache(cache, False):
        _LOG.warning("gldpose tensorrt: TensorRT could not start a timing cache; building "
                     "without one")


def _save_timing_cache(config: Any, path: Path | None) -> None:
    if path is None:
        return
    cache = config.get_timing_cache()
    data = cache.serialize() if cache is not None else None
    if data is None:
        _LOG.warning("gldpose tensorrt: no timing cache to save at %s", path)
        return
    atomic_write(path, bytes(data))


@contextlib.contextmanager
def _heartbeat(name: str) -> Iterator[None]:
    """Log every :data:`HEARTBEAT_S` seconds while the builder runs (a build takes minutes)."""
    done = threading.Event()
    start = time.perf_counter()

    def beat() -> None:
        while not done.wait(HEARTBEAT_S):
            _LOG.info("gldpose tensorrt: still building %s (%.0f s so far)", name,
                      time.perf_counter() - start)

    _LOG.info("gldpose tensorrt: building %s (TensorRT %s); the first build on a device takes "
              "minutes and is cached", name, tensorrt_version())
    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
