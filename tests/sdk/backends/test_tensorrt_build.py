"""Build on the target: TensorRT engines built from the ONNX file on first use, checked, cached.

Runs ``TensorRTBackend.load`` (what ``PoseEstimator(model, backend="tensorrt")`` calls) on model
folders that hold an ONNX file but no engine for this GPU, against the fakes of
test_tensorrt_fakes.py. The ONNX file is a real graph computing the fake engine's function, so
the parity check against ONNX Runtime is real; the engine builder is fake.
"""
from __future__ import annotations

import io
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from gldpose_sdk.config import BackendOptions
from gldpose_sdk.errors import (
    BackendRuntimeError,
    BackendUnavailableError,
    ManifestMismatchError,
    ModelFileError,
)
from gldpose_sdk.manifest import (
    InputSpec,
    Manifest,
    make_artefact,
    read_manifest,
    write_manifest,
)
from test_tensorrt_fakes import (
    CACHE_MAGIC,
    GPU_NAME,
    Fakes,
    engine_header,
    fake_logits,
    forget_fakes,
    install_fakes,
    write_fake_onnx,
)

SIZE = 16



@pytest.fixture()
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    """TensorRT 10 and cuda-python fakes for one test (see test_tensorrt_fakes.py)."""
    installed = install_fakes(monkeypatch)
    yield installed
    forget_fakes()

def _model_dir(folder: Path, *, fp16_onnx: bool = False, reference: bool = False) -> Path:
    """A model folder with ``model.onnx`` (and optionally ``model_fp16.onnx`` and stored
    reference outputs) but no engine."""
    folder.mkdir(parents=True)
    write_fake_onnx(folder / "model.onnx", SIZE)
    files: tuple[str, ...] = ("model.onnx",)
    if reference:
        inputs = np.random.default_rng(5).standard_normal((4, 3, SIZE, SIZE)).astype(np.float32)
        buf = io.BytesIO()
        np.savez(buf, inputs=inputs, logits=fake_logits(inputs, 66))
        (folder / "model_reference.npz").write_bytes(buf.getvalue())
        files += ("model_reference.npz",)
    arts = [make_artefact(folder, files, "onnx", output="logits", batch_min_opt_max=(1, 8, 0))]
    if fp16_onnx:
        write_fake_onnx(folder / "model_fp16.onnx", SIZE, name="fake_pose_fp16")
        arts.append(make_artefact(folder, "model_fp16.onnx", "onnx", precision="fp16",
                                  output="logits", batch_min_opt_max=(1, 8, 0)))
    write_manifest(folder, Manifest(backbone="resnet18", input=InputSpec(size_px=SIZE),
                                    artefacts=tuple(arts)))
    return folder


def _load(fakes: Fakes, model_dir: Path, **options: object):
    return fakes.module("runtime").TensorRTBackend.load(
        model_dir, read_manifest(model_dir), BackendOptions(**options))


def _engines(root: Path) -> list[Path]:
    return sorted(root.rglob("*.engine"))


def _x(n: int = 5) -> np.ndarray:
    return np.random.default_rng(n).standard_normal((n, 3, SIZE, SIZE)).astype(np.float32)


