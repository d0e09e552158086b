"""The backend interface (STYLE b): input and output checks written once, runtimes plug in.

A backend takes a batch of crops in its :attr:`Backend.input_layout` and returns raw logits
``[N, 3, bins]`` in yaw, pitch, roll order. Two layouts exist (DESIGN 5): ``"nchw_float"``, a
normalised float32 ``[N, 3, S, S]`` RGB batch, and ``"nhwc_uint8_bgr"``, the crops as they are cut
(uint8 ``[N, S, S, 3]`` BGR), for runtimes that fold channel order, normalisation and layout into
the model itself. A backend does no cropping, no decode and no fallback.
"""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from gldpose_sdk.config import BackendOptions
from gldpose_sdk.errors import (
    BackendRuntimeError,
    GldposeError,
    InputError,
    ManifestMismatchError,
    ModelFileError,
)
from gldpose_sdk.manifest import ANGLE_NAMES, INPUT_LAYOUTS, Artefact, Manifest


@dataclass(frozen=True)
class BackendInfo:
    """What a loaded backend actually uses (not what was asked for).

    Attributes:
        name: registry name (``"openvino"``, ``"onnxruntime"``, ...).
        runtime_version: version of the runtime package.
        device: device(s) really executing (ORT providers applied, OpenVINO execution devices,
            the CUDA GPU name).
        precision: arithmetic precision in use (``"fp32"``, ``"bf16"``, ``"fp16"``).
        artefact_path: the model file loaded.
        artefact_sha256: its sha256, as checked against the manifest.
        max_batch: largest batch passed to the runtime at once.
        input_layout: what :meth:`Backend.infer` takes (``"nchw_float"`` or
            ``"nhwc_uint8_bgr"``).
    """

    name: str
    runtime_version: str
    device: str
    precision: str
    artefact_path: str
    artefact_sha256: str
    max_batch: int
    input_layout: str = "nchw_float"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)


def non_finite_logits(backend_name: str) -> BackendRuntimeError:
    """The error for NaN or Inf logits from a backend (one message for every place that
    finds them)."""
    return BackendRuntimeError(f"{backend_name} returned NaN or Inf logits; with fp16 this "
                               "means overflow: try an fp32 artefact or precision")


