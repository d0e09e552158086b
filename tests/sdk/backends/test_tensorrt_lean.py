"""The runtime half against real bindings: TensorRT's lean runtime wheel and cuda-python.

The lean runtime (``pip install tensorrt-lean-cu12``, about 43 MiB) imports without a GPU, so on
a machine with no NVIDIA driver it shows what TensorRT really does there: ``trt.Runtime()``
logs "CUDA initialization failure with error: 35" and still returns an object, which crashes
the process when it is freed (segfault, seen with 10.16.1). These tests run the backend's
start-up checks against that.
They are optional: neither package is part of any install extra or of CI.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

LEAN = next((m for m in ("tensorrt_lean", "tensorrt_lean_bindings")
             if importlib.util.find_spec(m) is not None), None)
if LEAN is None:
    pytest.skip("tensorrt_lean not installed (pip install tensorrt-lean-cu12: an optional "
                "check of the runtime half against real bindings)", allow_module_level=True)
pytest.importorskip("cuda.bindings", reason="cuda-python not installed")
if Path("/proc/driver/nvidia").exists():
    pytest.skip("an NVIDIA driver is loaded here; these tests need a machine without one",
                allow_module_level=True)

from gldpose_sdk.errors import BackendUnavailableError

PACKAGE = "gldpose_sdk.backends.tensorrt"


@pytest.fixture()
def runtime(monkeypatch: pytest.MonkeyPatch):
    """``runtime.py`` imported with the lean runtime standing in for ``tensorrt``."""
    monkeypatch.setitem(sys.modules, "tensorrt", importlib.import_module(LEAN))
    for name in [m for m in sys.modules if m.startswith(PACKAGE + ".")]:
        monkeypatch.delitem(sys.modules, name)
        monkeypatch.delattr(sys.modules[PACKAGE], name.rsplit(".", 1)[1], raising=False)
    module = importlib.import_module(f"{PACKAGE}.runtime")
    yield module
    for name in [m for m in sys.modules if m.startswith(PACKAGE + ".")]:
        sys.modules.pop(name)
        sys.modules[PACKAGE].__dict__.pop(name.rsplit(".", 1)[1], None)


def test_names_the_runtime_uses_exist(runtime) -> None:
    trt = sys.modules["tensorrt"]
    for name in ("Runtime", "ILogger", "TensorIOMode", "nptype", "DataType"):
        assert hasattr(trt, name), name
    for name in ("INTERNAL_ERROR", "ERROR", "WARNING"):
        assert hasattr(trt.ILogger.Severity, name), name
    for name in ("num_io_tensors", "get_tensor_name", "get_tensor_mode", "get_tensor_dtype",
                 "get_tensor_shape", "get_tensor_profile_shape", "create_execution_context"):
        assert hasattr(trt.ICudaEngine, name), name
    for name in ("set_input_shape", "set_tensor_address", "execute_async_v3"):
        assert hasattr(trt.IExecutionContext, name), name
    assert hasattr(trt.Runtime, "deserialize_cuda_engine")


def test_real_runtime_start_up_failure_is_caught(runtime) -> None:
    """Fault (b) with real TensorRT: the start-up error is seen in a child process, and this
    process never creates the Runtime that would crash it when freed."""
    startup = sys.modules[f"{PACKAGE}.startup"]
    with pytest.raises(BackendUnavailableError, match="CUDA initialization failure") as info:
        startup.start_runtime()
    assert info.value.reason.startswith("TensorRT could not start")
    assert startup._NEVER_FREED == []


def test_real_cuda_python_reports_no_driver(runtime) -> None:
    with pytest.raises(BackendUnavailableError, match="no NVIDIA CUDA driver") as info:
        runtime.gpu.check_driver()
    assert info.value.reason == "no CUDA driver"