def test_first_use_builds_checks_and_caches_beside_the_model(
        fakes: Fakes, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model_dir = _model_dir(tmp_path / "m")
    with caplog.at_level(logging.INFO, logger="gldpose_sdk"):
        backend = _load(fakes, model_dir)
    assert fakes.trt_state.builds == 1
    x = _x()
    np.testing.assert_allclose(backend.infer(x), fake_logits(x.astype(np.float16), 66),
                               atol=1e-4)
    info = backend.describe()
    assert info.precision == "fp16" and info.max_batch == 32
    backend.close()
    (engine,) = _engines(model_dir / "tensorrt_engines")
    assert info.artefact_path == str(engine)
    header = engine_header(engine.read_bytes())
    assert header["precision"] == "fp16" and header["gpu"] == GPU_NAME
    assert header["profile"] == [[1, 3, SIZE, SIZE], [8, 3, SIZE, SIZE], [32, 3, SIZE, SIZE]]
    record = json.loads(engine.with_name(engine.name + ".json").read_text())
    assert record["engine_sha256"] == info.artefact_sha256
    assert (record["gpu_name"], record["compute_capability"]) == (GPU_NAME, "8.7")
    assert record["parity_reference"].startswith("onnxruntime")
    assert max(record["parity_max_deg"]) <= record["parity_tolerance_deg"] == 0.5
    assert "first build on a device takes minutes" in caplog.text
    assert "new engine vs onnxruntime" in caplog.text


def test_builder_gets_the_profile_and_a_timing_cache_it_saves(fakes: Fakes,
                                                              tmp_path: Path) -> None:
    model_dir = _model_dir(tmp_path / "m")
    _load(fakes, model_dir, max_batch=16).close()
    (config,) = fakes.trt_state.configs
    (profile,) = config.profiles
    assert profile.shapes == {"input": ((1, 3, SIZE, SIZE), (8, 3, SIZE, SIZE),
                                        (16, 3, SIZE, SIZE))}
    assert config.get_flag(fakes.trt.BuilderFlag.FP16)
    assert config.cache_calls == ["create(0 bytes)", "set", "get"]  # created, set, serialised
    (cache_file,) = (model_dir / "tensorrt_engines").glob("timing.*.cache")
    assert cache_file.read_bytes().startswith(CACHE_MAGIC)
    assert f"conv@{GPU_NAME}" in cache_file.read_text()


def test_second_load_reuses_the_cached_engine(fakes: Fakes, tmp_path: Path) -> None:
    model_dir = _model_dir(tmp_path / "m")
    _load(fakes, model_dir).close()
    backend = _load(fakes, model_dir)
    assert fakes.trt_state.builds == 1 and fakes.trt_state.deserialized == 2
    x = _x(3)
    np.testing.assert_allclose(backend.infer(x), fake_logits(x.astype(np.float16), 66),
                               atol=1e-4)
    backend.close()


def test_cache_is_rebuilt_for_another_gpu(fakes: Fakes, tmp_path: Path) -> None:
    model_dir = _model_dir(tmp_path / "m")
    _load(fakes, model_dir).close()
    fakes.cuda.gpu_name, fakes.cuda.cc = "NVIDIA Jetson AGX Orin", (8, 7)
    fakes.module("gpu").read_gpu.cache_clear()  # another machine
    _load(fakes, model_dir).close()
    assert fakes.trt_state.builds == 2
    names = [p.name for p in _engines(model_dir / "tensorrt_engines")]
    assert len(names) == 2 and any("nvidia-jetson-agx-orin.sm87" in n for n in names)


def test_cache_is_rebuilt_for_another_tensorrt_version(fakes: Fakes, tmp_path: Path) -> None:
    model_dir = _model_dir(tmp_path / "m")
    _load(fakes, model_dir).close()
    fakes.trt.__version__ = "10.16.1.11"
    _load(fakes, model_dir).close()
    assert fakes.trt_state.builds == 2
    assert any(".trt10.16.1.11.engine" in p.name for p in _engines(model_dir))


def test_cache_is_rebuilt_for_another_onnx_file(fakes: Fakes, tmp_path: Path) -> None:
    model_dir = _model_dir(tmp_path / "m")
    _load(fakes, model_dir).close()
    write_fake_onnx(model_dir / "model.onnx", SIZE, name="retrained")
    manifest = read_manifest(model_dir)
    art = make_artefact(model_dir, "model.onnx", "onnx", output="logits",
                        batch_min_opt_max=(1, 8, 0))
    write_manifest(model_dir, manifest.with_artefact(art))
    _load(fakes, model_dir).close()
    assert fakes.trt_state.builds == 2


def test_fp32_engine_is_built_with_tf32_cleared(fakes: Fakes, tmp_path: Path) -> None:
    """Fault (a): TensorRT enables TF32 by default; an fp32 engine must not use it."""
    model_dir = _model_dir(tmp_path / "m")
    backend = _load(fakes, model_dir, artefact_precision="fp32")
    assert backend.describe().precision == "fp32"
    backend.close()
    (config,) = fakes.trt_state.configs
    assert not config.get_flag(fakes.trt.BuilderFlag.TF32)
    assert not config.get_flag(fakes.trt.BuilderFlag.FP16)
    (engine,) = _engines(model_dir)
    header = engine_header(engine.read_bytes())
    assert header["precision"] == "fp32" and header["tf32"] is False
    record = json.loads(engine.with_name(engine.name + ".json").read_text())
    assert record["parity_tolerance_deg"] == 0.05


def test_gpu_without_fast_fp16_gets_an_fp32_engine(fakes: Fakes, tmp_path: Path) -> None:
    fakes.cuda.cc = (6, 1)  # GeForce 10xx: FP16 at 1/64 rate
    backend = _load(fakes, _model_dir(tmp_path / "m"))
    assert backend.describe().precision == "fp32"
    backend.close()
    assert not fakes.trt_state.configs[0].get_flag(fakes.trt.BuilderFlag.TF32)
    with pytest.raises(BackendUnavailableError, match="no full-rate FP16"):
        _load(fakes, tmp_path / "m", artefact_precision="fp16")


@pytest.mark.parametrize("content", [b"not a timing cache", CACHE_MAGIC + b'["conv@other GPU"]'])
def test_unusable_timing_cache_is_discarded_and_rebuilt(
        fakes: Fakes, tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes) -> None:
    """Fault (c): a corrupt (create -> None) or foreign (set -> False) cache is no TypeError."""
    model_dir = _model_dir(tmp_path / "m")
    _load(fakes, model_dir).close()  # writes the timing cache
    (cache_file,) = (model_dir / "tensorrt_engines").glob("timing.*.cache")
    cache_file.write_bytes(content)
    for engine in _engines(model_dir):
        engine.unlink()
    with caplog.at_level(logging.WARNING, logger="gldpose_sdk"):
        _load(fakes, model_dir).close()
    assert fakes.trt_state.builds == 2
    assert "corrupt or from another GPU" in caplog.text
    assert cache_file.read_bytes().startswith(CACHE_MAGIC)
    assert "other GPU" not in cache_file.read_text()


def test_corrupt_timing_cache_is_gone_even_when_the_build_fails(fakes: Fakes,
                                                               tmp_path: Path) -> None:
    build = fakes.module("build")
    cache_file = tmp_path / "t.cache"
    cache_file.write_bytes(b"corrupt")
    fakes.trt_state.fail_build = True
    with pytest.raises(BackendRuntimeError, match="failed to build an engine from model"):
        build.build_engine(write_fake_onnx(tmp_path / "model.onnx", SIZE),
                           build.BuildSpec("fp16", False, SIZE, (1, 2, 4)), name="model",
                           timing_cache=cache_file)
    assert not cache_file.exists()


def test_no_timing_cache_at_all_still_builds(fakes: Fakes, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """Fault (c): create_timing_cache returning None even for b"" and get_timing_cache None."""
    build = fakes.module("build")
    config_class = type(fakes.trt.Builder(None).create_builder_config())
    monkeypatch.setattr(config_class, "create_timing_cache", lambda self, data: None)
    fakes.trt_state.configs.clear()
    write_fake_onnx(tmp_path / "model.onnx", SIZE)
    spec = build.BuildSpec("fp32", False, SIZE, (1, 1, 2))
    with caplog.at_level(logging.WARNING, logger="gldpose_sdk"):
        built = build.build_engine((tmp_path / "model.onnx").read_bytes(), spec, name="model",
                                   timing_cache=tmp_path / "t.cache")
    assert engine_header(built.data)["profile"][2] == [2, 3, SIZE, SIZE]
    assert "could not start a timing cache" in caplog.text
    assert "no timing cache to save" in caplog.text and not (tmp_path / "t.cache").exists()


def test_tampered_cached_engine_is_refused(fakes: Fakes, tmp_path: Path) -> None:
    model_dir = _model_dir(tmp_path / "m")
    _load(fakes, model_dir).close()
    (engine,) = _engines(model_dir)
    engine.write_bytes(engine.read_bytes().replace(b'"tf32"', b'"tf32" ', 1))
    with pytest.raises(ManifestMismatchError, match="cached TensorRT engine") as info:
        _load(fakes, model_dir)
    assert "Delete both files" in str(info.value)
    assert fakes.trt_state.builds == 1 and fakes.trt_state.deserialized == 1


def test_unwritable_model_folder_caches_in_the_user_folder(
        fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model_dir = _model_dir(tmp_path / "m")
    monkeypatch.setenv("GLDPOSE_CACHE_DIR", str(tmp_path / "user-cache"))
    cache = fakes.module("cache")
    real = cache._can_write
    monkeypatch.setattr(cache, "_can_write", lambda folder: "user-cache" in str(folder)
                        and real(folder))
    _load(fakes, model_dir).close()
    assert not (model_dir / "tensorrt_engines").exists()
    assert len(_engines(tmp_path / "user-cache" / "tensorrt")) == 1
    _load(fakes, model_dir).close()
    assert fakes.trt_state.builds == 1


def test_no_writable_cache_folder_is_unavailable(fakes: Fakes, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fakes.module("cache"), "_can_write", lambda folder: False)
    with pytest.raises(BackendUnavailableError, match="GLDPOSE_CACHE_DIR") as info:
        _load(fakes, _model_dir(tmp_path / "m"))
    assert info.value.reason == "no writable folder for the TensorRT engine cache"
    assert fakes.trt_state.builds == 0


def test_engine_failing_parity_is_not_cached(fakes: Fakes, tmp_path: Path) -> None:
    model_dir = _model_dir(tmp_path / "m")
    fakes.trt_state.logit_offset = np.linspace(0, 40, 66, dtype=np.float32)  # tilts each angle
    with pytest.raises(BackendRuntimeError, match="differs from onnxruntime") as info:
        _load(fakes, model_dir)
    assert "artefact_precision='fp32'" in str(info.value)
    assert _engines(model_dir) == [] and fakes.cuda.memory == {}


def test_stored_reference_outputs_stand_in_for_onnxruntime(
        fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parity = fakes.module("parity")
    monkeypatch.setattr(parity, "is_installed", lambda name: False)
    model_dir = _model_dir(tmp_path / "m", reference=True)
    _load(fakes, model_dir).close()
    (engine,) = _engines(model_dir)
    record = json.loads(engine.with_name(engine.name + ".json").read_text())
    assert record["parity_reference"] == "stored reference outputs (model_reference.npz)"
    engine.unlink()
    fakes.trt_state.logit_offset = np.linspace(0, 40, 66, dtype=np.float32)
    with pytest.raises(BackendRuntimeError, match="stored reference outputs"):
        _load(fakes, model_dir)


def test_without_any_reference_the_engine_is_cached_unchecked(
        fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(fakes.module("parity"), "is_installed", lambda name: False)
    model_dir = _model_dir(tmp_path / "m")
    with caplog.at_level(logging.WARNING, logger="gldpose_sdk"):
        _load(fakes, model_dir).close()
    assert "parity of the new engine NOT checked" in caplog.text
    (engine,) = _engines(model_dir)
    assert json.loads(engine.with_name(engine.name + ".json").read_text())[
        "parity_reference"] == ""


def test_malformed_stored_reference_is_a_model_file_error(
        fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fakes.module("parity"), "is_installed", lambda name: False)
    model_dir = _model_dir(tmp_path / "m", reference=True)
    buf = io.BytesIO()
    np.savez(buf, inputs=np.zeros((2, 3, 8, 8), np.float32), logits=np.zeros((2, 3, 66)))
    (model_dir / "model_reference.npz").write_bytes(buf.getvalue())
    manifest = read_manifest(model_dir)
    art = make_artefact(model_dir, ("model.onnx", "model_reference.npz"), "onnx",
                        output="logits", batch_min_opt_max=(1, 8, 0))
    write_manifest(model_dir, manifest.with_artefact(art))
    with pytest.raises(ModelFileError, match="expected float32"):
        _load(fakes, model_dir)


def test_two_loaders_build_once(fakes: Fakes, tmp_path: Path) -> None:
    model_dir = _model_dir(tmp_path / "m")
    fakes.trt_state.build_delay_s = 0.5
    with ThreadPoolExecutor(2) as pool:
        loads = [pool.submit(_load, fakes, model_dir) for _ in range(2)]
        backends = [load.result() for load in loads]  # re-raises what a loader raised
    assert fakes.trt_state.builds == 1
    for backend in backends:
        backend.close()


def test_runtime_only_tensorrt_is_unavailable(fakes: Fakes, tmp_path: Path) -> None:
    del fakes.trt.Builder
    with pytest.raises(BackendUnavailableError, match="no builder") as info:
        _load(fakes, _model_dir(tmp_path / "m"))
    assert info.value.reason == "TensorRT builder not installed"


def test_unparseable_onnx_is_a_model_file_error(fakes: Fakes, tmp_path: Path) -> None:
    build = fakes.module("build")
    with pytest.raises(ModelFileError, match="could not parse model.onnx: ModelImporter"):
        build.build_engine(b"garbage", build.BuildSpec("fp32", False, SIZE, (1, 2, 4)),
                           name="model.onnx")


def test_build_spec_checks_its_values(fakes: Fakes) -> None:
    build = fakes.module("build")
    with pytest.raises(ValueError, match="fp32 or fp16"):
        build.BuildSpec("int8", False, SIZE, (1, 2, 4))
    with pytest.raises(ValueError, match="min <= opt <= max"):
        build.BuildSpec("fp16", False, SIZE, (4, 2, 8))


@pytest.fixture()
def trt11(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    """TensorRT 11: no FP16 builder flag (strong typing only)."""
    installed = install_fakes(monkeypatch, version="11.4.0.106", weak_fp16=False)
    yield installed
    forget_fakes()


def test_tensorrt11_builds_fp16_strongly_typed_from_the_fp16_onnx(trt11: Fakes,
                                                                  tmp_path: Path) -> None:
    model_dir = _model_dir(tmp_path / "m", fp16_onnx=True)
    backend = _load(trt11, model_dir)
    assert backend.describe().precision == "fp16"
    backend.close()
    (engine,) = _engines(model_dir)
    header = engine_header(engine.read_bytes())
    assert header["strongly_typed"] and header["precision"] == "fp16"
    manifest = read_manifest(model_dir)
    assert manifest.find("onnx", "fp16").sha256[:16] == engine.parent.name


def test_tensorrt11_without_fp16_onnx_builds_fp32_or_refuses_fp16(trt11: Fakes,
                                                                  tmp_path: Path) -> None:
    model_dir = _model_dir(tmp_path / "m")
    backend = _load(trt11, model_dir)
    assert backend.describe().precision == "fp32"
    backend.close()
    assert not trt11.trt_state.configs[0].get_flag(trt11.trt.BuilderFlag.TF32)
    with pytest.raises(BackendUnavailableError, match="FP16 ONNX"):
        _load(trt11, model_dir, artefact_precision="fp16")
