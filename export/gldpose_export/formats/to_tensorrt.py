"""TensorRT engine export: built from ``model.onnx`` with the TensorRT Python API (10.x; 8.6 and 11
handled where their API differs), plus a small runner used by the verification and gpu_check.

tensorrt is imported lazily (:func:`import_tensorrt`), so this module loads without it and the
error says what is missing. Engines are tied to the GPU model and TensorRT version that built
them: the manifest records both (and the compute capability), and
:func:`gldpose_sdk.engine_compat.check_engine_compat` refuses an engine built elsewhere.
Written against the TensorRT 10 documentation; it could not be run on the machines that wrote it.
"""
from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from gldpose_export import ExportError
from gldpose_export.config import ExportConfig
from gldpose_export.formats.to_onnx import INPUT_NAME, LOGITS_FILE, export_fp16_onnx
from gldpose_sdk.engine_compat import EngineIdentity, engine_cache_name
from gldpose_sdk.manifest import (
    Artefact, BuildTarget, Manifest, RuntimeVersions, make_artefact, sha256_file)
from gldpose_sdk.model import PoseNet

_LOG = logging.getLogger(__name__)


def engine_file(fp16: bool) -> str:
    """Relative path of the engine in a model folder."""
    return "model_fp16.engine" if fp16 else "model_fp32.engine"


def import_tensorrt() -> ModuleType:
    """Import and return ``tensorrt``.

    Raises:
        ExportError: "tensorrt is not installed ..." with where to get it.
    """
    try:
        import tensorrt
    except ImportError as exc:
        raise ExportError(
            "tensorrt is not installed: TensorRT engines are built on the target GPU machine "
            "(JetPack ships it on Jetson; on desktops `pip install tensorrt` from NVIDIA's "
            "index); the ONNX file in the model folder is what it builds from") from exc
    return tensorrt


def current_identity() -> EngineIdentity:
    """TensorRT version, GPU name and compute capability of this machine (GPU 0).

    Raises:
        ExportError: tensorrt missing, or no CUDA GPU found (via torch, else nvidia-smi).
    """
    trt = import_tensorrt()
    name, capability = gpu_name_and_capability()
    return EngineIdentity(trt.__version__, name, capability)


def gpu_name_and_capability() -> tuple[str, str]:
    """``(name, "major.minor")`` of GPU 0 from torch.cuda, else nvidia-smi.

    Raises:
        ExportError: no CUDA GPU visible.
    """
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(0)
        return torch.cuda.get_device_name(0), f"{major}.{minor}"
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,compute_cap",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=20, check=True).stdout.strip().splitlines()
    except (OSError, subprocess.SubprocessError) as exc:
        raise ExportError(f"no CUDA GPU found (torch.cuda unavailable, nvidia-smi: {exc})") from exc
    if not out:
        raise ExportError("no CUDA GPU found (nvidia-smi lists none)")
    name, capability = (part.strip() for part in out[0].rsplit(",", 1))
    return name, capability


def preflight(config: ExportConfig) -> None:
    """Fail early when tensorrt or a CUDA GPU is missing (before ONNX is exported)."""
    current_identity()


def export_tensorrt(model: PoseNet, manifest: Manifest, out_dir: Path,
                    config: ExportConfig) -> tuple[Artefact, ...]:
    """Build ``model_fp16.engine`` (or fp32 without ``config.fp16``) from the ONNX file.

    Raises:
        ExportError: tensorrt or a GPU is missing, the ONNX file is missing, or the build fails.
    """
    trt = import_tensorrt()
    identity = current_identity()
    arts: list[Artefact] = []
    onnx_rel = LOGITS_FILE
    strongly_typed = config.fp16 and not hasattr(trt.BuilderFlag, "FP16")
    if strongly_typed:  # TensorRT 11 dropped weak typing: the precision must be in the graph
        fp16_onnx = export_fp16_onnx(model, manifest, out_dir, config)
        arts.append(fp16_onnx)
        onnx_rel = fp16_onnx.path
    if not (out_dir / onnx_rel).is_file():
        raise ExportError(f"{out_dir / onnx_rel} is missing: the engine is built from it")
    rel = engine_file(config.fp16)
    cache = config.timing_cache or out_dir / engine_cache_name(
        "tensorrt_timing", identity).replace(".engine", ".cache")
    seconds = build_engine(out_dir / onnx_rel, out_dir / rel, fp16=config.fp16,
                           strongly_typed=strongly_typed, size_px=manifest.input.size_px,
                           batch=config.batch_min_opt_max, workspace_mib=config.workspace_mib,
                           timing_cache=cache)
    notes = (f"built from {onnx_rel} (sha256 {sha256_file(out_dir / onnx_rel)[:12]}...), "
             f"{'strongly typed' if strongly_typed else 'weakly typed'}, workspace "
             f"{config.workspace_mib} MiB, timing cache {cache.name}, "
             f"{seconds:.1f} s")
    arts.append(make_artefact(
        out_dir, rel, "tensorrt", precision="fp16" if config.fp16 else "fp32", output="logits",
        versions=RuntimeVersions(tensorrt=identity.trt_version),
        target=BuildTarget(identity.gpu_name, identity.compute_capability),
        batch_min_opt_max=tuple(config.batch_min_opt_max), notes=notes))
    return tuple(arts)


