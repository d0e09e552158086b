"""TensorRT export: engine identity checks always; the export and its verification on fakes;
build + parity on a real GPU where TensorRT exists (never the case on the machines so far).

The fakes of ``tests/sdk/backends/test_tensorrt_fakes.py`` stand in for tensorrt and
cuda-python; export's engine goes through the SDK's builder, and verification runs it through
the SDK's TensorRT backend.
"""
from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
from gldpose_export import ExportError
from gldpose_sdk.backends.tensorrt.identity import (
    EngineIdentity,
    check_engine_compat,
    engine_cache_name,
    engine_identity,
    engine_mismatch,
    has_fast_fp16,
    identity_slug,
)
from gldpose_sdk.errors import BackendUnavailableError
from gldpose_sdk.manifest import Artefact, ArtefactFile, BuildTarget, RuntimeVersions

HAS_TRT = importlib.util.find_spec("tensorrt") is not None
BUILT = EngineIdentity("10.8.0.43", "NVIDIA Jetson Orin Nano", "8.7")
_FAKES_FILE = Path(__file__).resolve().parents[1] / "sdk" / "backends" / "test_tensorrt_fakes.py"


def _fakes_module() -> ModuleType:
    """The shared fakes (imported by path: test folders are not packages)."""
    if "test_tensorrt_fakes" not in sys.modules:
        spec = importlib.util.spec_from_file_location("test_tensorrt_fakes", _FAKES_FILE)
        module = importlib.util.module_from_spec(spec)
        sys.modules["test_tensorrt_fakes"] = module
        spec.loader.exec_module(module)
    return sys.modules["test_tensorrt_fakes"]


def test_same_identity_is_accepted() -> None:
    check_engine_compat(BUILT, EngineIdentity("10.8.0.43", "nvidia jetson  orin nano", "8.7"))
    assert engine_mismatch(BUILT, BUILT) == ""


@pytest.mark.parametrize("current,phrases", [
    (("10.9.0.34", BUILT.gpu_name, "8.7"), ["TensorRT version", "'10.8.0.43'", "'10.9.0.34'"]),
    (("10.8.0.43", "NVIDIA H100 80GB HBM3", "9.0"), ["GPU", "compute capability", "'9.0'"]),
    (("10.8.0.43", "NVIDIA Jetson AGX Orin", "8.7"), ["GPU: built with"]),
])
def test_engine_built_elsewhere_is_unavailable_not_corrupt(current: tuple,
                                                           phrases: list[str]) -> None:
    with pytest.raises(BackendUnavailableError, match="built elsewhere") as info:
        check_engine_compat(BUILT, current, "model_fp16.engine")
    for phrase in phrases:
        assert phrase in str(info.value) and phrase in info.value.reason
    assert "rebuild" in str(info.value)


def test_gpu_name_can_be_relaxed() -> None:
    check_engine_compat(BUILT, ("10.8.0.43", "NVIDIA Jetson AGX Orin", "8.7"),
                        strict_gpu_name=False)


def test_unrecorded_identity_is_refused() -> None:
    with pytest.raises(BackendUnavailableError, match="not recorded"):
        check_engine_compat(("", "", ""), BUILT)


def test_identity_from_artefact_and_cache_names() -> None:
    art = Artefact(format="tensorrt", files=(ArtefactFile("model_fp16.engine", "0" * 64),),
                   precision="fp16", versions=RuntimeVersions(tensorrt=BUILT.trt_version),
                   target=BuildTarget(BUILT.gpu_name, BUILT.compute_capability))
    assert engine_identity(art) == BUILT
    assert identity_slug(BUILT) == "nvidia-jetson-orin-nano.sm87.trt10.8.0.43"
    assert engine_cache_name("model_fp16", BUILT) == \
        "model_fp16.nvidia-jetson-orin-nano.sm87.trt10.8.0.43.engine"
    assert identity_slug(("10.3.0/30 x", "A  B", "8.7")) == "a-b.sm87.trt10.3.0_30_x"


@pytest.mark.parametrize("cc,fast", [("5.3", True), ("6.0", True), ("6.1", False),
                                     ("6.2", True), ("7.2", True), ("8.7", True),
                                     ("12.0", True), ("5.2", False), ("", False)])
def test_fast_fp16_by_compute_capability(cc: str, fast: bool) -> None:
    assert has_fast_fp16(cc) is fast


@pytest.mark.skipif(HAS_TRT, reason="tensorrt is installed: the missing-package path is moot")
def test_tensorrt_format_without_tensorrt_says_so(tiny_model_dir: Path, tmp_path: Path) -> None:
    from gldpose_export.cli import run_export
    from gldpose_export.config import ExportConfig

    with pytest.raises(ExportError, match="needs the package 'tensorrt', which is not installed"):
        run_export(ExportConfig(checkpoint=tiny_model_dir, out_dir=tmp_path,
                                formats=("tensorrt",), fp16=True, onnx_exporter="torchscript",
                                angles_onnx=False))


