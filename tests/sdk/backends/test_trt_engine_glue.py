"""TensorRT runtime glue (engine choice, start-up checks, buffers, copies, execute) on fakes.

Drives ``gldpose_sdk.backends.tensorrt.runtime`` through the fakes of test_tensorrt_fakes.py:
device memory apart from host memory, copies that honour their direction and land only at the
stream synchronise, an engine that runs only within its optimisation profile and computes
logits from its input. The real TensorRT has never run here (see docs/jetson.md).
"""
from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from gldpose_sdk import PoseEstimator, backends
from gldpose_sdk.config import BackendOptions
from gldpose_sdk.errors import (
    BackendRuntimeError,
    BackendUnavailableError,
    ManifestMismatchError,
)
from gldpose_sdk.hardware import PlatformInfo
from gldpose_sdk.manifest import (
    BuildTarget,
    RuntimeVersions,
    make_artefact,
    read_manifest,
    write_manifest,
)
from test_tensorrt_fakes import (
    CC,
    GPU_NAME,
    TRT_VERSION,
    Fakes,
    fake_engine_bytes,
    fake_logits,
    forget_fakes,
    install_fakes,
)

CC_TEXT = f"{CC[0]}.{CC[1]}"



@pytest.fixture()
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    """TensorRT 10 and cuda-python fakes for one test (see test_tensorrt_fakes.py)."""
    installed = install_fakes(monkeypatch)
    yield installed
    forget_fakes()

def _engine_dir(src: Path, dst: Path, gpu_name: str = GPU_NAME,
                batch: tuple[int, int, int] = (1, 2, 4)) -> Path:
    """``src`` plus a listed fp16 engine built (by the fake builder) for ``gpu_name``."""
    shutil.copytree(src, dst)
    size = read_manifest(dst).input.size_px
    (dst / "model_fp16.engine").write_bytes(fake_engine_bytes(size, batch))
    art = make_artefact(dst, "model_fp16.engine", "tensorrt", precision="fp16",
                        versions=RuntimeVersions(tensorrt=TRT_VERSION),
                        target=BuildTarget(gpu_name, CC_TEXT), batch_min_opt_max=batch)
    write_manifest(dst, read_manifest(dst).with_artefact(art))
    return dst


def _load(fakes: Fakes, model_dir: Path, **options: object):
    runtime = fakes.module("runtime")
    return runtime.TensorRTBackend.load(model_dir, read_manifest(model_dir),
                                        BackendOptions(**options))


def _batch(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 3, size, size)).astype(np.float32)


def test_infer_copies_in_runs_copies_out_and_synchronises(
        fakes: Fakes, tiny_model_dir: Path, tmp_path: Path) -> None:
    model_dir = _engine_dir(tiny_model_dir, tmp_path / "m")
    backend = _load(fakes, model_dir)
    x = _batch(7, 64)
    out = backend.infer(x)  # 7 > profile max 4: split into 4 + 3
    np.testing.assert_allclose(out, fake_logits(x.astype(np.float16), 66), rtol=1e-5,
                               atol=1e-4)
    assert fakes.cuda.calls.count("execute") == 2
    per_chunk = ["memcpy cudaMemcpyHostToDevice", "execute", "memcpy cudaMemcpyDeviceToHost",
                 "synchronize"]
    assert fakes.cuda.calls[-8:] == per_chunk * 2
    info = backend.describe()
    assert (info.name, info.precision, info.max_batch) == ("tensorrt", "fp16", 4)
    assert GPU_NAME in info.device and f"sm {CC_TEXT}" in info.device
    assert len(fakes.cuda.memory) == 2
    backend.close()
    backend.close()
    assert fakes.cuda.memory == {} and fakes.cuda.queues == {}