def build_engine(onnx_path: Path, engine_path: Path, *, fp16: bool, strongly_typed: bool,
                 size_px: int, batch: tuple[int, int, int], workspace_mib: int,
                 timing_cache: Path) -> float:
    """Parse ``onnx_path``, build a serialized engine with a batch profile, write it.

    The timing cache is loaded from ``timing_cache`` when present and saved back after the build.

    Returns:
        Build time in seconds.

    Raises:
        ExportError: the parser or the builder failed (their messages are included).
    """
    trt = import_tensorrt()
    start = time.perf_counter()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt, strongly_typed))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ExportError(f"TensorRT could not parse {onnx_path.name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    if fp16 and not strongly_typed:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    input_name = network.get_input(0).name if network.num_inputs else INPUT_NAME
    profile.set_shape(input_name, *[(b, 3, size_px, size_px) for b in batch])
    config.add_optimization_profile(profile)
    cache_bytes = timing_cache.read_bytes() if timing_cache.is_file() else b""
    cache = config.create_timing_cache(cache_bytes)
    if not config.set_timing_cache(cache, False):  # False: refuse a cache from another device
        _LOG.warning("timing cache %s does not fit this GPU/TensorRT: starting a new one",
                     timing_cache)
        config.set_timing_cache(config.create_timing_cache(b""), False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError(f"TensorRT failed to build an engine from {onnx_path.name} "
                          "(see the TensorRT log above)")
    engine_path.write_bytes(bytes(serialized))
    timing_cache.parent.mkdir(parents=True, exist_ok=True)
    timing_cache.write_bytes(bytes(config.get_timing_cache().serialize()))
    seconds = time.perf_counter() - start
    _LOG.info("built %s in %.1f s (TensorRT %s)", engine_path.name, seconds, trt.__version__)
    return seconds


def _network_flags(trt: ModuleType, strongly_typed: bool) -> int:
    flags = 0
    if int(trt.__version__.split(".")[0]) < 10:  # TensorRT 8.x needs explicit batch; 10 ignores it
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if strongly_typed:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return flags


class EngineRunner:
    """Run a serialized engine on float32 NCHW batches (torch CUDA memory, execute_async_v3)."""

    def __init__(self, engine_path: Path) -> None:
        trt = import_tensorrt()
        if not torch.cuda.is_available():
            raise ExportError("running a TensorRT engine needs a CUDA device; none is visible")
        self._trt = trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise ExportError(f"TensorRT could not deserialize {engine_path} (built with "
                              "another TensorRT version or for another GPU?)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_name = next(n for n in names if is_input[n])
        self.output_names = [n for n in names if not is_input[n]]
        self.max_batch = self.engine.get_tensor_profile_shape(self.input_name, 0)[2][0]

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Float32 ``[N, 3, S, S]`` -> ``{output name: array}``; splits above the profile's max."""
        parts = [self._run(batch[i:i + self.max_batch])
                 for i in range(0, len(batch), self.max_batch)]
        return {n: np.concatenate([p[n] for p in parts]) for n in self.output_names}

    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        stream = torch.cuda.Stream()
        with torch.cuda.stream(stream):
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).cuda()
            self.context.set_input_shape(self.input_name, tuple(x.shape))
            self.context.set_tensor_address(self.input_name, x.data_ptr())
            outs = {}
            for name in self.output_names:
                shape = tuple(self.context.get_tensor_shape(name))
                np_dtype = np.dtype(self._trt.nptype(self.engine.get_tensor_dtype(name)))
                outs[name] = torch.empty(shape, dtype=torch.from_numpy(
                    np.empty(0, np_dtype)).dtype, device="cuda")
                self.context.set_tensor_address(name, outs[name].data_ptr())
            if not self.context.execute_async_v3(stream.cuda_stream):
                raise ExportError("TensorRT execute_async_v3 returned False")
        stream.synchronize()
        return {n: t.float().cpu().numpy() for n, t in outs.items()}