@pytest.mark.skipif(HAS_TRT, reason="tensorrt is installed: the missing-package path is moot")
def test_verify_skips_engine_without_tensorrt(small_copy) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
    from gldpose_export.verify import verify_model_dir
    from gldpose_sdk.manifest import make_artefact, read_manifest, write_manifest

    model_dir = small_copy("model.onnx")
    (model_dir / "model_fp16.engine").write_bytes(b"not a real engine")
    art = make_artefact(model_dir, "model_fp16.engine", "tensorrt", precision="fp16",
                        versions=RuntimeVersions(tensorrt=BUILT.trt_version),
                        target=BuildTarget(BUILT.gpu_name, BUILT.compute_capability))
    write_manifest(model_dir, read_manifest(model_dir).with_artefact(art))
    report = verify_model_dir(model_dir, n_random=2, n_crops=1)
    row = next(r for r in report.rows if r.artefact == "model_fp16.engine")
    assert row.skipped.endswith("tensorrt not installed") and row.passed
    assert "tensorrt not installed" in report.table()


@pytest.fixture()
def fake_trt(monkeypatch: pytest.MonkeyPatch):
    """Install the TensorRT/cuda-python fakes; export's TensorRT module is re-imported on them."""
    fakes = _fakes_module()

    def install(**kwargs):
        monkeypatch.delitem(sys.modules, "gldpose_export.formats.to_tensorrt", raising=False)
        return fakes.install_fakes(monkeypatch, **kwargs)

    yield install
    fakes.forget_fakes()
    sys.modules.pop("gldpose_export.formats.to_tensorrt", None)


@pytest.fixture(scope="module")
def onnx_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny_model_dir`` exported to ONNX once (the engines below are built from it)."""
    from gldpose_export.cli import run_export
    from gldpose_export.config import ExportConfig

    out = tmp_path_factory.mktemp("onnx_for_tensorrt")
    run_export(ExportConfig(checkpoint=tiny_model_dir, out_dir=out, formats=("onnx",),
                            onnx_exporter="torchscript", angles_onnx=False, uint8_onnx=False))
    return out


def _config(src: Path, out: Path, **config: object):
    from gldpose_export.config import ExportConfig

    return ExportConfig(checkpoint=src, out_dir=out, formats=("tensorrt",),
                        onnx_exporter="torchscript", angles_onnx=False, uint8_onnx=False,
                        batch_min_opt_max=(2, 4, 8), **config)


def _export(onnx_dir: Path, out: Path, **config: object):
    """The tensorrt format's preflight and exporter on a copy of ``onnx_dir``."""
    from gldpose_export.formats import preflight_format, resolve_format
    from gldpose_sdk.manifest import write_manifest
    from gldpose_sdk.model import load_model

    shutil.copytree(onnx_dir, out)
    cfg = _config(out, out, **config)
    preflight_format("tensorrt", cfg)
    model, manifest = load_model(out)
    for art in resolve_format("tensorrt")(model, manifest, out, cfg):
        manifest = manifest.with_artefact(art)
    write_manifest(out, manifest)
    return manifest


def test_export_builds_the_engine_with_profile_and_timing_cache(
        fake_trt, tiny_model_dir: Path, tmp_path: Path) -> None:
    from gldpose_export.cli import run_export

    fakes = fake_trt()
    manifest = run_export(_config(tiny_model_dir, tmp_path, fp16=True))
    art = manifest.find("tensorrt", precision="fp16")
    fake_module = _fakes_module()
    assert art.path == "model_fp16.engine" and art.batch_min_opt_max == (2, 4, 8)
    assert (art.versions.tensorrt, art.target.gpu_name, art.target.compute_capability) == \
        (fake_module.TRT_VERSION, fake_module.GPU_NAME, "8.7")
    (config,) = fakes.trt_state.configs
    (profile,) = config.profiles
    assert profile.shapes == {"input": ((2, 3, 64, 64), (4, 3, 64, 64), (8, 3, 64, 64))}
    assert config.get_flag(fakes.trt.BuilderFlag.FP16)
    assert config.cache_calls == ["create(0 bytes)", "set", "get"]
    (cache,) = tmp_path.glob("tensorrt_timing.fake-gpu-9000.sm87.trt*.cache")
    assert cache.read_bytes().startswith(fake_module.CACHE_MAGIC)
    header = fake_module.engine_header((tmp_path / art.path).read_bytes())
    assert header["profile"][0] == [2, 3, 64, 64] and header["precision"] == "fp16"