@pytest.mark.parametrize("n", [1, 3, 5])
def test_profile_minimum_above_one_pads_the_short_chunk(
        fakes: Fakes, tiny_model_dir: Path, tmp_path: Path, n: int) -> None:
    """Fault (d): an engine whose profile starts at 2 runs a last chunk of 1 padded to 2."""
    model_dir = _engine_dir(tiny_model_dir, tmp_path / "m", batch=(2, 2, 4))
    backend = _load(fakes, model_dir)
    x = _batch(n, 64, seed=n)
    out = backend.infer(x)  # chunks of 4 then n % 4 (1 or 3): 1 is below the minimum
    assert out.shape == (n, 3, 66)
    np.testing.assert_allclose(out, fake_logits(x.astype(np.float16), 66), rtol=1e-5,
                               atol=1e-4)
    backend.close()


def test_profile_minimum_above_max_batch_option(fakes: Fakes, tiny_model_dir: Path,
                                                tmp_path: Path) -> None:
    """max_batch=1 below a profile minimum of 2: every chunk is padded, the buffers fit."""
    model_dir = _engine_dir(tiny_model_dir, tmp_path / "m", batch=(2, 2, 4))
    backend = _load(fakes, model_dir, max_batch=1)
    x = _batch(3, 64)
    np.testing.assert_allclose(backend.infer(x), fake_logits(x.astype(np.float16), 66),
                               rtol=1e-5, atol=1e-4)
    backend.close()


def test_engine_from_another_gpu_without_onnx_is_unavailable(
        fakes: Fakes, tiny_model_dir: Path, tmp_path: Path) -> None:
    model_dir = _engine_dir(tiny_model_dir, tmp_path / "m", gpu_name="NVIDIA A100-SXM4-80GB")
    with pytest.raises(BackendUnavailableError) as info:
        _load(fakes, model_dir)
    assert "no FP32 ONNX artefact" in str(info.value) and GPU_NAME in str(info.value)
    assert fakes.trt_state.deserialized == 0


def test_listed_engine_for_another_gpu_is_refused_by_name(fakes: Fakes, tiny_model_dir: Path,
                                                          tmp_path: Path) -> None:
    model_dir = _engine_dir(tiny_model_dir, tmp_path / "m", gpu_name="NVIDIA A100-SXM4-80GB")
    manifest = read_manifest(model_dir)
    runtime = fakes.module("runtime")
    with pytest.raises(BackendUnavailableError) as info:
        runtime.TensorRTBackend.open_artefact(model_dir, manifest, manifest.find("tensorrt"),
                                              BackendOptions())
    assert "NVIDIA A100-SXM4-80GB" in str(info.value) and GPU_NAME in str(info.value)
    assert "built elsewhere" in info.value.reason


def test_tampered_listed_engine_is_refused(fakes: Fakes, tiny_model_dir: Path,
                                           tmp_path: Path) -> None:
    model_dir = _engine_dir(tiny_model_dir, tmp_path / "m")
    (model_dir / "model_fp16.engine").write_bytes(fake_engine_bytes(64, (1, 2, 8)))
    with pytest.raises(ManifestMismatchError, match="sha256"):
        _load(fakes, model_dir)
    assert fakes.trt_state.deserialized == 0


def test_driver_older_than_tensorrt_cuda_is_unavailable(fakes: Fakes, tiny_model_dir: Path,
                                                        tmp_path: Path) -> None:
    """Fault (b): the driver is checked before TensorRT starts."""
    model_dir = _engine_dir(tiny_model_dir, tmp_path / "m")
    fakes.cuda.driver_version = 11040
    with pytest.raises(BackendUnavailableError) as info:
        _load(fakes, model_dir)
    assert "CUDA driver supports CUDA 11.4" in str(info.value) and "12.x" in str(info.value)
    assert fakes.trt_state.deserialized == 0 and not fakes.trt_state.crashed


