"""Backend choice (DESIGN 7): an explicit name, or ``"auto"`` trying a preference list in order.

The preference lists are data (:data:`PREFERENCES`): platform -> ``(backend, device)`` pairs.
``"auto"`` skips a candidate whose package is missing (checked without importing it), whose
artefact the manifest does not list, or whose load fails (no CUDA device, engine built for
another GPU, ...), and logs each step down once with its reason. An explicit name never falls
back: it raises BackendUnavailableError with the reason.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

from gldpose_sdk.backends import BACKENDS, check_name, load_backend_class, missing_packages
from gldpose_sdk.backends.base import Backend
from gldpose_sdk.config import BackendOptions, parse_device
from gldpose_sdk.errors import BackendUnavailableError, GldposeError
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


@dataclass(frozen=True)
class Selection:
    """How the backend was chosen.

    Attributes:
        requested: ``"auto"`` or the explicit backend name.
        platform: the :class:`~gldpose_sdk.hardware.PlatformInfo` kind that set the order.
        chosen: ``(backend, device)`` that loaded.
        skipped: ``(backend, device, reason)`` for every candidate tried before it.
    """

    requested: str
    platform: str
    chosen: tuple[str, str]
    skipped: tuple[tuple[str, str, str], ...] = ()


def unavailable_reason(name: str, manifest: Manifest) -> str | None:
    """Why backend ``name`` cannot run this model before trying to load it, or None."""
    missing = missing_packages(name)
    if missing:
        return f"{', '.join(missing)} not installed"
    fmt = BACKENDS[name].artefact
    if not manifest.has(fmt):
        return f"the manifest lists no {fmt} artefact (export it: gldpose export --formats {fmt})"
    return None


def _load(name: str, model_dir: Path, manifest: Manifest, options: BackendOptions) -> Backend:
    reason = unavailable_reason(name, manifest)
    if reason is not None:
        raise BackendUnavailableError(f"backend {name!r} is unavailable: {reason}", reason=reason)
    return load_backend_class(name).load(Path(model_dir), manifest, options)


def _candidates(platform: PlatformInfo, device: str) -> tuple[tuple[str, str], ...]:
    """The preference list for ``platform``; a device asked for replaces each entry's own."""
    order = PREFERENCES[platform.kind]
    if parse_device(device)[0] == "auto":
        return order
    names = dict.fromkeys([name for name, _ in order] + sorted(BACKENDS))
    return tuple((name, device) for name in names)


def select_backend(model_dir: str | Path, manifest: Manifest, backend: str,
                   options: BackendOptions, platform: PlatformInfo) -> tuple[Backend, Selection]:
    """Load ``backend`` (a registry name) or the first that works here for ``"auto"``.

    Args:
        model_dir: the model folder.
        manifest: its manifest.
        backend: ``"auto"`` or one of ``BACKENDS``.
        options: backend options; for ``"auto"`` each candidate gets its own device unless
            ``options.device`` names one.
        platform: what :func:`gldpose_sdk.hardware.detect_platform` found.

    Raises:
        ValueError: unknown backend name (the message lists the valid names).
        BackendUnavailableError: the named backend (or, for auto, every backend) cannot run;
            ``.reason`` says why.
        ModelFileError, ManifestMismatchError: the explicitly named backend's artefact is bad.
    """
    if backend != "auto":
        check_name(backend)
        loaded = _load(backend, Path(model_dir), manifest, options)
        return loaded, Selection(backend, platform.kind, (backend, options.device))
    skipped: list[tuple[str, str, str]] = []
    for name, device in _candidates(platform, options.device):
        try:
            loaded = _load(name, Path(model_dir), manifest,
                           dataclasses.replace(options, device=device))
        except GldposeError as exc:
            reason = getattr(exc, "reason", None) or str(exc)
        except Exception as exc:  # auto selection must survive any runtime's failure
            reason = f"{type(exc).__name__}: {exc}"
        else:
            _LOG.info("gldpose backend: %s on %s (auto, platform %s)", name, device,
                      platform.kind)
            return loaded, Selection("auto", platform.kind, (name, device), tuple(skipped))
        _LOG.info("gldpose backend: skipping %s on %s: %s", name, device, reason)
        skipped.append((name, device, reason))
    tried = "; ".join(f"{n} ({d}): {r}" for n, d, r in skipped)
    raise BackendUnavailableError(f"no backend can run {model_dir} here: {tried}",
                                  reason="no usable backend")