def test_fp32_export_clears_tf32(fake_trt, onnx_dir: Path, tmp_path: Path) -> None:
    fakes = fake_trt()
    manifest = _export(onnx_dir, tmp_path / "m", fp16=False)
    art = manifest.find("tensorrt", precision="fp32")
    (config,) = fakes.trt_state.configs
    assert not config.get_flag(fakes.trt.BuilderFlag.TF32)
    header = _fakes_module().engine_header((tmp_path / "m" / art.path).read_bytes())
    assert header["tf32"] is False


def test_tensorrt11_fp16_export_builds_from_the_fp16_onnx(fake_trt, onnx_dir: Path,
                                                          tmp_path: Path) -> None:
    fakes = fake_trt(version="11.4.0.106", weak_fp16=False)
    manifest = _export(onnx_dir, tmp_path / "m", fp16=True)
    assert manifest.find("onnx", precision="fp16").path == "model_fp16.onnx"
    (config,) = fakes.trt_state.configs
    assert config.get_flag(fakes.trt.BuilderFlag.TF32)  # fp16 build: TensorRT's default kept
    header = _fakes_module().engine_header(
        (tmp_path / "m" / manifest.find("tensorrt").path).read_bytes())
    assert header["strongly_typed"] and header["trt"] == "11.4.0.106"


def test_export_without_gpu_says_so(fake_trt, onnx_dir: Path, tmp_path: Path) -> None:
    fakes = fake_trt()
    fakes.cuda.driver_version = 0
    with pytest.raises(ExportError, match="cannot build a TensorRT engine here: no NVIDIA"):
        _export(onnx_dir, tmp_path / "m", fp16=True)


def test_export_reports_parser_errors(fake_trt, onnx_dir: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    fakes = fake_trt()

    def refuse(parser, model: bytes, path: str | None = None) -> bool:
        parser.num_errors = 1
        return False

    monkeypatch.setattr(fakes.trt.OnnxParser, "parse", refuse)
    with pytest.raises(ExportError, match="could not parse model.onnx: ModelImporter"):
        _export(onnx_dir, tmp_path / "m", fp16=True)


def test_verify_runs_the_engine_through_the_sdk_backend(fake_trt, onnx_dir: Path,
                                                        tmp_path: Path) -> None:
    """The fake engine computes channel means, not the network: parity must fail, and the
    row must say it ran (through the SDK's TensorRT backend), split into profile-sized chunks."""
    from gldpose_export.verify import verify_model_dir

    fakes = fake_trt()
    _export(onnx_dir, tmp_path / "m", fp16=True)
    report = verify_model_dir(tmp_path / "m", n_random=6, n_crops=5, raise_on_failure=False)
    row = next(r for r in report.rows if r.artefact == "model_fp16.engine")
    assert not row.skipped and not row.passed
    assert row.runtime.startswith(f"tensorrt {_fakes_module().TRT_VERSION} cuda:0 (Fake GPU")
    assert fakes.cuda.calls.count("execute") == 2  # 11 inputs, profile max 8
    assert fakes.cuda.memory == {}  # the backend was closed


def test_verify_skips_an_engine_built_for_another_gpu(fake_trt, onnx_dir: Path,
                                                      tmp_path: Path) -> None:
    from gldpose_export.verify import verify_model_dir

    fakes = fake_trt()
    _export(onnx_dir, tmp_path / "m", fp16=True)
    fakes.cuda.gpu_name = "NVIDIA A100-SXM4-80GB"
    importlib.import_module("gldpose_sdk.backends.tensorrt.gpu").read_gpu.cache_clear()
    report = verify_model_dir(tmp_path / "m", n_random=2, n_crops=1, raise_on_failure=False)
    row = next(r for r in report.rows if r.artefact == "model_fp16.engine")
    assert row.skipped.startswith("engine built elsewhere: GPU: built with 'Fake GPU 9000'")


@pytest.mark.gpu
def test_fp16_engine_parity(tiny_model_dir: Path, tmp_path: Path) -> None:
    if not HAS_TRT:
        pytest.skip("tensorrt not installed")
    torch = pytest.importorskip("torch", reason="torch not installed")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from gldpose_export.cli import run_export
    from gldpose_export.verify import FP16_TOL_DEG, verify_model_dir

    manifest = run_export(_config(tiny_model_dir, tmp_path, fp16=True))
    art = manifest.find("tensorrt", precision="fp16")
    assert art.versions.tensorrt and art.target.gpu_name and art.target.compute_capability
    caches = list(tmp_path.glob("tensorrt_timing.*.cache"))
    assert len(caches) == 1 and caches[0].stat().st_size > 0
    report = verify_model_dir(tmp_path, n_random=6, n_crops=6)  # 12 > max batch 8: split
    row = next(r for r in report.rows if r.artefact == art.path)
    assert not row.skipped and max(row.max_deg) <= FP16_TOL_DEG
