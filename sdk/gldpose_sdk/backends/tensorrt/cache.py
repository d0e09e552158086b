"""Engines built on the target, cached per model, GPU and TensorRT version (DESIGN 7).

Layout (``ROOT`` is ``MODEL_DIR/tensorrt_engines`` when the model folder is writable, else
``CACHE/tensorrt`` with ``CACHE`` from :func:`gldpose_sdk.backend_timing.default_cache_dir`:
``$GLDPOSE_CACHE_DIR``, ``$XDG_CACHE_HOME/gldpose`` or ``~/.cache/gldpose``)::

    ROOT/timing.<identity>.cache                       TensorRT timing cache, shared per identity
    ROOT/<onnx sha256[:16]>/model.<precision>.b<min>-<opt>-<max>.<identity>.engine
    ROOT/<onnx sha256[:16]>/model.<precision>.b<min>-<opt>-<max>.<identity>.engine.json
    ROOT/<onnx sha256[:16]>/model.<precision>.b<min>-<opt>-<max>.<identity>.lock

(the ``.json`` is the engine's record, the ``.lock`` is held while building). ``<identity>``
is :func:`~gldpose_sdk.backends.tensorrt.identity.identity_slug` (GPU name, compute
capability, TensorRT version). The record holds the engine's own sha256 and identity
and is written (atomically, after the engine) last, so an engine without one is unfinished. A
cached engine whose bytes no longer match its record is refused (ManifestMismatchError). This
catches corruption and replaced files, not an attacker who can rewrite both files.
Only the standard library is used here; POSIX ``fcntl`` locks keep two processes from building
the same engine at once (Linux and Jetson; the SDK does not target Windows with TensorRT).
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import time
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gldpose_sdk.backend_timing import default_cache_dir
from gldpose_sdk.backends.tensorrt.identity import EngineIdentity, identity_slug
from gldpose_sdk.errors import (
    BackendRuntimeError,
    BackendUnavailableError,
    ManifestMismatchError,
)

_LOG = logging.getLogger(__name__)
RECORD_FORMAT = "gldpose-tensorrt-engine/1"
MODEL_FOLDER_ROOT = "tensorrt_engines"
_MAX_RECORD_BYTES = 1 << 16


@dataclass(frozen=True)
class EngineKey:
    """What a cached engine is built from and for; any change means another engine."""

    onnx_sha256: str
    precision: str
    batch_min_opt_max: tuple[int, int, int]
    identity: EngineIdentity

    def file_stem(self) -> str:
        """``model.<precision>.b<min>-<opt>-<max>.<identity slug>``."""
        lo, opt, hi = self.batch_min_opt_max
        return f"model.{self.precision}.b{lo}-{opt}-{hi}.{identity_slug(self.identity)}"


@dataclass(frozen=True)
class EngineRecord:
    """The sidecar of a cached engine: what it is, where it was built, how it compared.

    Attributes:
        engine_file: the engine's file name (same folder).
        engine_sha256: sha256 of the engine bytes.
        trt_version, gpu_name, compute_capability: the identity it was built for.
        precision: ``"fp32"`` or ``"fp16"``.
        onnx_sha256: sha256 of the ONNX file it was built from.
        batch_min_opt_max: its optimisation profile over the batch axis.
        build_seconds: how long the build took.
        parity_reference: what it was compared with ("" when nothing was available).
        parity_max_deg: max |delta| yaw, pitch, roll against that reference, degrees.
        parity_tolerance_deg: the tolerance it met.
        format: record format tag.
    """

    engine_file: str
    engine_sha256: str
    trt_version: str
    gpu_name: str
    compute_capability: str
    precision: str
    onnx_sha256: str
    batch_min_opt_max: tuple[int, int, int]
    build_seconds: float
    parity_reference: str = ""
    parity_max_deg: tuple[float, ...] = ()
    parity_tolerance_deg: float = 0.0
    format: str = RECORD_FORMAT

    @property
    def key(self) -> EngineKey:
        """What the engine was built from and for."""
        return EngineKey(self.onnx_sha256, self.precision, self.batch_min_opt_max,
                         EngineIdentity(self.trt_version, self.gpu_name,
                                        self.compute_capability))

    def to_json(self) -> str:
        """JSON text, sorted keys."""
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> EngineRecord:
        """Parse and check a record.

        Raises:
            ValueError: not JSON, another format, unknown keys.
            TypeError: missing keys or wrong types.
        """
        data = json.loads(text)
        if not isinstance(data, Mapping) or data.get("format") != RECORD_FORMAT:
            raise ValueError(f"not a {RECORD_FORMAT} record")
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        if set(data) - names:
            raise ValueError(f"unknown keys {sorted(set(data) - names)}")
        values = {k: _checked(v, hints[k], k) for k, v in data.items()}
        return cls(**values)


def _checked(value: Any, kind: Any, key: str) -> Any:
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise TypeError(f"{key} must be a list of numbers")
        return tuple(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"{key} must be {kind.__name__}, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class CacheSlot:
    """The files of one cached engine (see the module docstring)."""

    engine: Path
    record: Path
    lock: Path
    timing_cache: Path

    @classmethod
    def at(cls, root: Path, key: EngineKey) -> CacheSlot:
        """The slot of ``key`` under ``root``."""
        folder, stem = root / key.onnx_sha256[:16], key.file_stem()
        return cls(folder / f"{stem}.engine", folder / f"{stem}.engine.json",
                   folder / f"{stem}.lock", root / f"timing.{identity_slug(key.identity)}.cache")


def cache_roots(model_dir: Path) -> tuple[Path, ...]:
    """Where cached engines may be: beside the model first, then the user cache folder."""
    return (Path(model_dir) / MODEL_FOLDER_ROOT, default_cache_dir() / "tensorrt")


def writable_root(model_dir: Path) -> Path:
    """The first of :func:`cache_roots` that can be written (created if needed).

    Raises:
        BackendUnavailableError: neither the model folder nor the user cache folder is
            writable, so no engine can be built here for later use.
    """
    for root in cache_roots(model_dir):
        if _can_write(root):
            return root
    raise BackendUnavailableError(
        f"cannot build a TensorRT engine to cache: neither {cache_roots(model_dir)[0]} nor "
        f"{cache_roots(model_dir)[1]} is writable; set GLDPOSE_CACHE_DIR to a writable folder",
        reason="no writable folder for the TensorRT engine cache")


def _can_write(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            return True
    except OSError:
        return False


def read_cached(slot: CacheSlot, key: EngineKey) -> tuple[bytes, EngineRecord] | None:
    """The cached engine of ``slot`` when it is complete and built for exactly ``key``.

    Returns:
        ``(engine bytes, record)``, or None when there is nothing usable (missing, unfinished,
        unreadable record, or built for something else): the caller builds a new one.

    Raises:
        ManifestMismatchError: the engine's bytes differ from the sha256 in its record
            (corrupted or replaced): it is refused, never rebuilt over silently.
    """
    if not (slot.record.is_file() and slot.engine.is_file()):
        return None
    try:
        record = EngineRecord.from_json(_read_small(slot.record))
    except (OSError, ValueError, TypeError) as exc:
        _LOG.warning("gldpose tensorrt: ignoring unreadable engine record %s (%s)", slot.record,
                     exc)
        return None
    if (record.key, record.engine_file) != (key, slot.engine.name):
        _LOG.warning("gldpose tensorrt: %s was recorded for %s, not %s: rebuilding", slot.engine,
                     record.key, key)
        return None
    data = slot.engine.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != record.engine_sha256:
        raise ManifestMismatchError(
            f"cached TensorRT engine {slot.engine} has sha256 {actual[:12]}..., its record "
            f"{slot.record.name} says {record.engine_sha256[:12]}...: the file was changed or "
            "replaced. Delete both files to have the engine rebuilt")
    return data, record


def _read_small(path: Path) -> str:
    if path.stat().st_size > _MAX_RECORD_BYTES:
        raise ValueError(f"larger than {_MAX_RECORD_BYTES} bytes")
    return path.read_text(encoding="utf-8")


def write_cached(slot: CacheSlot, data: bytes, record: EngineRecord) -> None:
    """Write the engine, then its record (each atomically: readers never see half a file)."""
    atomic_write(slot.engine, data)
    atomic_write(slot.record, record.to_json().encode())


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def build_lock(path: Path, timeout_s: float = 3600.0, poll_s: float = 0.5) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (one builder per engine across processes).

    Raises:
        BackendRuntimeError: another process held it longer than ``timeout_s``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        start, told = time.monotonic(), False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    _LOG.info("gldpose tensorrt: another process is building %s; waiting",
                              path.with_suffix(".engine").name)
                    told = True
                if time.monotonic() - start > timeout_s:
                    raise BackendRuntimeError(
                        f"waited {timeout_s:.0f} s for the build lock {path}; if no gldpose "
                        "process is building, delete the lock file and retry") from None
                time.sleep(poll_s)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
