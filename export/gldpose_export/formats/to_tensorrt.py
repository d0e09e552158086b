"""TensorRT engine export: builds ``model_<precision>.engine`` on this GPU with the SDK's builder.

Everything that knows TensorRT lives in ``gldpose_sdk.backends.tensorrt`` (STYLE h): this
module only picks the ONNX file, calls :func:`gldpose_sdk.backends.tensorrt.build.build_engine`
and describes the result for the manifest (TensorRT version, GPU name and compute capability,
read by :func:`gldpose_sdk.backends.tensorrt.gpu.read_gpu`). Engines are not portable, so this
runs on the target device; the SDK can also build the engine there on first use from the ONNX
file alone. Importing this module imports tensorrt and cuda-python: the format registry resolves
it only when ``--formats tensorrt`` is asked for, and reports a missing package by name.
"""
from __future__ import annotations

from pathlib import Path

from gldpose_sdk.backends.tensorrt import (
    build,  # imports tensorrt (reported first if missing)
    gpu,
)
from gldpose_sdk.backends.tensorrt.cache import atomic_write
from gldpose_sdk.backends.tensorrt.identity import EngineIdentity, identity_slug
from gldpose_sdk.errors import GldposeError
from gldpose_sdk.manifest import (
    Artefact,
    BuildTarget,
    Manifest,
    RuntimeVersions,
    make_artefact,
)
from gldpose_sdk.model import PoseNet

from gldpose_export import ExportError
from gldpose_export.config import ExportConfig
from gldpose_export.formats.to_onnx import LOGITS_FILE, export_fp16_onnx


def engine_file(precision: str) -> str:
    """Relative path of the engine in a model folder (``model_fp16.engine``...)."""
    return f"model_{precision}.engine"


def current_identity(device_index: int = 0) -> EngineIdentity:
    """TensorRT version, GPU name and compute capability of this machine.

    Raises:
        ExportError: no usable CUDA driver or device (the reason is included).
    """
    try:
        gpu.check_driver()
        info = gpu.read_gpu(device_index)
    except GldposeError as exc:
        raise ExportError(f"cannot build a TensorRT engine here: {exc}") from exc
    return EngineIdentity(build.tensorrt_version(), info.name, info.compute_capability)


def preflight(config: ExportConfig) -> None:
    """Fail before any export when there is no GPU or no TensorRT builder here."""
    current_identity()
    if not build.has_builder():
        raise ExportError(f"TensorRT {build.tensorrt_version()} here has no builder (runtime-only "
                          "install); install the full TensorRT to export engines")


def export_tensorrt(model: PoseNet, manifest: Manifest, out_dir: Path,
                    config: ExportConfig) -> tuple[Artefact, ...]:
    """Build the engine from the ONNX file in ``out_dir`` (fp16 with ``config.fp16``).

    On TensorRT 11 (no FP16 builder flag) an FP16 engine is built from ``model_fp16.onnx``,
    written here and listed too.

    Raises:
        ExportError: no GPU/driver, the ONNX file is missing, FP16 impossible on this GPU, or
            the parser or builder failed (their messages are included).
    """
    identity = current_identity()
    try:
        precision, strong = build.choose_precision("fp16" if config.fp16 else "fp32",
                                                   identity.compute_capability, True)
    except GldposeError as exc:
        raise ExportError(str(exc)) from exc
    arts: list[Artefact] = []
    onnx_rel = LOGITS_FILE
    if strong:
        arts.append(export_fp16_onnx(model, manifest, out_dir, config))
        onnx_rel = arts[-1].path
    if not (out_dir / onnx_rel).is_file():
        raise ExportError(f"{out_dir / onnx_rel} is missing: the engine is built from it")
    spec = build.BuildSpec(precision, strong, manifest.input.size_px,
                           tuple(config.batch_min_opt_max), workspace_mib=config.workspace_mib)
    timing = config.timing_cache or out_dir / f"tensorrt_timing.{identity_slug(identity)}.cache"
    try:
        built = build.build_engine((out_dir / onnx_rel).read_bytes(), spec, name=onnx_rel,
                                   timing_cache=timing)
    except GldposeError as exc:
        raise ExportError(f"TensorRT engine export failed: {exc}") from exc
    rel = engine_file(precision)
    atomic_write(out_dir / rel, built.data)
    arts.append(make_artefact(
        out_dir, rel, "tensorrt", precision=precision, output="logits",
        batch_min_opt_max=spec.batch_min_opt_max,
        versions=RuntimeVersions(tensorrt=identity.trt_version),
        target=BuildTarget(identity.gpu_name, identity.compute_capability),
        notes=f"built from {onnx_rel}, {'strongly' if strong else 'weakly'} typed, workspace "
              f"{config.workspace_mib} MiB, timing cache {timing.name}, {built.seconds:.1f} s"))
    return tuple(arts)
