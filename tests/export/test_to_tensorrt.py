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
    from gldpose_sdk.manifest import Artefact, ArtefactFile, BuildTarget, RuntimeVersions

    art = Artefact(format="tensorrt", files=(ArtefactFile("model_fp16.engine", "0" * 64),),
                   precision="fp16", versions=RuntimeVersions(tensorrt=BUILT.trt_version), target=BuildTarget(BUILT.gpu_name, BUILT.compute_capability))
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


@pytest.mark.skipif(HAS_TRT, reason="tensorrt is installed: the missing-package path is moot")
def test_verify_skips_engine_without_tensorrt(small_copy) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
    from gldpose_export.verify import verify_model_dir
    from gldpose_sdk.manifest import (
        BuildTarget, RuntimeVersions, make_artefact, read_manifest, write_manifest)

    model_dir = small_copy("model.onnx")
    (model_dir / "model_fp16.engine").write_bytes(b"not a real engine")
    art = make_artefact(model_dir, "model_fp16.engine", "tensorrt", precision="fp16",
                        versions=RuntimeVersions(tensorrt=BUILT.trt_version), target=BuildTarget(BUILT.gpu_name, BUILT.compute_capability))
    write_manifest(model_dir, read_manifest(model_dir).with_artefact(art))
    report = verify_model_dir(model_dir, n_random=2, n_crops=1)
    row = next(r for r in report.rows if r.artefact == "model_fp16.engine")
    assert row.skipped == "tensorrt is not installed" and row.passed
    assert "skipped: tensorrt is not installed" in report.table()


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
    assert art.versions.tensorrt and art.target.gpu_name and art.target.compute_capability
    caches = list(tmp_path.glob("tensorrt_timing.sm*.cache"))
    assert len(caches) == 1 and caches[0].stat().st_size > 0
    report = verify_model_dir(tmp_path, n_random=6, n_crops=6)  # 12 > max batch 8: split
    row = next(r for r in report.rows if r.artefact == art.path)
    assert not row.skipped and max(row.max_deg) <= FP16_TOL_DEG


class _FakeTRT:
    """Just enough of the documented TensorRT 10 Python API to drive build_engine's control flow.

    It checks the call sequence (flags, profile, workspace, timing cache), not TensorRT itself.
    """

    class Logger:
        WARNING = 2

        def __init__(self, level: int) -> None:
            self.level = level

    class MemoryPoolType:
        WORKSPACE = "workspace"

    class NetworkDefinitionCreationFlag:
        EXPLICIT_BATCH = 0
        STRONGLY_TYPED = 1

    class BuilderFlag:
        FP16 = "fp16"

    def __init__(self, version: str = "10.8.0.43", parse_ok: bool = True) -> None:
        self.__version__ = version
        self.parse_ok = parse_ok
        self.calls: dict = {"flags": set()}
        fake = self

        class Input:
            name = "input"

        class Network:
            num_inputs = 1

            def get_input(self, i: int) -> Input:
                return Input()

        class Profile:
            def set_shape(self, name, lo, opt, hi) -> None:
                fake.calls["profile"] = (name, lo, opt, hi)

        class Cache:
            def __init__(self, data: bytes) -> None:
                self.data = data

            def serialize(self) -> bytes:
                return b"cache:" + self.data

        class Config:
            def set_memory_pool_limit(self, pool, size) -> None:
                fake.calls["workspace"] = (pool, size)

            def set_flag(self, flag) -> None:
                fake.calls["flags"].add(flag)

            def add_optimization_profile(self, profile) -> None:
                fake.calls["profiles"] = fake.calls.get("profiles", 0) + 1

            def create_timing_cache(self, data: bytes) -> Cache:
                return Cache(data)

            def set_timing_cache(self, cache, ignore_mismatch: bool) -> bool:
                self.cache = cache
                return True

            def get_timing_cache(self) -> Cache:
                return self.cache

        class Builder:
            def __init__(self, logger) -> None:
                pass

            def create_network(self, flags: int) -> Network:
                fake.calls["network_flags"] = flags
                return Network()

            def create_builder_config(self) -> Config:
                return Config()

            def create_optimization_profile(self) -> Profile:
                return Profile()

            def build_serialized_network(self, network, config) -> bytes:
                return b"engine"

        class Parser:
            num_errors = 1

            def __init__(self, network, logger) -> None:
                pass

            def parse_from_file(self, path: str) -> bool:
                fake.calls["parsed"] = path
                return fake.parse_ok

            def get_error(self, i: int) -> str:
                return "Unsupported operator Foo"

        self.Builder, self.OnnxParser = Builder, Parser


@pytest.fixture()
def fake_trt(monkeypatch: pytest.MonkeyPatch):
    import sys

    def install(**kwargs) -> _FakeTRT:
        fake = _FakeTRT(**kwargs)
        monkeypatch.setitem(sys.modules, "tensorrt", fake)
        return fake

    return install


def _build(tmp_path: Path, **kwargs) -> None:
    from gldpose_export.formats.to_tensorrt import build_engine

    (tmp_path / "model.onnx").write_bytes(b"onnx")
    build_engine(tmp_path / "model.onnx", tmp_path / "model_fp16.engine", size_px=64,
                 batch=(1, 8, 32), workspace_mib=256, timing_cache=tmp_path / "t.cache",
                 **kwargs)


def test_build_engine_call_sequence(fake_trt, tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="torch not installed")
    fake = fake_trt()
    (tmp_path / "t.cache").write_bytes(b"old")
    _build(tmp_path, fp16=True, strongly_typed=False)
    assert fake.calls["network_flags"] == 0  # TensorRT 10: explicit batch is implied
    assert fake.calls["flags"] == {"fp16"}
    assert fake.calls["workspace"] == ("workspace", 256 << 20)
    assert fake.calls["profile"] == ("input", (1, 3, 64, 64), (8, 3, 64, 64), (32, 3, 64, 64))
    assert (tmp_path / "model_fp16.engine").read_bytes() == b"engine"
    assert (tmp_path / "t.cache").read_bytes() == b"cache:old"  # loaded, then saved back


def test_build_engine_flags_for_trt8_and_strong_typing(fake_trt, tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="torch not installed")
    fake = fake_trt(version="8.6.1")
    _build(tmp_path, fp16=True, strongly_typed=True)
    assert fake.calls["network_flags"] == 0b11  # explicit batch + strongly typed
    assert fake.calls["flags"] == set()  # precision comes from the graph, not a flag


def test_build_engine_reports_parser_errors(fake_trt, tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="torch not installed")
    fake_trt(parse_ok=False)
    with pytest.raises(ExportError, match="could not parse model.onnx: Unsupported operator Foo"):
        _build(tmp_path, fp16=False, strongly_typed=False)
