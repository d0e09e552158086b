"""TensorRT backend glue (engine check, buffers, copies, execute) against fake runtimes.

TensorRT and a GPU are rarely on a test machine, so this drives ``trt_engine.py`` through
stand-ins for ``tensorrt`` and ``cuda.bindings.runtime`` that keep "device" memory in host
arrays. The fake engine computes logits from its input, so a wrong copy, shape or address
shows up as wrong numbers. The real runtime is covered by test_parity.py where installed.
"""
from __future__ import annotations

import ctypes
import enum
import importlib
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import gldpose_sdk.backends as backends
from gldpose_sdk import PoseEstimator
from gldpose_sdk.config import BackendOptions
from gldpose_sdk.errors import ManifestMismatchError
from gldpose_sdk.hardware import PlatformInfo
from gldpose_sdk.manifest import BuildTarget, RuntimeVersions, make_artefact, read_manifest, write_manifest

GPU_NAME, CC, TRT_VERSION, PROFILE_MAX = "Fake GPU 9000", (9, 0), "10.9.0.34", 4


def fake_logits(x: np.ndarray, bins: int) -> np.ndarray:
    """What the fake engine computes: per-sample channel means, spread over bins."""
    means = x.mean(axis=(2, 3))  # [N, 3]
    return (means[:, :, None] * np.linspace(-1, 1, bins)[None, None, :] * 50).astype(np.float32)


def _as_array(address: int, shape: tuple[int, ...]) -> np.ndarray:
    count = int(np.prod(shape))
    return np.ctypeslib.as_array((ctypes.c_float * count).from_address(address)).reshape(shape)


class FakeContext:
    def __init__(self, engine: "FakeEngine") -> None:
        self.engine, self.addresses, self.shape = engine, {}, None

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        self.shape = tuple(shape)
        return 1 <= shape[0] <= PROFILE_MAX

    def set_tensor_address(self, name: str, address: int) -> None:
        self.addresses[name] = int(address)

    def execute_async_v3(self, stream: int) -> bool:
        x = _as_array(self.addresses["input"], self.shape)
        n, bins = self.shape[0], self.engine.bins
        _as_array(self.addresses["logits"], (n, 3, bins))[:] = fake_logits(x, bins)
        return True


class FakeEngine:
    def __init__(self, size: int, bins: int) -> None:
        self.size, self.bins, self.num_io_tensors = size, bins, 2

    def get_tensor_name(self, i: int) -> str:
        return ("input", "logits")[i]

    def get_tensor_mode(self, name: str) -> object:
        return TensorIOMode.INPUT if name == "input" else TensorIOMode.OUTPUT

    def get_tensor_dtype(self, name: str) -> str:
        return "float"

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return (-1, 3, self.size, self.size) if name == "input" else (-1, 3, self.bins)

    def get_tensor_profile_shape(self, name: str, profile: int) -> list[tuple[int, ...]]:
        return [(b, 3, self.size, self.size) for b in (1, 2, PROFILE_MAX)]

    def create_execution_context(self) -> FakeContext:
        return FakeContext(self)


class TensorIOMode(enum.Enum):
    INPUT = 1
    OUTPUT = 2


def _fake_tensorrt(size: int, bins: int) -> types.ModuleType:
    trt = types.ModuleType("tensorrt")
    trt.__version__ = TRT_VERSION
    trt.TensorIOMode = TensorIOMode
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level=0: None})
    trt.nptype = lambda dtype: np.float32
    trt.Runtime = lambda logger: types.SimpleNamespace(
        deserialize_cuda_engine=lambda data: FakeEngine(size, bins) if data else None)
    return trt


def _fake_cudart() -> types.ModuleType:
    ok = types.SimpleNamespace(name="cudaSuccess")
    rt = types.ModuleType("cuda.bindings.runtime")
    rt.memory = {}  # type: ignore[attr-defined]

    def malloc(nbytes: int) -> tuple:
        buf = np.zeros(nbytes, np.uint8)
        rt.memory[buf.ctypes.data] = buf
        return ok, buf.ctypes.data

    def memcpy(dst: int, src: int, nbytes: int, kind: object, stream: object) -> tuple:
        ctypes.memmove(int(dst), int(src), nbytes)
        return (ok,)

    props = types.SimpleNamespace(name=GPU_NAME.encode() + b"\0" * 8, major=CC[0], minor=CC[1])
    rt.cudaError_t = types.SimpleNamespace(cudaSuccess=ok)
    rt.cudaMemcpyKind = types.SimpleNamespace(cudaMemcpyHostToDevice=1, cudaMemcpyDeviceToHost=2)
    rt.cudaGetErrorString = lambda err: (ok, b"fake error")
    rt.cudaGetDeviceCount = lambda: (ok, 1)
    rt.cudaGetDeviceProperties = lambda index: (ok, props)
    rt.cudaSetDevice = lambda index: (ok,)
    rt.cudaStreamCreate = lambda: (ok, 0)
    rt.cudaStreamSynchronize = lambda stream: (ok,)
    rt.cudaStreamDestroy = lambda stream: (ok,)
    rt.cudaMalloc = malloc
    rt.cudaFree = lambda ptr: (rt.memory.pop(int(ptr)), (ok,))[1]
    rt.cudaMemcpyAsync = memcpy
    return rt


