"""Fakes of ``tensorrt`` and ``cuda.bindings.runtime`` for the TensorRT tests, and their own tests.

TensorRT and a GPU are not available where these tests run, so ``gldpose_sdk.backends.tensorrt``
is imported against stand-ins written from the documented TensorRT 10/11 and cuda-python APIs.
They are strict where the real libraries are, so that wrong code fails:

- device memory lives apart from host memory at addresses no host pointer can have; a copy
  whose direction does not match its ``cudaMemcpyKind`` fails, as on a real GPU;
- copies and ``execute_async_v3`` are queued on their stream and happen only at
  ``cudaStreamSynchronize``: a missing synchronise leaves the host array untouched;
- the builder starts with ``BuilderFlag.TF32`` set (TensorRT's default); an engine records the
  flags, the profile and the precision it was built with, and runs only within its profile;
- ``create_timing_cache`` returns None for bytes it cannot read and ``set_timing_cache(None)``
  raises TypeError, like the pybind11 bindings;
- with ``startup_error`` set, ``trt.Runtime()`` logs TensorRT's "CUDA initialization failure"
  error and deserialising on it "crashes" (raises and records it); the start-up check's child
  process imports a file-based stand-in (:data:`PROBE_MODULE`) that fails the same way after
  :meth:`Fakes.fail_startup`.

The engine computes :func:`fake_logits` from its input, so a wrong copy, shape or address
shows up as wrong numbers. This file also tests that the fakes fail when they should.
"""
from __future__ import annotations

import ctypes
import enum
import importlib
import importlib.machinery
import json
import sys
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

GPU_NAME, CC, TRT_VERSION = "Fake GPU 9000", (8, 7), "10.9.0.34"
PACKAGE = "gldpose_sdk.backends.tensorrt"
_DEVICE_BASE = 0xD000_0000_0000  # above any x86-64/aarch64 user-space host address
ENGINE_MAGIC = b"FAKE-TRT-ENGINE\n"
CACHE_MAGIC = b"FAKE-TIMING-CACHE\n"
ONNX_MAGIC = b"\x08"  # a serialized ONNX ModelProto starts with field 1 (ir_version), varint


def fake_logits(x: np.ndarray, bins: int) -> np.ndarray:
    """What the fake engine computes: per-sample channel means, spread over bins."""
    means = x.astype(np.float32).mean(axis=(2, 3))  # [N, 3]
    return (means[:, :, None] * np.linspace(-1, 1, bins)[None, None, :] * 50).astype(np.float32)