class Backend(ABC):
    """Base of every inference backend; subclasses implement :meth:`load` and :meth:`_run`."""

    name: ClassVar[str]

    def __init__(self, manifest: Manifest, artefact: Artefact, artefact_path: Path,
                 options: BackendOptions, *, runtime_version: str, device: str,
                 precision: str, max_batch: int | None = None,
                 input_layout: str = "nchw_float") -> None:
        if input_layout not in INPUT_LAYOUTS:
            raise ValueError(f"input_layout must be one of {INPUT_LAYOUTS}, got {input_layout!r}")
        self.manifest = manifest
        self.options = options
        self.input_layout = input_layout
        self._size_px = manifest.input.size_px
        self._bins = manifest.bins.count
        self._max_batch = max(1, min(options.max_batch, max_batch or options.max_batch))
        self._info = BackendInfo(self.name, runtime_version, device, precision,
                                 str(artefact_path), artefact.sha256, self._max_batch,
                                 input_layout)
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    @abstractmethod
    def load(cls, model_dir: Path, manifest: Manifest, options: BackendOptions) -> "Backend":
        """Import the runtime, verify the artefact (sha256, compatibility), return a ready backend.

        Raises:
            BackendUnavailableError: the runtime or the requested device is missing.
            ModelFileError: the artefact is missing or unreadable.
            ManifestMismatchError: hash, input size, bins or engine build do not match.
        """

    @abstractmethod
    def _run(self, batch: np.ndarray) -> np.ndarray:
        """Run one checked batch ``[n <= max_batch, 3, S, S]``; return logits ``[n, 3, bins]``."""

    def _close(self) -> None:
        """Release runtime resources (override when there are any)."""

    def infer(self, batch: np.ndarray, *, check_finite: bool = True) -> np.ndarray:
        """Logits for a normalised batch.

        Args:
            batch: float32, C-contiguous ``[N, 3, S, S]`` with S the manifest's input size.
            check_finite: scan the logits for NaN/Inf. False only for a caller whose decode
                checks every logit itself and raises :func:`non_finite_logits` for them (the
                estimator): at batch 1 the scan, the first numpy call after the network, cost
                about 25-40 us per face in place (measured, issue 12).

        Returns:
            float32 logits ``[N, 3, bins]`` (yaw, pitch, roll), all finite.

        Raises:
            InputError: wrong type, dtype, layout or shape, or an empty batch.
            BackendRuntimeError: the runtime failed, returned a wrong shape or NaN/Inf.
        """
        self._check_input(batch)
        n = batch.shape[0]
        with self._lock:
            if self._closed:
                raise BackendRuntimeError(f"{self.name} backend is closed; create a new one")
            if n <= self._max_batch:   # one chunk: the batch-1 real-time case, no slicing
                return self._run_checked(batch, check_finite)
            return np.concatenate([self._run_checked(batch[start:start + self._max_batch],
                                                     check_finite)
                                   for start in range(0, n, self._max_batch)])

    def _run_checked(self, chunk: np.ndarray, check_finite: bool = True) -> np.ndarray:
        try:
            out = self._run(chunk)
        except GldposeError:
            raise
        except Exception as exc:  # runtimes raise their own exception types
            raise BackendRuntimeError(
                f"{self.name} failed on a batch of {chunk.shape[0]}: {exc}") from exc
        return self._check_output(out, chunk.shape[0], check_finite)

    def _check_input(self, batch: np.ndarray) -> None:
        s = self._size_px
        if not isinstance(batch, np.ndarray):
            raise InputError(f"batch must be a numpy array, got {type(batch).__name__}")
        dtype, shape, what = ((np.float32, (3, s, s), "normalised NCHW float32")
                              if self.input_layout == "nchw_float"
                              else (np.uint8, (s, s, 3), "NHWC uint8 BGR crops"))
        if batch.dtype != dtype:
            raise InputError(f"batch must be {np.dtype(dtype).name} ({what}), got {batch.dtype}")
        if batch.ndim != 4 or batch.shape[1:] != shape:
            raise InputError(f"batch must have shape [N, {', '.join(map(str, shape))}] ({what}), "
                             f"got {batch.shape}")
        if batch.shape[0] == 0:
            raise InputError("batch is empty (N = 0)")
        if not batch.flags.c_contiguous:
            raise InputError("batch must be C-contiguous (use np.ascontiguousarray)")

    def _check_output(self, out: Any, n: int, check_finite: bool = True) -> np.ndarray:
        expected = (n, len(ANGLE_NAMES), self._bins)
        out = np.asarray(out)
        if out.shape != expected:
            raise BackendRuntimeError(f"{self.name} returned shape {out.shape}, expected "
                                      f"{expected}: the artefact does not match the manifest")
        out = out.astype(np.float32, copy=False)
        if check_finite and not np.isfinite(out).all():
            raise non_finite_logits(self.name)
        return out

    def example_input(self, n: int = 1) -> np.ndarray:
        """A valid input batch of ``n`` mid-grey crops in this backend's layout (for timing)."""
        s = self._size_px
        if self.input_layout == "nhwc_uint8_bgr":
            return np.full((n, s, s, 3), 128, np.uint8)
        return np.zeros((n, 3, s, s), np.float32)

    def describe(self) -> BackendInfo:
        """What this backend actually runs: runtime version, device, precision, artefact."""
        return self._info

    @property
    def max_batch(self) -> int:
        """Largest batch handed to the runtime at once."""
        return self._max_batch

    @property
    def is_closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def close(self) -> None:
        """Release the runtime; calling it again does nothing."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._close()

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pick_artefact(manifest: Manifest, fmt: str, precision: str = "auto",
                  prefer: tuple[str, ...] = ("fp32", "fp16", "bf16"),
                  layouts: tuple[str, ...] = ("nchw_float",)) -> Artefact:
    """The logits artefact of ``fmt`` a backend runs.

    Args:
        manifest: the model's manifest.
        fmt: artefact format.
        precision: ``"auto"`` (the first of ``prefer`` that is listed; INT8 only when asked) or
            a precision the artefact must have (``BackendOptions.artefact_precision``).
        prefer: the backend's precision order for ``"auto"``.
        layouts: input layouts the backend can feed, preferred first.

    Raises:
        ModelFileError: no artefact of ``fmt`` in that precision and a usable layout.
    """
    wanted = prefer if precision == "auto" else (precision,)
    usable = [a for a in manifest.candidates(fmt) if a.input_layout in layouts]
    for p in wanted:
        for layout in layouts:
            for art in usable:
                if art.precision == p and art.input_layout == layout:
                    return art
    manifest.find(fmt, None if precision == "auto" else precision)  # names what is listed
    raise ModelFileError(f"the manifest lists no {fmt} artefact in {'/'.join(wanted)} with an "
                         f"input layout of {'/'.join(layouts)}")


def check_model_fits(manifest: Manifest, input_shape: tuple[Any, ...],
                     output_shape: tuple[Any, ...], where: str,
                     layout: str = "nchw_float") -> None:
    """Compare an artefact's I/O shapes (ints, or None/str for dynamic axes) with the manifest.

    Raises:
        ManifestMismatchError: input size or bin count differ.
    """
    s = manifest.input.size_px
    want_in = (None, 3, s, s) if layout == "nchw_float" else (None, s, s, 3)
    want_out = (None, len(ANGLE_NAMES), manifest.bins.count)
    for got, want, what in ((input_shape, want_in, "input"), (output_shape, want_out, "output")):
        same_rank = len(got) == len(want)
        fixed = [(g, w) for g, w in zip(got, want, strict=False)
                 if isinstance(g, int) and g > 0 and w]
        if not same_rank or any(g != w for g, w in fixed):
            raise ManifestMismatchError(
                f"{where} has {what} shape {tuple(got)}, the manifest expects "
                f"{tuple('N' if w is None else w for w in want)}; the artefact belongs to "
                "another model or export: re-export it")