@pytest.fixture()
def trt_engine(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path) -> types.ModuleType:
    """``gldpose_sdk.backends.tensorrt.runtime`` imported against the fake runtimes."""
    manifest = read_manifest(tiny_model_dir)
    rt = _fake_cudart()
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = rt  # type: ignore[attr-defined]
    cuda = types.ModuleType("cuda")
    cuda.bindings = bindings  # type: ignore[attr-defined]
    for name, module in (("tensorrt", _fake_tensorrt(manifest.input.size_px, manifest.bins.count)),
                         ("cuda", cuda), ("cuda.bindings", bindings),
                         ("cuda.bindings.runtime", rt)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, "gldpose_sdk.backends.tensorrt.runtime", raising=False)
    module = importlib.import_module("gldpose_sdk.backends.tensorrt.runtime")
    yield module
    sys.modules.pop("gldpose_sdk.backends.tensorrt.runtime", None)
    if getattr(backends, "trt_engine", None) is module:
        delattr(backends, "trt_engine")


def _engine_dir(src: Path, dst: Path, gpu_name: str = GPU_NAME) -> Path:
    shutil.copytree(src, dst)
    (dst / "model_fp16.engine").write_bytes(b"serialized engine")
    art = make_artefact(dst, "model_fp16.engine", "tensorrt", precision="fp16",
                        versions=RuntimeVersions(tensorrt=TRT_VERSION), target=BuildTarget(gpu_name, f"{CC[0]}.{CC[1]}"), batch_min_opt_max=(1, 2, 4))
    write_manifest(dst, read_manifest(dst).with_artefact(art))
    return dst


def test_infer_through_fake_engine(trt_engine: types.ModuleType, tiny_model_dir: Path,
                                   tmp_path: Path) -> None:
    model_dir = _engine_dir(tiny_model_dir, tmp_path / "m")
    manifest = read_manifest(model_dir)
    backend = trt_engine.TensorRTBackend.load(model_dir, manifest, BackendOptions())
    x = np.random.default_rng(0).standard_normal((7, 3, 64, 64)).astype(np.float32)
    out = backend.infer(x)  # 7 > profile max 4: split into 4 + 3
    np.testing.assert_allclose(out, fake_logits(x, manifest.bins.count), rtol=1e-5, atol=1e-5)
    info = backend.describe()
    assert (info.name, info.precision, info.max_batch) == ("tensorrt", "fp16", PROFILE_MAX)
    assert GPU_NAME in info.device and "sm 9.0" in info.device
    memory = sys.modules["cuda.bindings.runtime"].memory
    assert len(memory) == 2
    backend.close()
    backend.close()
    assert memory == {}


def test_engine_from_another_gpu_is_refused(trt_engine: types.ModuleType, tiny_model_dir: Path,
                                            tmp_path: Path) -> None:
    model_dir = _engine_dir(tiny_model_dir, tmp_path / "m", gpu_name="NVIDIA A100-SXM4-80GB")
    with pytest.raises(ManifestMismatchError) as info:
        trt_engine.TensorRTBackend.load(model_dir, read_manifest(model_dir), BackendOptions())
    assert "NVIDIA A100-SXM4-80GB" in str(info.value) and GPU_NAME in str(info.value)


def test_auto_on_gpu_platform_picks_tensorrt(trt_engine: types.ModuleType, tiny_model_dir: Path,
                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             crops: list[np.ndarray]) -> None:
    model_dir = _engine_dir(tiny_model_dir, tmp_path / "m")
    monkeypatch.setattr(backends, "is_installed", lambda module: True)
    with PoseEstimator(model_dir, detector="none", platform=PlatformInfo("nvidia_gpu")) as est:
        info = est.describe()
        poses = est.estimate_crops(crops)
    assert info.backend.name == "tensorrt"
    assert all("lists no" in reason for _, _, reason in info.skipped)  # only missing artefacts
    assert len(poses) == len(crops)
