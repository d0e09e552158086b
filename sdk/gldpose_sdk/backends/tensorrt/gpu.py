"""The CUDA side of TensorRT, through cuda-python: driver check, GPU identity, buffers, copies.

Every call goes through :func:`cuda_call`, which unpacks cuda-python's ``(error, value...)``
tuples. :func:`read_gpu` is the one place that reads a GPU's name and compute capability for
engines (``hardware.py`` only classifies the platform and never imports CUDA bindings).

:func:`check_driver` exists because a CUDA driver older than the CUDA a TensorRT wheel was
built for does not fail cleanly: ``trt.Runtime()`` logs "CUDA initialization failure with error:
35" and still returns an object, and deserialising an engine on it segfaults. The driver is
compared first with the CUDA that the installed TensorRT wheel (``tensorrt-cuNN`` on PyPI) and
cuda-python were built for; the runtime's start-up log is checked as well (``runtime.py``).
"""
from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
from cuda.bindings import runtime as cudart

from gldpose_sdk.errors import BackendRuntimeError, BackendUnavailableError

_LOG = logging.getLogger(__name__)
# pip distributions of TensorRT name the CUDA major they were built for (tensorrt-cu12-libs...).
_TRT_DISTRIBUTIONS = ("tensorrt-cu{}-libs", "tensorrt-lean-cu{}-libs", "tensorrt-cu{}")
_CUDA_MAJORS = range(11, 16)


@dataclass(frozen=True)
class GpuInfo:
    """A CUDA device as TensorRT sees it.

    Attributes:
        index: CUDA device index.
        name: device name (``cudaDeviceProp.name``).
        compute_capability: ``"major.minor"``.
    """

    index: int
    name: str
    compute_capability: str


def cuda_call(result: Any, what: str) -> Any:
    """Unpack a cuda-python ``(error, value...)`` tuple, raising on error.

    Raises:
        BackendRuntimeError: the call failed (CUDA's own message included).
    """
    err, *values = result if isinstance(result, tuple) else (result,)
    if err != cudart.cudaError_t.cudaSuccess:
        raise BackendRuntimeError(f"CUDA {what} failed: {_error_text(err)}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def _error_text(err: Any) -> str:
    message = cudart.cudaGetErrorString(err)[1]
    return message.decode() if isinstance(message, bytes) else str(err)


def _version_text(version: int) -> str:
    return f"{version // 1000}.{version % 1000 // 10}"


def required_cuda() -> tuple[int, str]:
    """The CUDA version (``1000*major + 10*minor``) this process needs the driver to support.

    The larger of cuda-python's own runtime version and the CUDA major of the installed
    TensorRT pip wheel (JetPack's system TensorRT has no pip metadata: cuda-python decides).

    Returns:
        ``(version, what needs it)``.
    """
    runtime = int(cuda_call(cudart.cudaRuntimeGetVersion(), "cudaRuntimeGetVersion"))
    needs = [(runtime, f"cuda-python (CUDA {_version_text(runtime)})")]
    for major in _CUDA_MAJORS:
        for pattern in _TRT_DISTRIBUTIONS:
            try:
                version = metadata.version(pattern.format(major))
            except metadata.PackageNotFoundError:
                continue
            what = f"the {pattern.format(major)} {version} wheel (CUDA {major})"
            needs.append((major * 1000, what))
    return max(needs)


def check_driver() -> int:
    """Check that the CUDA driver can run what this process loads (before any TensorRT call).

    Returns:
        The driver's CUDA version (``1000*major + 10*minor``).

    Raises:
        BackendUnavailableError: no NVIDIA driver, or one older (by CUDA major version) than
            the TensorRT wheel or cuda-python needs; the message says which.
    """
    err, driver = cudart.cudaDriverGetVersion()
    if err != cudart.cudaError_t.cudaSuccess or not driver:
        raise BackendUnavailableError(
            "no NVIDIA CUDA driver is loaded (cudaDriverGetVersion reports "
            f"{_error_text(err) if err != cudart.cudaError_t.cudaSuccess else 0}); TensorRT "
            "needs an NVIDIA GPU with its driver installed", reason="no CUDA driver")
    needed, what = required_cuda()
    if driver // 1000 < needed // 1000:
        raise BackendUnavailableError(
            f"the CUDA driver supports CUDA {_version_text(driver)}, but {what} needs CUDA "
            f"{needed // 1000}.x; TensorRT would fail to start (and crash on the engine). "
            "Update the NVIDIA driver, or install the TensorRT and cuda-python builds for "
            f"CUDA {driver // 1000} (e.g. tensorrt-cu{driver // 1000}, "
            f"cuda-python=={driver // 1000}.*)",
            reason=f"CUDA driver {_version_text(driver)} older than {what}")
    if driver < needed:
        _LOG.warning("gldpose tensorrt: the CUDA driver supports CUDA %s, %s is newer: running "
                     "on CUDA minor-version compatibility", _version_text(driver), what)
    return int(driver)


@functools.cache
def read_gpu(index: int) -> GpuInfo:
    """Name and compute capability of CUDA device ``index`` (read once per process).

    Raises:
        BackendUnavailableError: no such device (or CUDA cannot start).
    """
    err, count = cudart.cudaGetDeviceCount()
    if err != cudart.cudaError_t.cudaSuccess or count <= index:
        found = _error_text(err) if err != cudart.cudaError_t.cudaSuccess else f"{count} device(s)"
        raise BackendUnavailableError(f"no CUDA device {index} (cudaGetDeviceCount: {found})",
                                      reason=f"no CUDA device {index}")
    props = cuda_call(cudart.cudaGetDeviceProperties(index), "cudaGetDeviceProperties")
    raw = props.name if isinstance(props.name, bytes) else bytes(props.name)
    name = raw.split(b"\0", 1)[0].decode(errors="replace").strip()
    return GpuInfo(index, re.sub(r"\s+", " ", name), f"{props.major}.{props.minor}")


def set_device(index: int) -> None:
    """Make device ``index`` current for the calling thread."""
    cuda_call(cudart.cudaSetDevice(index), "cudaSetDevice")


def malloc(nbytes: int) -> int:
    """Device allocation of ``nbytes``; returns its address."""
    return int(cuda_call(cudart.cudaMalloc(nbytes), "cudaMalloc"))


def free(address: int) -> None:
    """Release a :func:`malloc` allocation (errors ignored: used on close)."""
    cudart.cudaFree(address)


def create_stream() -> Any:
    """A new CUDA stream."""
    return cuda_call(cudart.cudaStreamCreate(), "cudaStreamCreate")


def destroy_stream(stream: Any) -> None:
    """Destroy a stream from :func:`create_stream` (errors ignored: used on close)."""
    cudart.cudaStreamDestroy(stream)


def copy_to_device(address: int, host: np.ndarray, stream: Any) -> None:
    """Enqueue a host-to-device copy of the C-contiguous ``host`` array to ``address``."""
    cuda_call(cudart.cudaMemcpyAsync(address, host.ctypes.data, host.nbytes,
                                     cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream),
              "copy to device")


def copy_to_host(host: np.ndarray, address: int, stream: Any) -> None:
    """Enqueue a device-to-host copy from ``address`` into the C-contiguous ``host`` array."""
    cuda_call(cudart.cudaMemcpyAsync(host.ctypes.data, address, host.nbytes,
                                     cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream),
              "copy to host")


def synchronize(stream: Any) -> None:
    """Wait until everything enqueued on ``stream`` has finished."""
    cuda_call(cudart.cudaStreamSynchronize(stream), "stream synchronize")
