"""Build on the target: an engine for this GPU and TensorRT version from the model's ONNX file.

When the manifest lists no engine that can run here (DESIGN 7), :func:`obtain_engine` looks
for one cached earlier (:mod:`~gldpose_sdk.backends.tensorrt.cache`), else builds it from the
ONNX artefact under a lock (FP16 where the GPU has it), checks it against ONNX Runtime or the
stored reference outputs (:mod:`~gldpose_sdk.backends.tensorrt.parity`), and caches it with its
record and timing cache. Nothing here needs torch or the onnx package.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gldpose_sdk.backends.base import Backend
from gldpose_sdk.backends.tensorrt import build, cache, parity
from gldpose_sdk.backends.tensorrt.identity import EngineIdentity
from gldpose_sdk.errors import BackendRuntimeError, BackendUnavailableError
from gldpose_sdk.manifest import (
    Artefact,
    ArtefactFile,
    BuildTarget,
    Manifest,
    RuntimeVersions,
    read_verified,
)

_LOG = logging.getLogger(__name__)


#: Opens engine bytes, described by an artefact, found at a path, into a ready backend.
OpenEngine = Callable[[bytes, Artefact, Path], Backend]


@dataclass(frozen=True)
class BuildRequest:
    """What the caller wants built.

    Attributes:
        identity: this machine's TensorRT version and GPU.
        precision: ``"auto"``, ``"fp16"`` or ``"fp32"`` (``BackendOptions.artefact_precision``).
        max_batch: the largest batch the engine must take (profile max).
    """

    identity: EngineIdentity
    precision: str
    max_batch: int


def onnx_sources(manifest: Manifest) -> tuple[Artefact | None, Artefact | None]:
    """The FP32 and FP16 logits ONNX artefacts (float NCHW input) an engine can be built from."""
    usable = [a for a in manifest.candidates("onnx") if a.input_layout == "nchw_float"]
    fp32 = next((a for a in usable if a.precision == "fp32"), None)
    fp16 = next((a for a in usable if a.precision == "fp16"), None)
    return fp32, fp16


def obtain_engine(model_dir: Path, manifest: Manifest, request: BuildRequest,
                  open_engine: OpenEngine) -> Backend:
    """The engine for ``request``: cached, or built here, checked and cached.

    Raises:
        BackendUnavailableError: nothing to build from (no ONNX artefact), no builder, or a
            precision that cannot be built here.
        ModelFileError, ManifestMismatchError: the ONNX file or a cached engine is damaged.
        BackendRuntimeError: the build failed, or the new engine failed its parity check.
    """
    fp32, fp16 = onnx_sources(manifest)
    if fp32 is None:
        raise BackendUnavailableError(
            f"{model_dir} has no TensorRT engine for this GPU ({request.identity.gpu_name}, "
            f"TensorRT {request.identity.trt_version}) and no FP32 ONNX artefact to build one "
            "from: export the ONNX file (gldpose export --formats onnx)",
            reason="no engine for this GPU and no ONNX to build one from")
    precision, strong = build.choose_precision(request.precision,
                                               request.identity.compute_capability,
                                               fp16 is not None)
    source = fp16 if strong and fp16 is not None else fp32
    key = cache.EngineKey(source.sha256, precision, _profile(fp32, request.max_batch),
                          request.identity)
    for slot in (cache.CacheSlot.at(root, key) for root in cache.cache_roots(model_dir)):
        hit = cache.read_cached(slot, key)
        if hit is not None:
            _LOG.info("gldpose tensorrt: using the engine cached at %s", slot.engine)
            return open_engine(hit[0], _describe(key, slot, hit[1], source), slot.engine)
    if not build.has_builder():
        raise BackendUnavailableError(
            f"no engine for this GPU is cached and TensorRT {request.identity.trt_version} has "
            "no builder here (runtime-only install): install the full TensorRT, or build the "
            "engine elsewhere on this kind of device", reason="TensorRT builder not installed")
    slot = cache.CacheSlot.at(cache.writable_root(model_dir), key)
    with cache.build_lock(slot.lock):
        hit = cache.read_cached(slot, key)  # built by another process while we waited
        if hit is not None:
            return open_engine(hit[0], _describe(key, slot, hit[1], source), slot.engine)
        return _build_and_cache(model_dir, manifest, key, slot, (source, fp32, strong),
                                open_engine)


def _profile(onnx: Artefact, max_batch: int) -> tuple[int, int, int]:
    """Batch profile: 1, the ONNX artefact's optimum (capped), ``max_batch``."""
    return 1, max(1, min(onnx.batch_min_opt_max[1], max_batch)), max_batch


