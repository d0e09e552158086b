"""TensorRT: engine build + parity where TensorRT and a GPU exist; compatibility checks always."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from gldpose_export import ExportError
from gldpose_sdk.engine_compat import (
    EngineIdentity,
    check_engine_compat,
    engine_cache_name,
    engine_identity,
)
from gldpose_sdk.errors import ManifestMismatchError

HAS_TRT = importlib.util.find_spec("tensorrt") is not None
BUILT = EngineIdentity("10.8.0.43", "NVIDIA Jetson Orin Nano", "8.7")


def test_same_identity_is_accepted() -> None:
    check_engine_compat(BUILT, EngineIdentity("10.8.0.43", "nvidia jetson  orin nano", "8.7"))


@pytest.mark.parametrize("current,phrases", [
    (("10.9.0.34", BUILT.gpu_name, "8.7"), ["TensorRT version", "'10.8.0.43'", "'10.9.0.34'"]),
    (("10.8.0.43", "NVIDIA H100 80GB HBM3", "9.0"), ["GPU", "compute capability", "'9.0'"]),
    (("10.8.0.43", "NVIDIA Jetson AGX Orin", "8.7"), ["GPU: built with"]),
])
def test_engine_built_elsewhere_is_refused(current: tuple, phrases: list[str]) -> None:
    with pytest.raises(ManifestMismatchError, match="built elsewhere") as info:
        check_engine_compat(BUILT, current, "model_fp16.engine")
    for phrase in phrases:
        assert phrase in str(info.value)
    assert "rebuild" in str(info.value)


def test_gpu_name_can_be_relaxed() -> None:
    check_engine_compat(BUILT, ("10.8.0.43", "NVIDIA Jetson AGX Orin", "8.7"),
                        strict_gpu_name=False)


def test_unrecorded_identity_is_refused() -> None:
    with pytest.raises(ManifestMismatchError, match="does not record"):
        check_engine_compat(("", "", ""), BUILT)


def test_identity_from_artefact_and_cache_name() -> None:
    from gldpose_sdk.manifest import Artefact

    art = Artefact(format="tensorrt", path="model_fp16.engine", sha256="0" * 64,
                   precision="fp16", runtime_version=BUILT.trt_version, gpu_name=BUILT.gpu_name,
                   compute_capability=BUILT.compute_capability)
    assert engine_identity(art) == BUILT
    assert engine_cache_name("model_fp16", BUILT) == "model_fp16.sm87.trt10.8.0.43.engine"


@pytest.mark.skipif(HAS_TRT, reason="tensorrt is installed: the missing-package path is moot")
def test_tensorrt_format_without_tensorrt_says_so(tiny_model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="torch not installed")
    from gldpose_export.cli import run_export
    from gldpose_export.config import ExportConfig

    with pytest.raises(ExportError, match="tensorrt is not installed"):
        run_export(ExportConfig(checkpoint=tiny_model_dir, out_dir=tmp_path,
                                formats=("tensorrt",), fp16=True, onnx_exporter="torchscript",
                                angles_onnx=False))


@pytest.mark.gpu
def test_fp16_engine_parity(tiny_model_dir: Path, tmp_path: Path) -> None:
    if not HAS_TRT:
        pytest.skip("tensorrt not installed")
    torch = pytest.importorskip("torch", reason="torch not installed")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from gldpose_export.cli import run_export
    from gldpose_export.config import ExportConfig
    from gldpose_export.verify import FP16_TOL_DEG, verify_model_dir

    manifest = run_export(ExportConfig(
        checkpoint=tiny_model_dir, out_dir=tmp_path, formats=("tensorrt",), fp16=True,
        batch_min_opt_max=(1, 4, 8), angles_onnx=False))
    art = manifest.find("tensorrt", precision="fp16")
    assert art.runtime_version and art.gpu_name and art.compute_capability
    assert (tmp_path / "tensorrt_timing.cache").stat().st_size > 0
    report = verify_model_dir(tmp_path, n_random=6, n_crops=6)  # 12 > max batch 8: split
    row = next(r for r in report.rows if r.artefact == art.path)
    assert not row.skipped and max(row.max_deg) <= FP16_TOL_DEG
