"""Backend choice (DESIGN 7): an explicit name, or ``"auto"``: the fastest that runs here.

The preference lists are data (:data:`PREFERENCES`): platform -> ``(backend, device)`` pairs.
``"auto"`` steps over a candidate only when its runtime package or its device is missing
(:class:`~gldpose_sdk.errors.BackendUnavailableError`), logging each step down at WARNING once.
A tampered, mismatched or unreadable artefact is an error under ``"auto"`` too: it is raised,
never a reason to fall back. Among the candidates that load on the preferred device, ``"auto"``
measures each briefly at batch 1 (:mod:`gldpose_sdk.backend_timing`) and keeps the fastest; the
measurement is cached per machine, model and runtime versions. An explicit name never falls
back and is never measured.
"""
from __future__ import annotations

import dataclasses
import logging
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
    """

    requested: str
    platform: str
    chosen: tuple[str, str]
    skipped: tuple[tuple[str, str, str], ...] = ()
    timings_ms: tuple[tuple[str, str, float], ...] = ()
    timing_source: str = ""


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
    cached = cache.lookup(model_dir, manifest, group) if cache is not None and len(group) > 1 \
        else None
    if cached is not None:
        group = [cached.winner] + [c for c in group if c != cached.winner]
    loaded: list[tuple[str, str, Backend]] = []
    try:
        for name, device in group:
            backend = _try_load(name, device, model_dir, manifest, options, skipped)
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
        timings, source = _compare(loaded, cached, cache, model_dir, manifest)
    except BaseException:
        for _, _, b in loaded:
            b.close()
        raise
    name, device, chosen = min(loaded, key=lambda c: dict(
        ((n, d), ms) for n, d, ms in timings).get((c[0], c[1]), 0.0))
    for n, d, b in loaded:
        if b is not chosen:
            b.close()
    _LOG.info("gldpose backend: %s on %s (auto, platform %s%s)", name, device, platform.kind,
              "; " + ", ".join(f"{n} {ms:.2f} ms" for n, _, ms in timings) if timings else "")
    return chosen, Selection("auto", platform.kind, (name, device), tuple(skipped),
                             tuple(timings), source)


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


def _compare(loaded: list[tuple[str, str, Backend]], cached, cache: TimingCache | None,
             model_dir: Path, manifest: Manifest
             ) -> tuple[list[tuple[str, str, float]], str]:
    if cached is not None:
        return list(cached.timings_ms), "cache"
    if len(loaded) < 2:
        return [], ""
    times = time_backends([b for _, _, b in loaded], manifest.input)
    timings = [(n, d, ms) for (n, d, _), ms in zip(loaded, times)]
    if cache is not None:
        cache.store(model_dir, manifest, timings)
    return timings, "measured"