def test_tensorrt_wheel_cuda_major_is_compared_with_the_driver(
        fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tensorrt-cu13 wheel on a CUDA 12 driver is refused though cuda-python is for 12."""
    gpu = fakes.module("gpu")
    real_version = metadata.version

    def version(name: str) -> str:
        if name == "tensorrt-cu13-libs":
            return "11.4.0.106"
        if name.startswith("tensorrt"):
            raise metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(gpu.metadata, "version", version)
    with pytest.raises(BackendUnavailableError, match="tensorrt-cu13-libs 11.4.0.106"):
        gpu.check_driver()
    fakes.cuda.driver_version = 13000
    assert gpu.check_driver() == 13000


def test_failed_tensorrt_startup_is_unavailable_not_a_crash(
        fakes: Fakes, tiny_model_dir: Path, tmp_path: Path) -> None:
    """Fault (b): TensorRT's CUDA start-up fails; found in a child process, so this process
    never creates (nor frees, which crashes too) a Runtime."""
    model_dir = _engine_dir(tiny_model_dir, tmp_path / "m")
    fakes.fail_startup()
    with pytest.raises(BackendUnavailableError, match="CUDA initialization failure") as info:
        _load(fakes, model_dir)
    assert info.value.reason.startswith("TensorRT could not start")
    assert fakes.trt_state.runtimes == 0 and not fakes.trt_state.crashed


def test_startup_error_seen_only_in_this_process_is_still_caught(
        fakes: Fakes, tiny_model_dir: Path, tmp_path: Path) -> None:
    model_dir = _engine_dir(tiny_model_dir, tmp_path / "m")
    fakes.trt_state.startup_error = True  # the child process started fine
    with pytest.raises(BackendUnavailableError, match="could not start: createInferRuntime"):
        _load(fakes, model_dir)
    assert fakes.trt_state.runtimes == 1 and not fakes.trt_state.crashed
    assert len(fakes.module("startup")._NEVER_FREED) == 1  # kept: freeing it would crash


def test_startup_check_runs_once_per_process(fakes: Fakes, tiny_model_dir: Path,
                                            tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    startup = fakes.module("startup")
    runs: list[str] = []
    real = startup._run_probe
    monkeypatch.setattr(startup, "_run_probe", lambda module: runs.append(module) or real(module))
    model_dir = _engine_dir(tiny_model_dir, tmp_path / "m")
    _load(fakes, model_dir).close()
    _load(fakes, model_dir).close()
    assert runs == ["gldpose_fake_tensorrt"]


def test_no_driver_is_unavailable(fakes: Fakes, tiny_model_dir: Path, tmp_path: Path) -> None:
    fakes.cuda.driver_version = 0
    with pytest.raises(BackendUnavailableError, match="no NVIDIA CUDA driver") as info:
        _load(fakes, _engine_dir(tiny_model_dir, tmp_path / "m"))
    assert info.value.reason == "no CUDA driver"


def test_cpu_device_is_unavailable(fakes: Fakes, tiny_model_dir: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="CUDA devices"):
        _load(fakes, tiny_model_dir, device="cpu")


def test_runtime_failure_during_copy_is_a_runtime_error(
        fakes: Fakes, tiny_model_dir: Path, tmp_path: Path) -> None:
    backend = _load(fakes, _engine_dir(tiny_model_dir, tmp_path / "m"))
    fakes.cuda.queues.clear()  # the stream is gone: the fake CUDA refuses the copy
    with pytest.raises(BackendRuntimeError, match="copy to device failed"):
        backend.infer(_batch(1, 64))


def test_auto_on_gpu_platform_picks_tensorrt(fakes: Fakes, tiny_model_dir: Path,
                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             crops: list[np.ndarray]) -> None:
    model_dir = _engine_dir(tiny_model_dir, tmp_path / "m")
    monkeypatch.setattr(backends, "is_installed", lambda module: True)
    with PoseEstimator(model_dir, detector="none", platform=PlatformInfo("nvidia_gpu")) as est:
        info = est.describe()
        poses = est.estimate_crops(crops)
    assert info.backend.name == "tensorrt"
    assert len(poses) == len(crops)
    assert "tensorrt" not in [name for name, *_ in info.skipped]

