"""Several threads on one backend (and one estimator) get exactly their serial results.

Each thread has its own crops and its own batch size, so results that leak between threads or a
shared runtime request used by two threads at once (OpenVINO keeps one infer request behind the
base class's lock) show as a wrong row, a wrong shape or a runtime error. The test model gives
different angles for different crops (checked), so mixed-up outputs cannot pass unnoticed.
Parametrised over the registry's names; a backend whose package is missing is skipped.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from gldpose_sdk.backends import BACKENDS, load_backend_class, missing_packages
from gldpose_sdk.config import BackendOptions
from gldpose_sdk.decode import decode_logits
from gldpose_sdk.manifest import read_manifest
from gldpose_sdk.preprocess import to_network_input

THREADS = 4
ROUNDS = 4
MIN_SPREAD_DEG = 20.0


def _crops_per_thread(make_face) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    """Thread i gets i + 1 distinct 64 px BGR crops."""
    rng = np.random.default_rng(11)
    return [np.stack([make_face(rng, 64, 64) for _ in range(i + 1)]) for i in range(THREADS)]


def _run_together(work: Callable[[int], np.ndarray], rounds: int = ROUNDS
                  ) -> list[list[np.ndarray]]:
    """``work(i)`` ``rounds`` times in each of THREADS threads started at once; raise any error."""
    results: list[list[np.ndarray]] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def loop(i: int) -> None:
        try:
            start.wait()
            for _ in range(rounds):
                results[i].append(work(i))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


def _skip_if_missing(name: str) -> None:
    missing = missing_packages(name)
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_backend_infer_from_threads_equals_serial(name: str, exported_model_dir: Path,
                                                  make_face) -> None:  # type: ignore[no-untyped-def]
    _skip_if_missing(name)
    manifest = read_manifest(exported_model_dir)
    if not manifest.has(BACKENDS[name].artefact):
        pytest.skip(f"no {BACKENDS[name].artefact} artefact in the test model")
    options = BackendOptions(device="cpu", openvino_precision="f32")
    backend = load_backend_class(name).load(exported_model_dir, manifest, options)
    with backend:
        inputs = [to_network_input(c, backend.input_layout, manifest.input)
                  for c in _crops_per_thread(make_face)]
        serial = [backend.infer(x) for x in inputs]
        results = _run_together(lambda i: backend.infer(inputs[i]))
    angles = decode_logits(np.concatenate(serial), manifest.bins.centres_deg())[0]
    assert np.all(np.ptp(angles, axis=0) > MIN_SPREAD_DEG), np.ptp(angles, axis=0)
    for i, runs in enumerate(results):
        for got in runs:
            assert got.shape == serial[i].shape
            np.testing.assert_allclose(got, serial[i], rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_estimator_from_threads_equals_serial(name: str, exported_model_dir: Path,
                                              make_face) -> None:  # type: ignore[no-untyped-def]
    from gldpose_sdk import PoseEstimator

    _skip_if_missing(name)
    if not read_manifest(exported_model_dir).has(BACKENDS[name].artefact):
        pytest.skip(f"no {BACKENDS[name].artefact} artefact in the test model")
    crops = _crops_per_thread(make_face)
    with PoseEstimator(exported_model_dir, backend=name, device="cpu", detector="none") as est:
        serial = [np.array([p.angles_deg for p in est.estimate_crops(c)]) for c in crops]
        results = _run_together(
            lambda i: np.array([p.angles_deg for p in est.estimate_crops(crops[i])]), rounds=2)
    for i, runs in enumerate(results):
        for got in runs:
            np.testing.assert_allclose(got, serial[i], rtol=0, atol=1e-3)