class CudaError(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorInvalidValue = 1
    cudaErrorInsufficientDriver = 35
    cudaErrorNoDevice = 100


class MemcpyKind(enum.IntEnum):
    cudaMemcpyHostToHost = 0
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2


@dataclass
class CudaState:
    """What the fake CUDA driver and GPU are, and what happened to them."""

    gpu_name: str = GPU_NAME
    cc: tuple[int, int] = CC
    driver_version: int = 12060
    runtime_version: int = 12060
    devices: int = 1
    memory: dict[int, bytearray] = field(default_factory=dict)
    queues: dict[int, list[Callable[[], None]]] = field(default_factory=dict)
    next_address: int = _DEVICE_BASE
    calls: list[str] = field(default_factory=list)

    def buffer_at(self, address: int, nbytes: int) -> tuple[bytearray, int] | None:
        """The device allocation holding ``[address, address + nbytes)``, and the offset."""
        for base, buf in self.memory.items():
            if base <= address and address + nbytes <= base + len(buf):
                return buf, address - base
        return None


class FakeStream:
    def __init__(self, handle: int) -> None:
        self.handle = handle

    def __int__(self) -> int:
        return self.handle


def make_cudart(state: CudaState) -> types.ModuleType:
    """A ``cuda.bindings.runtime`` stand-in over ``state``."""
    rt = types.ModuleType("cuda.bindings.runtime")
    ok = CudaError.cudaSuccess

    def malloc(nbytes: int) -> tuple:
        address = state.next_address
        state.next_address += max(int(nbytes), 1) + 4096
        state.memory[address] = bytearray(int(nbytes))
        return ok, address

    def memcpy_async(dst: int, src: int, count: int, kind: Any, stream: Any) -> tuple:
        queue = state.queues.get(int(stream))
        if queue is None:
            return (CudaError.cudaErrorInvalidValue,)
        if kind == MemcpyKind.cudaMemcpyHostToDevice:
            target = state.buffer_at(int(dst), count)
            if target is None or state.buffer_at(int(src), 1) is not None:
                return (CudaError.cudaErrorInvalidValue,)  # dst must be device, src host
            buf, offset = target
            queue.append(lambda: buf.__setitem__(slice(offset, offset + count),
                                                 ctypes.string_at(int(src), count)))
        elif kind == MemcpyKind.cudaMemcpyDeviceToHost:
            source = state.buffer_at(int(src), count)
            if source is None or state.buffer_at(int(dst), 1) is not None:
                return (CudaError.cudaErrorInvalidValue,)  # src must be device, dst host
            buf, offset = source
            queue.append(lambda: ctypes.memmove(int(dst), bytes(buf[offset:offset + count]),
                                                count))
        else:
            return (CudaError.cudaErrorInvalidValue,)
        state.calls.append(f"memcpy {MemcpyKind(kind).name}")
        return (ok,)

    def synchronize(stream: Any) -> tuple:
        queue = state.queues[int(stream)]
        while queue:
            queue.pop(0)()
        state.calls.append("synchronize")
        return (ok,)

    def stream_create() -> tuple:
        handle = len(state.queues) + 1
        state.queues[handle] = []
        return ok, FakeStream(handle)

    def device_count() -> tuple:
        if state.driver_version < state.runtime_version // 1000 * 1000:
            return CudaError.cudaErrorInsufficientDriver, None
        return ok, state.devices

    props = types.SimpleNamespace(name=state.gpu_name.encode() + b"\0" * 8, major=state.cc[0],
                                  minor=state.cc[1])

    def device_properties(index: int) -> tuple:
        props.name = state.gpu_name.encode() + b"\0" * 8
        props.major, props.minor = state.cc
        return ok, props

    rt.cudaError_t = CudaError
    rt.cudaMemcpyKind = MemcpyKind
    rt.cudaGetErrorString = lambda err: (ok, f"fake CUDA error {int(err)}".encode())
    rt.cudaDriverGetVersion = lambda: (ok, state.driver_version)
    rt.cudaRuntimeGetVersion = lambda: (ok, state.runtime_version)
    rt.cudaGetDeviceCount = device_count
    rt.cudaGetDeviceProperties = device_properties
    rt.cudaSetDevice = lambda index: (ok,)
    rt.cudaStreamCreate = stream_create
    rt.cudaStreamSynchronize = synchronize
    rt.cudaStreamDestroy = lambda stream: (state.queues.pop(int(stream)), (ok,))[1]
    rt.cudaMalloc = malloc
    rt.cudaFree = lambda ptr: (state.memory.pop(int(ptr)), (ok,))[1]
    rt.cudaMemcpyAsync = memcpy_async
    return rt


# ----------------------------------------------------------------------------- TensorRT


class Severity(enum.IntEnum):
    INTERNAL_ERROR = 0
    ERROR = 1
    WARNING = 2
    INFO = 3
    VERBOSE = 4


class TensorIOMode(enum.Enum):
    INPUT = 1
    OUTPUT = 2


class DataType(enum.Enum):
    FLOAT = 0
    HALF = 1


@dataclass
class TrtState:
    """What the fake TensorRT does and what happened to it."""

    cuda: CudaState
    startup_error: bool = False
    crashed: bool = False
    builds: int = 0
    build_delay_s: float = 0.0
    logit_offset: Any = 0.0  # added to the logits: a wrong engine (parity must catch it)
    fail_build: bool = False  # build_serialized_network returns None
    configs: list[Any] = field(default_factory=list)
    deserialized: int = 0
    runtimes: int = 0  # trt.Runtime objects created in this process


def engine_header(data: bytes) -> dict | None:
    """The build facts a fake engine carries, or None for bytes that are not one."""
    if not data.startswith(ENGINE_MAGIC):
        return None
    return json.loads(data[len(ENGINE_MAGIC):])


def fake_engine_bytes(size: int, batch: tuple[int, int, int] = (1, 2, 4),
                      precision: str = "fp16", version: str = TRT_VERSION) -> bytes:
    """A serialized fake engine as the fake builder would write it."""
    header = {"trt": version, "size": size, "bins": 66, "precision": precision, "tf32": False,
              "profile": [[b, 3, size, size] for b in batch], "strongly_typed": False,
              "gpu": GPU_NAME}
    return ENGINE_MAGIC + json.dumps(header).encode()


class FakeEngine:
    def __init__(self, header: dict, state: TrtState) -> None:
        self.header, self.state, self.num_io_tensors = header, state, 2
        self.size, self.bins = header["size"], header["bins"]
        self.profile = header["profile"]  # [[min...], [opt...], [max...]]

    def get_tensor_name(self, i: int) -> str:
        return ("input", "logits")[i]

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        return TensorIOMode.INPUT if name == "input" else TensorIOMode.OUTPUT

    def get_tensor_dtype(self, name: str) -> DataType:
        return DataType.FLOAT

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return (-1, 3, self.size, self.size) if name == "input" else (-1, 3, self.bins)

    def get_tensor_profile_shape(self, name: str, profile: int) -> list[tuple[int, ...]]:
        assert name == "input" and profile == 0
        return [tuple(shape) for shape in self.profile]

    def create_execution_context(self) -> FakeContext:
        return FakeContext(self)


class FakeContext:
    def __init__(self, engine: FakeEngine) -> None:
        self.engine, self.addresses, self.shape = engine, {}, None

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        lo, hi = self.engine.profile[0][0], self.engine.profile[2][0]
        self.shape = tuple(shape)
        return lo <= shape[0] <= hi and tuple(shape[1:]) == tuple(self.engine.profile[0][1:])

    def set_tensor_address(self, name: str, address: int) -> bool:
        if not isinstance(address, int):
            raise TypeError("set_tensor_address takes an int address")
        self.addresses[name] = address
        return True

    def execute_async_v3(self, stream_handle: int) -> bool:
        cuda = self.engine.state.cuda
        queue = cuda.queues.get(int(stream_handle))
        n, size, bins = self.shape[0], self.engine.size, self.engine.bins
        x_bytes, y_bytes = n * 3 * size * size * 4, n * 3 * bins * 4
        x_buf = cuda.buffer_at(self.addresses["input"], x_bytes)
        y_buf = cuda.buffer_at(self.addresses["logits"], y_bytes)
        if queue is None or x_buf is None or y_buf is None:
            return False
        fp16 = self.engine.header["precision"] == "fp16"
        offset = self.engine.state.logit_offset

        def run() -> None:
            (xb, xo), (yb, yo) = x_buf, y_buf
            x = np.frombuffer(bytes(xb[xo:xo + x_bytes]), np.float32).reshape(n, 3, size, size)
            x = x.astype(np.float16).astype(np.float32) if fp16 else x
            y = fake_logits(x, bins) + offset
            yb[yo:yo + y_bytes] = y.astype(np.float32).tobytes()

        queue.append(run)
        cuda.calls.append("execute")
        return True


class FakeTimingCache:
    def __init__(self, entries: list[str]) -> None:
        self.entries = entries

    def serialize(self) -> bytes:
        return CACHE_MAGIC + json.dumps(self.entries).encode()


def make_tensorrt(state: TrtState, version: str = TRT_VERSION,
                  weak_fp16: bool = True) -> types.ModuleType:
    """A ``tensorrt`` stand-in (TensorRT 10 with ``weak_fp16``, else TensorRT 11)."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.TensorIOMode, trt.DataType = TensorIOMode, DataType
    trt.nptype = lambda dtype: {DataType.FLOAT: np.float32, DataType.HALF: np.float16}[dtype]

    class ILogger:
        def __init__(self) -> None:
            pass

        def log(self, severity: Severity, msg: str) -> None:
            pass

    ILogger.Severity = Severity

    class Logger(ILogger):
        WARNING = Severity.WARNING

        def __init__(self, min_severity: Severity = Severity.WARNING) -> None:
            super().__init__()

    class Runtime:
        def __init__(self, logger: ILogger) -> None:
            if not isinstance(logger, ILogger):
                raise TypeError("Runtime needs an ILogger")
            self.logger = logger
            state.runtimes += 1
            if state.startup_error:
                logger.log(Severity.ERROR, "createInferRuntime: Error Code 6: API Usage Error "
                           "(CUDA initialization failure with error: 35)")

        def deserialize_cuda_engine(self, data: bytes) -> FakeEngine | None:
            if state.startup_error:
                state.crashed = True
                raise RuntimeError("Segmentation fault (simulated): deserialised on a runtime "
                                   "whose CUDA start-up failed")
            state.deserialized += 1
            header = engine_header(bytes(data))
            if header is None or header["trt"] != trt.__version__:
                logger_error = "Serialization assertion failed: version tag does not match"
                self.logger.log(Severity.ERROR, logger_error)
                return None
            return FakeEngine(header, state)

    flags = {"FP16": 0, "TF32": 6} if weak_fp16 else {"TF32": 6}
    trt.BuilderFlag = enum.Enum("BuilderFlag", flags)
    trt.MemoryPoolType = enum.Enum("MemoryPoolType", {"WORKSPACE": 0})
    trt.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag",
                                                     {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1})
    trt.ILogger, trt.Logger, trt.Runtime = ILogger, Logger, Runtime
    _add_builder(trt, state)
    return trt


def _add_builder(trt: types.ModuleType, state: TrtState) -> None:
    class Input:
        name = "input"

    class Network:
        def __init__(self, flags: int) -> None:
            self.flags, self.num_inputs, self.onnx = flags, 0, b""

        def get_input(self, i: int) -> Input:
            if i >= self.num_inputs:
                raise IndexError("no input: parse the model first")
            return Input()

    class Parser:
        def __init__(self, network: Network, logger: Any) -> None:
            self.network, self.num_errors = network, 0

        def parse(self, model: bytes, path: str | None = None) -> bool:
            if not bytes(model).startswith(ONNX_MAGIC):
                self.num_errors = 1
                return False
            self.network.num_inputs, self.network.onnx = 1, bytes(model)
            return True

        def get_error(self, i: int) -> str:
            return "ModelImporter: Failed to parse ONNX model (not a ModelProto)"

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple] = {}

        def set_shape(self, name: str, lo: tuple, opt: tuple, hi: tuple) -> None:
            if not (lo[0] <= opt[0] <= hi[0]):
                raise RuntimeError("Shape provided for min is inconsistent with other shapes.")
            self.shapes[name] = (tuple(lo), tuple(opt), tuple(hi))

    class Config:
        def __init__(self) -> None:
            self.flags = {trt.BuilderFlag.TF32}  # TensorRT's default
            self.profiles: list[Profile] = []
            self.pool: dict = {}
            self.timing_cache: FakeTimingCache | None = None
            self.cache_calls: list[str] = []
            state.configs.append(self)

        def set_flag(self, flag: Any) -> None:
            self.flags.add(flag)

        def clear_flag(self, flag: Any) -> None:
            self.flags.discard(flag)

        def get_flag(self, flag: Any) -> bool:
            return flag in self.flags

        def set_memory_pool_limit(self, pool: Any, size: int) -> None:
            self.pool[pool] = size

        def add_optimization_profile(self, profile: Profile) -> int:
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def create_timing_cache(self, data: bytes) -> FakeTimingCache | None:
            self.cache_calls.append(f"create({len(data)} bytes)")
            if not data:
                return FakeTimingCache([])
            if not bytes(data).startswith(CACHE_MAGIC):
                return None  # TensorRT logs an error and returns nullptr
            return FakeTimingCache(json.loads(bytes(data)[len(CACHE_MAGIC):]))

        def set_timing_cache(self, cache: FakeTimingCache, ignore_mismatch: bool) -> bool:
            if not isinstance(cache, FakeTimingCache):  # pybind11: incompatible arguments
                raise TypeError("set_timing_cache(): incompatible function arguments")
            self.cache_calls.append("set")
            if any(e.split("@")[1] != state.cuda.gpu_name for e in cache.entries):
                return False  # recorded on another device
            self.timing_cache = cache
            return True

        def get_timing_cache(self) -> FakeTimingCache | None:
            self.cache_calls.append("get")
            return self.timing_cache

    class Builder:
        def __init__(self, logger: Any) -> None:
            self.logger = logger

        def create_network(self, flags: int = 0) -> Network:
            return Network(flags)

        def create_builder_config(self) -> Config:
            return Config()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: Config) -> bytes | None:
            if not config.profiles or "input" not in config.profiles[0].shapes:
                return None  # dynamic input without a profile: TensorRT refuses to build
            if state.fail_build:
                return None
            time.sleep(state.build_delay_s)
            state.builds += 1
            strong = bool(network.flags & (1 << int(trt.NetworkDefinitionCreationFlag
                                                     .STRONGLY_TYPED)))
            weak16 = "FP16" in trt.BuilderFlag.__members__ and trt.BuilderFlag.FP16 in config.flags
            precision = "fp16" if weak16 or (strong and b"fp16" in network.onnx) else "fp32"
            lo, opt, hi = config.profiles[0].shapes["input"]
            if config.timing_cache is not None:
                config.timing_cache.entries.append(f"conv@{state.cuda.gpu_name}")
            header = {"trt": trt.__version__, "size": lo[2], "bins": 66, "precision": precision,
                      "tf32": trt.BuilderFlag.TF32 in config.flags, "profile": [lo, opt, hi],
                      "strongly_typed": strong, "gpu": state.cuda.gpu_name}
            return ENGINE_MAGIC + json.dumps(header).encode()

    trt.Builder, trt.OnnxParser = Builder, Parser


@dataclass
class Fakes:
    """The installed fakes and the freshly imported package modules bound to them."""

    cuda: CudaState
    trt_state: TrtState
    trt: types.ModuleType
    cudart: types.ModuleType
    monkeypatch: pytest.MonkeyPatch

    def fail_startup(self) -> None:
        """TensorRT's CUDA start-up fails, in the start-up check's child and in this process."""
        self.trt_state.startup_error = True
        self.monkeypatch.setenv("GLDPOSE_FAKE_TRT_STARTUP_ERROR", "1")

    def module(self, name: str) -> types.ModuleType:
        """``gldpose_sdk.backends.tensorrt.<name>``, imported against the fakes."""
        return importlib.import_module(f"{PACKAGE}.{name}")


PROBE_MODULE = "gldpose_fake_tensorrt"
_PROBE_SOURCE = '''"""Stand-in for tensorrt in the start-up check's child process (tests only)."""
import os


class ILogger:
    class Severity:
        INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

    def __init__(self):
        pass


def Runtime(logger):
    if os.environ.get("GLDPOSE_FAKE_TRT_STARTUP_ERROR"):
        logger.log(ILogger.Severity.ERROR, "createInferRuntime: Error Code 6: API Usage Error "
                   "(CUDA initialization failure with error: 35)")
    return object()
'''
_probe_dir: list[Path] = []


def _probe_module_dir() -> Path:
    """A folder holding :data:`PROBE_MODULE` (made once per test process)."""
    if not _probe_dir:
        folder = Path(tempfile.mkdtemp(prefix="gldpose-fake-trt-"))
        (folder / f"{PROBE_MODULE}.py").write_text(_PROBE_SOURCE)
        _probe_dir.append(folder)
    return _probe_dir[0]


def _forget_package_modules() -> None:
    package = sys.modules.get(PACKAGE)
    for name in [m for m in sys.modules if m.startswith(PACKAGE + ".")]:
        del sys.modules[name]
        if package is not None:  # `from package import gpu` would return the stale attribute
            package.__dict__.pop(name.rsplit(".", 1)[1], None)


def install_fakes(monkeypatch: pytest.MonkeyPatch, version: str = TRT_VERSION,
                  weak_fp16: bool = True) -> Fakes:
    """Put the fakes into ``sys.modules`` (undone by ``monkeypatch``) and forget the package's
    modules so they are imported again against them; call :func:`forget_fakes` afterwards."""
    cuda = CudaState()
    trt_state = TrtState(cuda)
    trt = make_tensorrt(trt_state, version, weak_fp16)
    trt.__name__ = PROBE_MODULE  # what the start-up check's child process imports
    monkeypatch.syspath_prepend(str(_probe_module_dir()))
    monkeypatch.delenv("GLDPOSE_FAKE_TRT_STARTUP_ERROR", raising=False)
    rt = make_cudart(cuda)
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = rt
    cuda_pkg = types.ModuleType("cuda")
    cuda_pkg.bindings = bindings
    for name, module in (("tensorrt", trt), ("cuda", cuda_pkg), ("cuda.bindings", bindings),
                         ("cuda.bindings.runtime", rt)):
        module.__spec__ = importlib.machinery.ModuleSpec(name, None)  # "installed" to find_spec
        monkeypatch.setitem(sys.modules, name, module)
    _forget_package_modules()
    return Fakes(cuda, trt_state, trt, rt, monkeypatch)


def forget_fakes() -> None:
    """Drop the package modules bound to the fakes (later imports see the real packages)."""
    _forget_package_modules()


@pytest.fixture()
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    """TensorRT 10 and cuda-python fakes, installed for one test."""
    installed = install_fakes(monkeypatch)
    yield installed
    forget_fakes()


def write_fake_onnx(path: Path, size_px: int, bins: int = 66, name: str = "fake_pose") -> bytes:
    """Write a real ONNX graph computing :func:`fake_logits`, so ONNX Runtime agrees with the
    fake engine (``name`` is kept in the bytes: the fake builder reads "fp16" from it)."""
    pytest.importorskip("onnx", reason="onnx not installed")
    from onnx import TensorProto, helper

    scale = (np.linspace(-1, 1, bins) * 50).astype(np.float32).reshape(1, 1, bins)
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input"], ["mean"], axes=[2, 3], keepdims=0),
         helper.make_node("Unsqueeze", ["mean", "axis"], ["mean3"]),
         helper.make_node("Mul", ["mean3", "scale"], ["logits"])],
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, size_px, size_px])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3, bins])],
        [helper.make_tensor("axis", TensorProto.INT64, [1], [2]),
         helper.make_tensor("scale", TensorProto.FLOAT, [1, 1, bins], scale.ravel().tolist())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    data = model.SerializeToString()
    assert data.startswith(ONNX_MAGIC)
    path.write_bytes(data)
    return data


# ------------------------------------------------------------------ tests of the fakes


def test_fake_copies_honour_direction(fakes: Fakes) -> None:
    rt, host = fakes.cudart, np.arange(4, dtype=np.float32)
    _, stream = rt.cudaStreamCreate()
    _, device = rt.cudaMalloc(host.nbytes)
    h2d, d2h = MemcpyKind.cudaMemcpyHostToDevice, MemcpyKind.cudaMemcpyDeviceToHost
    assert rt.cudaMemcpyAsync(host.ctypes.data, device, host.nbytes, h2d, stream)[0] != 0
    assert rt.cudaMemcpyAsync(device, host.ctypes.data, host.nbytes, d2h, stream)[0] != 0
    assert rt.cudaMemcpyAsync(device, host.ctypes.data, host.nbytes, h2d, stream)[0] == 0
    back = np.zeros_like(host)
    assert rt.cudaMemcpyAsync(back.ctypes.data, device, back.nbytes, d2h, stream)[0] == 0
    rt.cudaStreamSynchronize(stream)
    np.testing.assert_array_equal(back, host)


def test_fake_copies_land_only_at_synchronize(fakes: Fakes) -> None:
    rt, host = fakes.cudart, np.full(4, 7.0, np.float32)
    _, stream = rt.cudaStreamCreate()
    _, device = rt.cudaMalloc(host.nbytes)
    rt.cudaMemcpyAsync(device, host.ctypes.data, host.nbytes,
                       MemcpyKind.cudaMemcpyHostToDevice, stream)
    assert bytes(fakes.cuda.memory[device]) == bytes(host.nbytes)  # still zeros
    back = np.zeros_like(host)
    rt.cudaMemcpyAsync(back.ctypes.data, device, back.nbytes,
                       MemcpyKind.cudaMemcpyDeviceToHost, stream)
    assert not back.any()
    rt.cudaStreamSynchronize(stream)
    np.testing.assert_array_equal(back, host)


def test_fake_timing_cache_is_as_strict_as_the_bindings(fakes: Fakes) -> None:
    config = fakes.trt.Builder(None).create_builder_config()
    assert config.get_flag(fakes.trt.BuilderFlag.TF32)  # on by default, as in TensorRT
    assert config.create_timing_cache(b"garbage") is None
    with pytest.raises(TypeError):
        config.set_timing_cache(None, False)
