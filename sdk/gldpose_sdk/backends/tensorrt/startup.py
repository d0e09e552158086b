"""Can TensorRT start here? Asked in a child process before this process creates a Runtime.

A TensorRT whose CUDA start-up fails does not raise: ``trt.Runtime()`` logs "CUDA
initialization failure with error: 35" (a driver older than TensorRT's CUDA, or none) and
returns an object that crashes the process when an engine is deserialised on it, and even when
it is freed (both seen with the TensorRT 10.16 lean runtime on a machine without a driver). So
the first start-up is tried in a child Python process (once per process, about the cost of
importing tensorrt): if the child's Runtime logs an error or the child dies, the backend is
unavailable and this process never creates a Runtime. The driver check of
:func:`gldpose_sdk.backends.tensorrt.gpu.check_driver` comes first and names the usual cause.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Any

import tensorrt as trt

from gldpose_sdk.errors import BackendUnavailableError

_LOG = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 180.0
_ERRORS = (trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR)
# The child imports the same module this process imported as tensorrt, sees the same sys.path,
# reports TensorRT's errors, and leaves with os._exit: freeing a failed Runtime crashes.
_PROBE = """
import os
import {module} as trt
class Log(trt.ILogger):
    def __init__(self):
        trt.ILogger.__init__(self)
    def log(self, severity, msg):
        if severity in (trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR):
            print("ERROR " + " ".join(str(msg).split()), flush=True)
log = Log()
runtime = trt.Runtime(log)
print("STARTED", flush=True)
os._exit(0)
"""
_probed: dict[str, str] = {}


class TensorRTLog(trt.ILogger):
    """TensorRT's log into Python logging; remembers errors. Must outlive what it was given to."""

    def __init__(self) -> None:
        trt.ILogger.__init__(self)
        self.errors: list[str] = []

    def log(self, severity: Any, msg: str) -> None:
        """Called by TensorRT for each message."""
        if severity in _ERRORS:
            self.errors.append(msg)
            _LOG.error("TensorRT: %s", msg)
        elif severity == trt.ILogger.Severity.WARNING:
            _LOG.warning("TensorRT: %s", msg)
        else:
            _LOG.debug("TensorRT: %s", msg)


def probe_startup() -> None:
    """Check, in a child process, that TensorRT's runtime starts (result kept per process).

    Raises:
        BackendUnavailableError: the child's ``trt.Runtime()`` logged an error, or the child
            failed (its exit status and last words are in the message).
    """
    module = trt.__name__
    if module not in _probed:
        _probed[module] = _run_probe(module)
    problem = _probed[module]
    if problem:
        raise BackendUnavailableError(
            f"TensorRT {trt.__version__} cannot start here: {problem}. Check that the NVIDIA "
            "driver supports the CUDA version this TensorRT was built for (nvidia-smi shows it)",
            reason=f"TensorRT could not start: {problem[:160]}")


def _run_probe(module: str) -> str:
    """"" when a child process started TensorRT cleanly, else what went wrong."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE.format(module=module)], env=env,
                              capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"the start-up check could not run ({exc})"
    errors = [line[6:] for line in done.stdout.splitlines() if line.startswith("ERROR ")]
    if errors:
        return errors[0]
    if done.returncode != 0 or "STARTED" not in done.stdout:
        tail = " ".join(done.stderr.split()[-30:])
        return f"the start-up check exited with status {done.returncode} ({tail})"
    _LOG.debug("gldpose tensorrt: TensorRT %s starts here", trt.__version__)
    return ""


def start_runtime() -> tuple[Any, TensorRTLog]:
    """A ``trt.Runtime`` on the current CUDA device, with its log (after :func:`probe_startup`).

    Raises:
        BackendUnavailableError: the probe failed, or this process's Runtime logged an error
            anyway (that Runtime is then kept, never freed: freeing it would crash).
    """
    probe_startup()
    log = TensorRTLog()
    runtime = trt.Runtime(log)
    if log.errors or runtime is None:
        _NEVER_FREED.append((runtime, log))
        first = log.errors[0] if log.errors else "trt.Runtime() returned None"
        raise BackendUnavailableError(f"TensorRT {trt.__version__} could not start: {first}",
                                      reason=f"TensorRT could not start: {first[:160]}")
    return runtime, log


_NEVER_FREED: list[tuple[Any, TensorRTLog]] = []
