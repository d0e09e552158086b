"""Backend choice (DESIGN 7): an explicit name, or ``"auto"``: the fastest that runs here.

The preference lists are data (:data:`PREFERENCES`): platform -> ``(backend, device)`` pairs.
``"auto"`` steps over a candidate only when its runtime package or its device is missing
(:class:`~gldpose_sdk.errors.BackendUnavailableError`), logging each step down at WARNING once.
A tampered, mismatched or unreadable artefact is an error under ``"auto"`` too: it is raised,
never a reason to fall back. Among the candidates that load on the preferred device, ``"auto"``
measures each briefly at batch 1 (:mod:`gldpose_sdk.backend_timing`) and keeps the fastest; then,
unless ``BackendOptions.num_threads`` names a count, it times the winner with one CPU thread
against the runtime's default and keeps one thread when that is clearly faster (small networks
at batch 1 on few cores: ``docs/results/latency.md``, round 6). The measurement is cached per
machine, model and runtime versions. An explicit name never falls back and is never measured.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from gldpose_sdk.backend_timing import TimingCache, time_backends
from gldpose_sdk.backends import BACKENDS, load_backend_class, missing_packages
from gldpose_sdk.backends.base import Backend
from gldpose_sdk.config import BackendOptions, parse_device
from gldpose_sdk.errors import BackendRuntimeError, BackendUnavailableError, GldposeError
from gldpose_sdk.hardware import PlatformInfo
from gldpose_sdk.manifest import Manifest

_LOG = logging.getLogger(__name__)

_CPU_ORDER = (("openvino", "cpu"), ("onnxruntime", "cpu"), ("pytorch", "cpu"))
PREFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "cpu": _CPU_ORDER,
    "jetson": (("tensorrt", "cuda"), ("onnxruntime", "cuda"), ("pytorch", "cuda")) + _CPU_ORDER,
    "nvidia_gpu": (("tensorrt", "cuda"), ("onnxruntime", "cuda"), ("pytorch", "cuda"))
    + _CPU_ORDER,
}
#: Backends ``"auto"`` uses only when nothing else loads: PyTorch eager is never the fastest
#: runtime for an exported model, and importing torch costs seconds and hundreds of MB.
LAST_RESORT = frozenset({"pytorch"})
#: ``"auto"`` keeps one CPU thread instead of the runtime's default only when that is at least
#: this share faster at batch 1: a tie keeps the default, which serves larger batches better
#: (one thread costs the default model 1.7x per face at batch 32 on a 2-core CPU).
ONE_THREAD_GAIN = 0.05


@dataclass(frozen=True)
class Selection:
    """How the backend was chosen.

    Attributes:
        requested: ``"auto"`` or the explicit backend name.
        platform: the :class:`~gldpose_sdk.hardware.PlatformInfo` kind that set the order.
        chosen: ``(backend, device)`` that loaded.
        skipped: ``(backend, device, reason)`` for every candidate passed over.
        timings_ms: ``(backend, device, ms per face at batch 1)`` measured (or read from the
            cache) among the candidates that loaded; empty when nothing was compared.
        timing_source: ``"measured"``, ``"cache"`` or ``""``.
        num_threads: CPU threads ``"auto"`` settled on for the chosen backend (0: the
            runtime's default, or the count ``BackendOptions.num_threads`` asked for).
        thread_timings_ms: ``(threads, ms per face at batch 1)`` of the chosen backend with the
            runtime's default (0) and with one thread, when ``"auto"`` compared them.
    """

    requested: str
    platform: str
    chosen: tuple[str, str]
    skipped: tuple[tuple[str, str, str], ...] = ()
    timings_ms: tuple[tuple[str, str, float], ...] = ()
    timing_source: str = ""
    num_threads: int = 0
    thread_timings_ms: tuple[tuple[int, float], ...] = ()


def unavailable_reason(name: str, manifest: Manifest) -> str | None:
    """Why backend ``name`` cannot run this model before trying to load it, or None."""
    missing = missing_packages(name)
    if missing:
        return f"{', '.join(missing)} not installed"
    entry = BACKENDS.entry(name)
    if not manifest.has(entry.artefact) and not any(manifest.has(f) for f in entry.builds_from):
        fmt = entry.artefact
        return f"the manifest lists no {fmt} artefact (export it: gldpose export --formats {fmt})"
    return None


def _load(name: str, model_dir: Path, manifest: Manifest, options: BackendOptions) -> Backend:
    reason = unavailable_reason(name, manifest)
    if reason is not None:
        raise BackendUnavailableError(f"backend {name!r} is unavailable: {reason}", reason=reason)
    try:
        return load_backend_class(name).load(Path(model_dir), manifest, options)
    except GldposeError:
        raise
    except Exception as exc:  # a runtime's own exception while loading: not a missing runtime
        raise BackendRuntimeError(f"{name} failed to load {model_dir}: "
                                  f"{type(exc).__name__}: {exc}") from exc


def _candidates(platform: PlatformInfo, device: str) -> tuple[tuple[str, str], ...]:
    """The preference list for ``platform``; a device asked for replaces each entry's own."""
    order = PREFERENCES[platform.kind]
    if parse_device(device)[0] == "auto":
        return order
    names = dict.fromkeys([name for name, _ in order] + BACKENDS.names())
    return tuple((name, device) for name in names)


def select_backend(model_dir: str | Path, manifest: Manifest, backend: str,
                   options: BackendOptions, platform: PlatformInfo,
                   timing_cache: TimingCache | None = None,
                   measure: bool = True) -> tuple[Backend, Selection]:
    """Load ``backend`` (a registry name), or for ``"auto"`` the fastest that runs here.

    Args:
        model_dir: the model folder.
        manifest: its manifest.
        backend: ``"auto"`` or one of ``BACKENDS``.
        options: backend options; for ``"auto"`` each candidate gets its own device unless
            ``options.device`` names one.
        platform: what :func:`gldpose_sdk.hardware.detect_platform` found.
        timing_cache: where ``"auto"`` keeps its measurements (None: measure, keep nothing).
        measure: False: ``"auto"`` takes the first candidate that loads, in preference order.

    Raises:
        UnknownNameError: unknown backend name (the message lists the valid names).
        BackendUnavailableError: the named backend (or, for auto, every backend) cannot run;
            ``.reason`` says why.
        ModelFileError, ManifestMismatchError: an artefact is missing, tampered or mismatched
            (also under ``"auto"``).
        BackendRuntimeError: a runtime failed while loading.
    """
    if backend != "auto":
        BACKENDS.entry(backend)
        loaded = _load(backend, Path(model_dir), manifest, options)
        return loaded, Selection(backend, platform.kind, (backend, options.device))
    return _select_auto(Path(model_dir), manifest, options, platform, timing_cache, measure)


def _select_auto(model_dir: Path, manifest: Manifest, options: BackendOptions,
                 platform: PlatformInfo, cache: TimingCache | None,
                 measure: bool) -> tuple[Backend, Selection]:
    order = _candidates(platform, options.device)
    skipped: list[tuple[str, str, str]] = []
    usable = [(n, d) for n, d in order if not _skip_early(n, d, manifest, skipped)]
    preferred = [c for c in usable if c[0] not in LAST_RESORT] or usable
    best_device = next((d for _, d in preferred), None)
    group = [c for c in preferred if c[1] == best_device] if measure else []
    comparable = len(group) > 1 or any(_threads_tryable(n, d, options) for n, d in group)
    cached = cache.lookup(model_dir, manifest, group) if cache is not None and comparable \
        else None
    if cached is not None:
        group = [cached.winner] + [c for c in group if c != cached.winner]
    loaded: list[tuple[str, str, Backend]] = []
    try:
        for name, device in group:
            opts = options if cached is None or (name, device) != cached.winner \
                else dataclasses.replace(options, num_threads=cached.num_threads)
            backend = _try_load(name, device, model_dir, manifest, opts, skipped)
            if backend is not None:
                loaded.append((name, device, backend))
                if cached is not None:
                    break
        for name, device in [c for c in usable if c not in group] if not loaded else []:
            backend = _try_load(name, device, model_dir, manifest, options, skipped)
            if backend is not None:
                loaded.append((name, device, backend))
                break
        if not loaded:
            tried = "; ".join(f"{n} ({d}): {r}" for n, d, r in skipped)
            raise BackendUnavailableError(f"no backend can run {model_dir} here: {tried}",
                                          reason="no usable backend")
        timings, source = _compare(loaded, cached, manifest)
    except BaseException:
        for _, _, b in loaded:
            b.close()
        raise
    name, device, chosen = min(loaded, key=lambda c: dict(
        ((n, d), ms) for n, d, ms in timings).get((c[0], c[1]), 0.0))
    for n, d, b in loaded:
        if b is not chosen:
            b.close()
    threads, thread_timings = (cached.num_threads, cached.thread_timings_ms) if cached \
        else (0, ())
    if cached is None and comparable and _threads_tryable(name, device, options):
        chosen, threads, thread_timings = _try_one_thread(name, device, chosen, model_dir,
                                                          manifest, options)
        if thread_timings:
            source = "measured"
            timings = timings or [(name, device, min(ms for _, ms in thread_timings))]
    if cache is not None and cached is None and comparable and timings:
        cache.store(model_dir, manifest, timings, threads, thread_timings)
    _LOG.info("gldpose backend: %s on %s (auto, platform %s%s%s)", name, device, platform.kind,
              "; " + ", ".join(f"{n} {ms:.2f} ms" for n, _, ms in timings) if timings else "",
              f"; {threads} thread(s)" if threads else "")
    return chosen, Selection("auto", platform.kind, (name, device), tuple(skipped),
                             tuple(timings), source, threads, tuple(thread_timings))


def _threads_tryable(name: str, device: str, options: BackendOptions) -> bool:
    """Whether ``"auto"`` times backend ``name`` on ``device`` with one thread too: no thread
    count asked for, a CPU with more than one core, and threads set per instance."""
    return (options.num_threads == 0 and parse_device(device)[0] == "cpu"
            and BACKENDS.entry(name).own_cpu_threads and (os.cpu_count() or 1) > 1)


def _try_one_thread(name: str, device: str, chosen: Backend, model_dir: Path,
                    manifest: Manifest, options: BackendOptions
                    ) -> tuple[Backend, int, tuple[tuple[int, float], ...]]:
    """The winner with one thread against the runtime's default, timed side by side at batch 1:
    ``(backend kept, its threads (0 = default), ((0, ms), (1, ms)))``. A runtime that cannot
    load the one-thread instance keeps the default (logged); integrity errors are raised."""
    try:
        one = _load(name, model_dir, manifest,
                    dataclasses.replace(options, device=device, num_threads=1))
    except (BackendUnavailableError, BackendRuntimeError) as exc:
        _LOG.info("gldpose backend: %s with one thread did not load: %s", name, exc)
        return chosen, 0, ()
    except BaseException:
        chosen.close()
        raise
    try:
        default_ms, one_ms = time_backends([chosen, one], manifest.input)
    except BaseException:
        one.close()
        chosen.close()
        raise
    timings = ((0, default_ms), (1, one_ms))
    if one_ms <= (1.0 - ONE_THREAD_GAIN) * default_ms:
        chosen.close()
        return one, 1, timings
    one.close()
    return chosen, 0, timings


def _skip_early(name: str, device: str, manifest: Manifest,
                skipped: list[tuple[str, str, str]]) -> bool:
    reason = unavailable_reason(name, manifest)
    if reason is None:
        return False
    _LOG.warning("gldpose backend: skipping %s on %s: %s", name, device, reason)
    skipped.append((name, device, reason))
    return True


def _try_load(name: str, device: str, model_dir: Path, manifest: Manifest,
              options: BackendOptions, skipped: list[tuple[str, str, str]]) -> Backend | None:
    try:
        return _load(name, model_dir, manifest, dataclasses.replace(options, device=device))
    except BackendUnavailableError as exc:  # runtime or device missing: the one fallback
        _LOG.warning("gldpose backend: skipping %s on %s: %s", name, device, exc.reason)
        skipped.append((name, device, exc.reason))
        return None


def _compare(loaded: list[tuple[str, str, Backend]], cached, manifest: Manifest
             ) -> tuple[list[tuple[str, str, float]], str]:
    if cached is not None:
        return list(cached.timings_ms), "cache"
    if len(loaded) < 2:
        return [], ""
    times = time_backends([b for _, _, b in loaded], manifest.input)
    return [(n, d, ms) for (n, d, _), ms in zip(loaded, times)], "measured"
