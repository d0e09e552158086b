"""Measuring backends for ``backend="auto"``, and remembering the result per machine.

Which runtime is fastest depends on the CPU (bf16/AMX favour OpenVINO, plain AVX2 often ONNX
Runtime), so ``"auto"`` times each candidate that loaded at batch 1 (blocks of runs in turn,
the minimum of each block's settled runs, from a uint8 crop) and keeps the fastest. The result is
cached in a JSON file in the user cache folder (``$GLDPOSE_CACHE_DIR``, else
``$XDG_CACHE_HOME/gldpose``, else ``~/.cache/gldpose``), keyed by the measurement method, the
machine (CPU model and count), the model's manifest and the runtime versions, so later processes
load only the winner.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform as pyplatform
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gldpose_sdk.manifest import InputSpec, Manifest
from gldpose_sdk.preprocess import to_network_input

if TYPE_CHECKING:
    from gldpose_sdk.backends.base import Backend

_LOG = logging.getLogger(__name__)
CACHE_FILE = "backend_timings.json"
_DISTRIBUTIONS = {"onnxruntime": ("onnxruntime", "onnxruntime-gpu"), "openvino": ("openvino",),
                  "pytorch": ("torch",), "tensorrt": ("tensorrt", "tensorrt-lean")}
_MAX_ENTRIES = 64
#: How :func:`time_backends` measures, part of the cache key: a change of method re-measures
#: instead of reusing choices made the old way (v1 timed each backend after the other, median;
#: v2 call by call in turn, minima, which the other runtime's spinning threads skewed; v3 did not
#: try one thread against the runtime's default).
MEASUREMENT = "v4: minima of settled blocks in turn, from a uint8 crop; threads tried"


def time_backends(backends: list[Backend], spec: InputSpec, warmup: int = 3, rounds: int = 3,
                  block: int = 16, settle: int = 6) -> list[float]:
    """Milliseconds of one batch-1 face through each backend, from a uint8 BGR crop.

    What ``estimate`` pays per face after the crop: the layout step
    (:func:`~gldpose_sdk.preprocess.to_network_input`, free for a uint8 artefact, a
    normalisation for a float one) and the inference. Each backend runs in blocks of ``block``
    consecutive calls, of which only the last ``block - settle`` are timed, and the blocks
    take turns over ``rounds`` rounds; each backend keeps its minimum.

    Why blocks: only the winner stays loaded, so each candidate must be timed as it will run,
    alone. Right after another runtime's call that runtime's worker threads are still spinning
    on the same cores: timed call by call in turn (v2), OpenVINO measured 1.5 ms and ONNX Runtime
    1.3 ms on a 2-core CPU where each alone takes 0.62 and 0.84 ms, so ``auto`` kept the slower
    one. The first calls of a block absorb that, and taking turns by block still lets a burst
    of other work on a shared machine hit every candidate alike, so it cannot crown the slower.
    """
    if not 0 <= settle < block or rounds < 1:
        raise ValueError(f"need rounds >= 1 and 0 <= settle < block, got {rounds}, {settle}, "
                         f"{block}")
    crop = np.full((1, spec.size_px, spec.size_px, 3), 128, np.uint8)

    def once(backend: Backend) -> float:
        start = time.perf_counter()
        backend.infer(to_network_input(crop, backend.input_layout, spec))
        return (time.perf_counter() - start) * 1e3

    for backend in backends:
        for _ in range(warmup):
            once(backend)
    best = [float("inf")] * len(backends)
    for _ in range(rounds):
        for i, backend in enumerate(backends):
            times = [once(backend) for _ in range(block)]
            best[i] = min(best[i], *times[settle:])
    return best


def default_cache_dir() -> Path:
    """Where measurements are kept (see the module docstring)."""
    if os.environ.get("GLDPOSE_CACHE_DIR"):
        return Path(os.environ["GLDPOSE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gldpose"


def machine_id() -> str:
    """CPU model, logical CPU count and architecture: what decides which runtime is fastest."""
    model = pyplatform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model} x{os.cpu_count()} {pyplatform.machine()}"


def _version(backend: str) -> str:
    for dist in _DISTRIBUTIONS.get(backend, (backend,)):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "?"


@dataclass(frozen=True)
class CachedChoice:
    """A remembered comparison: the winner, every candidate's time, and the winner's threads.

    ``num_threads``: the CPU threads the winner runs with (0: the runtime's default);
    ``thread_timings_ms``: ``(threads, ms)`` of the winner as timed for that choice.
    """

    winner: tuple[str, str]
    timings_ms: tuple[tuple[str, str, float], ...]
    num_threads: int = 0
    thread_timings_ms: tuple[tuple[int, float], ...] = ()


class TimingCache:
    """Backend timings on disk, keyed by machine, model and runtime versions."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.path = Path(folder) if folder is not None else default_cache_dir()
        self.path = self.path / CACHE_FILE

    def _key(self, model_dir: Path, manifest: Manifest,
             candidates: list[tuple[str, str]]) -> str:
        parts = [MEASUREMENT, machine_id(), str(Path(model_dir).resolve()),
                 hashlib.sha256(manifest.to_json().encode()).hexdigest(),
                 *(f"{n}@{d}={_version(n)}" for n, d in sorted(candidates))]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def lookup(self, model_dir: Path, manifest: Manifest,
               candidates: list[tuple[str, str]]) -> CachedChoice | None:
        """The remembered choice among exactly these candidates, or None."""
        entry = self._read().get(self._key(model_dir, manifest, candidates))
        try:
            timings = tuple((str(n), str(d), float(ms)) for n, d, ms in entry["timings_ms"])
            winner = min(timings, key=lambda t: t[2])
            threads = int(entry.get("num_threads", 0))
            thread_timings = tuple((int(n), float(ms))
                                   for n, ms in entry.get("thread_timings_ms", ()))
        except (TypeError, KeyError, ValueError, AttributeError):
            return None
        if {(n, d) for n, d, _ in timings} != set(candidates) or threads < 0:
            return None
        return CachedChoice((winner[0], winner[1]), timings, threads, thread_timings)

    def store(self, model_dir: Path, manifest: Manifest,
              timings: list[tuple[str, str, float]], num_threads: int = 0,
              thread_timings: list[tuple[int, float]] | tuple = ()) -> None:
        """Remember ``timings`` (and the winner's threads); a cache that cannot be written is
        only logged."""
        data = self._read()
        data[self._key(model_dir, manifest, [(n, d) for n, d, _ in timings])] = {
            "timings_ms": [list(t) for t in timings], "num_threads": num_threads,
            "thread_timings_ms": [list(t) for t in thread_timings], "machine": machine_id(),
            "model": str(model_dir), "stored": time.time()}
        if len(data) > _MAX_ENTRIES:  # keep the newest
            data = dict(sorted(data.items(), key=lambda kv: -kv[1].get("stored", 0))
                        [:_MAX_ENTRIES])
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
            tmp.replace(self.path)
        except OSError as exc:
            _LOG.info("cannot write the backend timing cache %s: %s", self.path, exc)
