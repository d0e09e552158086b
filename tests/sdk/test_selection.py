"""backend="auto": preference order, fallbacks with logged reasons, explicit-name errors."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, ClassVar

import gldpose_sdk.backends as backends
import gldpose_sdk.selection as select
import pytest
from gldpose_sdk import PoseEstimator
from gldpose_sdk.backends.tensorrt.identity import check_engine_compat, engine_identity
from gldpose_sdk.config import BackendOptions, EstimatorConfig
from gldpose_sdk.errors import BackendUnavailableError, ManifestMismatchError
from gldpose_sdk.hardware import PlatformInfo
from gldpose_sdk.manifest import (
    Artefact,
    ArtefactFile,
    BuildTarget,
    RuntimeVersions,
    read_manifest,
)

CPU = PlatformInfo("cpu")
GPU = PlatformInfo("nvidia_gpu", ("NVIDIA H100 80GB HBM3",))
MODULE_OF = {"onnxruntime": "onnxruntime", "openvino": "openvino", "pytorch": "torch",
             "tensorrt": "tensorrt"}


def _mask(monkeypatch: pytest.MonkeyPatch, *hidden: str) -> None:
    """Make the packages of backends ``hidden`` look uninstalled."""
    real: Callable[[str], bool] = backends.is_installed
    gone = {MODULE_OF[h] for h in hidden}
    monkeypatch.setattr(backends, "is_installed", lambda m: m not in gone and real(m))


def test_preferences_name_only_registered_backends() -> None:
    for order in select.PREFERENCES.values():
        assert {name for name, _ in order} <= set(backends.BACKENDS)
    assert select.PREFERENCES["cpu"][0] == ("openvino", "cpu")
    assert select.PREFERENCES["nvidia_gpu"][0] == ("tensorrt", "cuda")


def test_cpu_auto_without_measuring_prefers_openvino(exported_model_dir: Path) -> None:
    """The fixed order (measurement off): OpenVINO first on a CPU. With measurement on, which
    runtime wins depends on the CPU, so that path is tested with timed fakes below."""
    pytest.importorskip("openvino", reason="openvino not installed")
    with PoseEstimator(exported_model_dir, detector="none", platform=CPU,
                       config=EstimatorConfig(measure_backends=False)) as est:
        info = est.describe()
    assert (info.backend.name, info.requested_backend, info.skipped) == ("openvino", "auto", ())
    assert info.timings_ms == () and info.timing_source == ""


class _TimedFake:
    """A backend stand-in: checks it is fed its own layout, then sleeps ``delays`` in turn."""

    def __init__(self, layout: str, delays_ms: list[float], size: int) -> None:
        self.input_layout, self.delays, self.size, self.calls = layout, delays_ms, size, 0

    def infer(self, batch):
        shape = (1, self.size, self.size, 3) if self.input_layout == "nhwc_uint8_bgr" \
            else (1, 3, self.size, self.size)
        assert batch.shape == shape
        assert batch.dtype == ("uint8" if self.input_layout == "nhwc_uint8_bgr" else "float32")
        time.sleep(self.delays[min(self.calls, len(self.delays) - 1)] / 1e3)
        self.calls += 1


def test_time_backends_takes_side_by_side_minima_from_a_uint8_crop(
        exported_model_dir: Path) -> None:
    """A burst of slowness in some runs (a shared machine) does not decide: each candidate's
    minimum does, and every candidate is fed the crop converted to its own layout."""
    from gldpose_sdk.backend_timing import time_backends

    spec = read_manifest(exported_model_dir).input
    # the faster network is slowed by 30 ms through its whole first timed block (after 2 warm-ups)
    bursty = _TimedFake("nchw_float", [1.0] * 2 + [30.0] * 5 + [1.0], spec.size_px)
    steady = _TimedFake("nhwc_uint8_bgr", [4.0], spec.size_px)
    fast, slow = time_backends([bursty, steady], spec, warmup=2, rounds=2, block=5, settle=2)
    assert bursty.calls == steady.calls == 2 + 2 * 5
    assert 1.0 <= fast < 4.0 <= slow < 30.0


class _SpunFake(_TimedFake):
    """A runtime whose calls are slowed right after another runtime ran (its threads spinning)."""

    last: ClassVar[list] = [None]

    def __init__(self, layout: str, ms: float, after_switch_ms: float, slowed_calls: int,
                 size: int) -> None:
        super().__init__(layout, [ms], size)
        self.after_switch_ms, self.slowed_calls, self._since_switch = \
            after_switch_ms, slowed_calls, 0

    def infer(self, batch):
        self._since_switch = 0 if _SpunFake.last[0] is not self else self._since_switch + 1
        _SpunFake.last[0] = self
        if self._since_switch < self.slowed_calls:
            time.sleep(self.after_switch_ms / 1e3)
        super().infer(batch)


def test_time_backends_is_not_fooled_by_the_other_runtimes_spinning_threads(
        exported_model_dir: Path) -> None:
    """Measured call by call in turn, a runtime slowed for a few calls after the other one ran
    looks slower than it is alone (how ONNX Runtime's spinning threads made OpenVINO look 1.5 ms
    where it takes 0.62 ms alone). Timing only the settled calls of each block ranks them as
    they run alone; with no settled calls (settle 0, block 1: call by call) the ranking flips."""
    from gldpose_sdk.backend_timing import time_backends

    spec = read_manifest(exported_model_dir).input
    fast = _SpunFake("nchw_float", 2.0, after_switch_ms=8.0, slowed_calls=3, size=spec.size_px)
    slow = _SpunFake("nhwc_uint8_bgr", 5.0, after_switch_ms=0.0, slowed_calls=0,
                     size=spec.size_px)
    settled = time_backends([fast, slow], spec, warmup=1, rounds=2, block=6, settle=3)
    assert settled[0] < 5.0 <= settled[1]
    call_by_call = time_backends([fast, slow], spec, warmup=1, rounds=4, block=1, settle=0)
    assert call_by_call[0] >= 10.0 > call_by_call[1]
    with pytest.raises(ValueError, match="settle"):
        time_backends([fast], spec, block=4, settle=4)


def test_masked_openvino_falls_back_to_onnxruntime(
        exported_model_dir: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
    _mask(monkeypatch, "openvino")
    with caplog.at_level(logging.INFO, logger="gldpose_sdk.select"):
        est = PoseEstimator(exported_model_dir, detector="none", platform=CPU)
    info = est.describe()
    est.close()
    assert info.backend.name == "onnxruntime"
    assert info.skipped == (("openvino", "cpu", "openvino not installed"),)
    skips = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert skips == ["gldpose backend: skipping openvino on cpu: openvino not installed"]


def test_missing_artefacts_fall_back_to_pytorch(tiny_model_dir: Path) -> None:
    with PoseEstimator(tiny_model_dir, detector="none", platform=CPU) as est:
        info = est.describe()
    assert info.backend.name == "pytorch"
    reasons = {name: reason for name, _, reason in info.skipped}
    assert "no openvino artefact" in reasons["openvino"] or "not installed" in reasons["openvino"]
    assert "no onnx artefact" in reasons["onnxruntime"] or "not installed" in reasons["onnxruntime"]


def test_gpu_platform_steps_down_to_cpu_with_reasons(
        exported_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a GPU machine without TensorRT and without working CUDA runtimes, CPU backends run."""
    pytest.importorskip("openvino", reason="openvino not installed")
    _mask(monkeypatch, "tensorrt")
    monkeypatch.setattr(select, "load_backend_class", _refuse_cuda(select.load_backend_class))
    with PoseEstimator(exported_model_dir, detector="none", platform=GPU) as est:
        info = est.describe()
    assert info.platform == "nvidia_gpu" and info.backend.name == "openvino"
    assert [(n, d) for n, d, _ in info.skipped] == [("tensorrt", "cuda"), ("onnxruntime", "cuda"),
                                                    ("pytorch", "cuda")]
    assert info.skipped[0][2] == "tensorrt not installed"


