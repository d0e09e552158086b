"""Each backend works in a child made with ``fork()`` (Linux's default start method).

The estimator is created and used in the parent (so that the runtime's thread pools exist),
then used again in a forked child, whose poses must equal the parent's. The child runs under a
timeout and is killed when it hangs, so a hang fails its test, not the whole run. A backend that
cannot work after fork must refuse with an error naming the 'spawn' start method instead.
"""
from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gldpose_sdk import PoseEstimator
from gldpose_sdk.backends import BACKENDS, missing_packages

CHILD_TIMEOUT_S = 60.0

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="fork() start method: Linux")


def _angles(est: PoseEstimator, crops: list[np.ndarray]) -> np.ndarray:
    return np.array([[*p.angles_deg, *p.std_deg] for p in est.estimate_crops(crops)])


def _child(est: PoseEstimator, crops: list[np.ndarray], conn: Any) -> None:
    try:
        conn.send(("ok", _angles(est, crops)))
    except Exception as exc:  # noqa: BLE001  (reported to the parent, which asserts on it)
        conn.send(("raised", type(exc).__name__, str(exc)))
    finally:
        conn.close()


def run_in_forked_child(est: PoseEstimator, crops: list[np.ndarray],
                        timeout_s: float = CHILD_TIMEOUT_S) -> tuple:
    """What :func:`_child` reports from a forked child; fails the test if it hangs or dies."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(est, crops, send), daemon=True)
    proc.start()
    send.close()
    try:
        if not receive.poll(timeout_s):
            pytest.fail(f"{est.describe().backend.name} hung in a forked child "
                        f"(killed after {timeout_s:g} s)")
        try:
            return receive.recv()
        except EOFError:
            pytest.fail(f"the forked child died without an answer (exit code {proc.exitcode})")
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(10)


@pytest.mark.parametrize("backend", BACKENDS.names())
def test_estimator_created_in_parent_works_in_forked_child(
        backend: str, exported_model_dir: Path, crops: list[np.ndarray]) -> None:
    missing = missing_packages(backend)
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")
    with PoseEstimator(exported_model_dir, backend=backend, device="cpu",
                       detector="none") as est:
        parent = _angles(est, crops)  # the runtime's threads now exist in the parent
        report = run_in_forked_child(est, crops)
        again = _angles(est, crops)   # the parent is unaffected by the child
    if report[0] == "raised":  # the documented alternative to working: a clear refusal
        assert "spawn" in report[2], f"{backend} failed after fork without naming 'spawn': " \
                                     f"{report[1]}: {report[2]}"
        pytest.fail(f"{backend} refuses to run after fork: {report[2]}")
    np.testing.assert_allclose(report[1], parent, atol=1e-3)
    np.testing.assert_array_equal(again, parent)