def _build_and_cache(model_dir: Path, manifest: Manifest, key: cache.EngineKey,
                     slot: cache.CacheSlot, sources: tuple[Artefact, Artefact, bool],
                     open_engine: OpenEngine) -> Backend:
    source, fp32, strong = sources
    onnx_bytes = read_verified(model_dir, source.files[0])
    reference = parity.load_reference(str(model_dir), manifest, fp32,
                                      onnx_bytes if source is fp32
                                      else read_verified(model_dir, fp32.files[0]))
    spec = build.BuildSpec(key.precision, strong, manifest.input.size_px, key.batch_min_opt_max)
    built = build.build_engine(onnx_bytes, spec, name=f"{source.path} ({key.precision}) for "
                               f"{key.identity.gpu_name}", timing_cache=slot.timing_cache)
    record = cache.EngineRecord(
        slot.engine.name, hashlib.sha256(built.data).hexdigest(), *key.identity,
        precision=key.precision, onnx_sha256=key.onnx_sha256,
        batch_min_opt_max=key.batch_min_opt_max, build_seconds=round(built.seconds, 1))
    engine = open_engine(built.data, _describe(key, slot, record, source), slot.engine)
    try:
        record = _checked(engine, reference, manifest, record)
        cache.write_cached(slot, built.data, record)
    except BaseException:
        engine.close()
        raise
    _LOG.info("gldpose tensorrt: cached %s (%.0f s build)", slot.engine, built.seconds)
    return engine


def _checked(engine: Backend, reference: parity.Reference | None, manifest: Manifest,
             record: cache.EngineRecord) -> cache.EngineRecord:
    """Run the parity check of a new engine; the record with its result.

    Raises:
        BackendRuntimeError: beyond tolerance (the engine is not cached).
    """
    if reference is None:
        _LOG.warning("gldpose tensorrt: parity of the new engine NOT checked: onnxruntime is "
                     "not installed and the ONNX artefact has no stored reference outputs")
        return record
    result = parity.compare(engine.infer(reference.inputs), reference, manifest,
                            record.precision)
    _LOG.info("gldpose tensorrt: new engine vs %s: max |delta| %s deg (tolerance %.2f)",
              result.reference, ", ".join(f"{v:.4f}" for v in result.max_abs_diff_deg),
              result.tolerance_deg)
    if not result.passed:
        raise BackendRuntimeError(
            f"the {record.precision} engine built here differs from {result.reference} by up "
            f"to {max(result.max_abs_diff_deg):.3f} deg (tolerance {result.tolerance_deg} "
            "deg); it was not cached. Try BackendOptions(artefact_precision='fp32')")
    return cache.EngineRecord(**{**record.__dict__, "parity_reference": result.reference,
                                 "parity_max_deg": result.max_abs_diff_deg,
                                 "parity_tolerance_deg": result.tolerance_deg})


def _describe(key: cache.EngineKey, slot: cache.CacheSlot, record: cache.EngineRecord,
              source: Artefact) -> Artefact:
    """An artefact entry for a cached engine (it is not listed in the manifest)."""
    return Artefact(format="tensorrt", files=(ArtefactFile(slot.engine.name,
                                                           record.engine_sha256),),
                    precision=key.precision, batch_min_opt_max=key.batch_min_opt_max,
                    versions=RuntimeVersions(tensorrt=key.identity.trt_version),
                    target=BuildTarget(key.identity.gpu_name, key.identity.compute_capability),
                    notes=f"built on this device from {source.path}; cached at {slot.engine}")