def _refuse_cuda(real: Callable[[str], type]) -> Callable[[str], type]:
    """Wrap backend classes so that a CUDA device is refused, as on a machine without one."""
    def load_class(name: str) -> type:
        cls = real(name)

        class NoCuda(cls):  # type: ignore[misc, valid-type]
            @classmethod
            def load(klass, model_dir, manifest, options):  # type: ignore[no-untyped-def]
                if options.device.startswith("cuda"):
                    raise BackendUnavailableError("no CUDA here", reason="no CUDA device")
                return cls.load(model_dir, manifest, options)
        return NoCuda
    return load_class


def test_engine_built_for_another_gpu_is_skipped(
        exported_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine for another GPU that cannot be rebuilt here is a missing-device reason: the
    TensorRT backend reports it as BackendUnavailableError, and it reaches describe()."""
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
    engine = Artefact(format="tensorrt", files=(ArtefactFile("model_fp16.engine", "0" * 64),),
                      precision="fp16", versions=RuntimeVersions(tensorrt="10.3.0"), target=BuildTarget("NVIDIA A100", "8.0"))
    manifest = read_manifest(exported_model_dir).with_artefact(engine)
    monkeypatch.setattr(backends, "is_installed", lambda m: True)

    class FakeTensorRT:
        @classmethod
        def load(cls, model_dir, manifest, options):  # type: ignore[no-untyped-def]
            check_engine_compat(engine_identity(engine), ("10.3.0", "NVIDIA H100", "9.0"),
                                engine.path)

    real = select.load_backend_class
    monkeypatch.setattr(select, "load_backend_class",
                        lambda n: FakeTensorRT if n == "tensorrt" else _refuse_cuda(real)(n))
    backend, sel = select.select_backend(exported_model_dir, manifest, "auto",
                                         BackendOptions(), GPU)
    backend.close()
    assert sel.skipped[0][0] == "tensorrt" and "compute capability" in sel.skipped[0][2]
    assert sel.chosen[0] in backends.BACKENDS


def test_explicit_unavailable_backend_raises_with_reason(
        exported_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _mask(monkeypatch, "openvino")
    with pytest.raises(BackendUnavailableError) as info:
        PoseEstimator(exported_model_dir, backend="openvino", detector="none", platform=CPU)
    assert info.value.reason == "openvino not installed"
    assert "openvino" in str(info.value)


def test_explicit_backend_without_artefact(tiny_model_dir: Path) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
    with pytest.raises(BackendUnavailableError, match="no onnx artefact"):
        PoseEstimator(tiny_model_dir, backend="onnxruntime", detector="none")


def test_unknown_backend_lists_valid_names(tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError) as info:
        PoseEstimator(tiny_model_dir, backend="tflite", detector="none")
    for name in backends.BACKENDS:
        assert name in str(info.value)


def test_nothing_available(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _mask(monkeypatch, *MODULE_OF)
    with pytest.raises(BackendUnavailableError, match="no backend can run"):
        PoseEstimator(tiny_model_dir, detector="none", platform=CPU)


def test_explicit_device_applies_to_every_candidate(tiny_model_dir: Path) -> None:
    order = select._candidates(GPU, "cpu")
    assert all(device == "cpu" for _, device in order)
    assert [n for n, _ in order][:3] == ["tensorrt", "onnxruntime", "pytorch"]
    assert select._candidates(CPU, "auto") == select.PREFERENCES["cpu"]


def test_missing_packages_does_not_import(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.delitem(sys.modules, "onnxruntime", raising=False)
    backends.missing_packages("onnxruntime")
    assert "onnxruntime" not in sys.modules


@pytest.mark.parametrize("error", ["tampered", "runtime"])
def test_auto_raises_instead_of_falling_back_on_integrity_or_runtime_failure(
        exported_model_dir: Path, monkeypatch: pytest.MonkeyPatch, error: str) -> None:
    """Only a missing runtime or device moves "auto" to the next backend; a tampered artefact
    or a runtime crashing while loading is raised, whichever backend it hits first."""
    from gldpose_sdk.errors import BackendRuntimeError

    class Broken:
        @classmethod
        def load(cls, model_dir, manifest, options):  # type: ignore[no-untyped-def]
            if error == "tampered":
                raise ManifestMismatchError("sha256 of model.xml differs")
            raise RuntimeError("plugin crashed")

    real = select.load_backend_class
    monkeypatch.setattr(select, "load_backend_class",
                        lambda n: Broken if n == "openvino" else real(n))
    expected = ManifestMismatchError if error == "tampered" else BackendRuntimeError
    with pytest.raises(expected):
        select.select_backend(exported_model_dir, read_manifest(exported_model_dir), "auto",
                              BackendOptions(), CPU)


def test_auto_measures_candidates_and_reuses_the_cache(
        exported_model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("openvino", reason="openvino not installed")
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
    from gldpose_sdk.backend_timing import TimingCache

    cache = TimingCache(tmp_path)
    manifest = read_manifest(exported_model_dir)
    backend, sel = select.select_backend(exported_model_dir, manifest, "auto",
                                         BackendOptions(), CPU, cache)
    backend.close()
    assert sel.timing_source == "measured"
    assert {n for n, _, _ in sel.timings_ms} == {"openvino", "onnxruntime"}
    fastest = min(sel.timings_ms, key=lambda t: t[2])
    assert sel.chosen == (fastest[0], fastest[1])
    assert (tmp_path / "backend_timings.json").is_file()
    again, sel2 = select.select_backend(exported_model_dir, manifest, "auto",
                                        BackendOptions(), CPU, cache)
    again.close()
    assert sel2.timing_source == "cache" and sel2.chosen == sel.chosen
    assert sel2.timings_ms == sel.timings_ms


class _Threaded:
    """A backend stand-in whose batch-1 time depends on its name and ``num_threads``."""

    ms: ClassVar[dict[tuple[str, int], float]] = {}
    made: ClassVar[list["_Threaded"]] = []
    input_layout = "nhwc_uint8_bgr"

    def __init__(self, name: str, options: BackendOptions) -> None:
        self.name, self.threads, self.calls, self.closed = name, options.num_threads, 0, False
        _Threaded.made.append(self)

    def infer(self, batch):  # type: ignore[no-untyped-def]
        self.calls += 1
        time.sleep(_Threaded.ms[(self.name, min(self.threads, 1))] / 1e3)  # 2+: as default

    def close(self) -> None:
        self.closed = True


def _threaded_runtimes(monkeypatch: pytest.MonkeyPatch, ms: dict[tuple[str, int], float]
                       ) -> None:
    """openvino and onnxruntime become :class:`_Threaded` fakes with these timings."""
    _Threaded.ms, _Threaded.made = ms, []

    def fake_class(name: str):  # type: ignore[no-untyped-def]
        class Fake:
            @classmethod
            def load(cls, model_dir, manifest, options):  # type: ignore[no-untyped-def]
                return _Threaded(name, options)
        return Fake

    monkeypatch.setattr(select, "load_backend_class", fake_class)
    monkeypatch.setattr(select, "unavailable_reason",
                        lambda n, m: None if n in ("openvino", "onnxruntime") else "masked")
    monkeypatch.setattr(select.os, "cpu_count", lambda: 2)


def test_auto_keeps_one_thread_when_it_is_faster_and_caches_it(
        exported_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gldpose_sdk.backend_timing import TimingCache

    _threaded_runtimes(monkeypatch, {("openvino", 0): 3.0, ("openvino", 1): 1.5,
                                     ("onnxruntime", 0): 6.0, ("onnxruntime", 1): 6.0})
    cache, manifest = TimingCache(tmp_path), read_manifest(exported_model_dir)
    chosen, sel = select.select_backend(exported_model_dir, manifest, "auto", BackendOptions(),
                                        CPU, cache)
    assert (chosen.name, chosen.threads) == ("openvino", 1) and not chosen.closed
    assert sel.chosen == ("openvino", "cpu") and sel.num_threads == 1
    assert [n for n, _ in sel.thread_timings_ms] == [0, 1]
    default_ms, one_ms = (ms for _, ms in sel.thread_timings_ms)
    assert 1.5 <= one_ms < 3.0 <= default_ms
    assert all(b.closed for b in _Threaded.made if b is not chosen)   # nothing else left open
    # the next estimator loads only the winner, with one thread, and measures nothing
    _Threaded.made = []
    again, sel2 = select.select_backend(exported_model_dir, manifest, "auto", BackendOptions(),
                                        CPU, cache)
    assert [(b.name, b.threads) for b in _Threaded.made] == [("openvino", 1)]
    assert again.calls == 0 and sel2.timing_source == "cache"
    assert (sel2.num_threads, sel2.thread_timings_ms) == (1, sel.thread_timings_ms)


def test_auto_keeps_the_default_threads_on_a_tie_or_when_told(
        exported_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = read_manifest(exported_model_dir)
    _threaded_runtimes(monkeypatch, {("openvino", 0): 2.0, ("openvino", 1): 2.0,
                                     ("onnxruntime", 0): 6.0, ("onnxruntime", 1): 1.0})
    chosen, sel = select.select_backend(exported_model_dir, manifest, "auto", BackendOptions(),
                                        CPU)
    assert (chosen.name, chosen.threads, sel.num_threads) == ("openvino", 0, 0)
    assert len(sel.thread_timings_ms) == 2      # compared, and one thread did not win by 5 %
    assert all(b.closed for b in _Threaded.made if b is not chosen)
    # a thread count asked for is never second-guessed, nor on a single-core machine
    _Threaded.made = []
    chosen, sel = select.select_backend(exported_model_dir, manifest, "auto",
                                        BackendOptions(num_threads=2), CPU)
    assert {b.threads for b in _Threaded.made} == {2} and sel.thread_timings_ms == ()
    monkeypatch.setattr(select.os, "cpu_count", lambda: 1)
    _Threaded.made = []
    chosen, sel = select.select_backend(exported_model_dir, manifest, "auto", BackendOptions(),
                                        CPU)
    assert {b.threads for b in _Threaded.made} == {0} and sel.thread_timings_ms == ()
