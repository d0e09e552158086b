"""The Backend base class: input/output checks, batch splitting, errors, close, thread safety."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from gldpose_sdk.backends.base import Backend, BackendInfo, check_model_fits
from gldpose_sdk.config import BackendOptions
from gldpose_sdk.errors import BackendRuntimeError, InputError, ManifestMismatchError
from gldpose_sdk.manifest import Artefact, ArtefactFile, InputSpec, Manifest

SIZE = 32
MANIFEST = Manifest(backbone="resnet18", input=InputSpec(size_px=SIZE))
ARTEFACT = Artefact(format="onnx", files=(ArtefactFile("model.onnx", "ab" * 32),))


class EchoBackend(Backend):
    """Logits = per-sample mean of the input, broadcast; records the batch sizes it ran."""

    name = "echo"

    def __init__(self, options: BackendOptions, mode: str = "ok") -> None:
        super().__init__(MANIFEST, ARTEFACT, Path("model.onnx"), options, runtime_version="0",
                         device="cpu", precision="fp32")
        self.mode = mode
        self.calls: list[int] = []
        self.active = 0
        self.max_active = 0
        self.closed_count = 0

    @classmethod
    def load(cls, model_dir: Path, manifest: Manifest, options: BackendOptions) -> "EchoBackend":
        return cls(options)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        time.sleep(0.001)
        self.active -= 1
        self.calls.append(batch.shape[0])
        n = batch.shape[0]
        if self.mode == "raise":
            raise RuntimeError("device lost")
        if self.mode == "shape":
            return np.zeros((n, 3, 10), np.float32)
        out = np.broadcast_to(batch.mean(axis=(1, 2, 3))[:, None, None], (n, 3, 66)).copy()
        if self.mode == "nan":
            out[0, 0, 0] = np.nan
        return out


def _batch(n: int) -> np.ndarray:
    return np.random.default_rng(n).standard_normal((n, 3, SIZE, SIZE)).astype(np.float32)


def test_infer_splits_above_max_batch_and_keeps_order() -> None:
    backend = EchoBackend(BackendOptions(max_batch=4))
    x = _batch(10)
    out = backend.infer(x)
    assert backend.calls == [4, 4, 2]
    assert out.shape == (10, 3, 66) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0, 0], x.mean(axis=(1, 2, 3)), rtol=1e-6)


@pytest.mark.parametrize("bad, phrase", [
    (np.zeros((2, 3, SIZE, SIZE), np.float64), "float32"),
    (np.zeros((2, SIZE, SIZE, 3), np.float32), "shape [N, 3, 32, 32]"),
    (np.zeros((3, SIZE, SIZE), np.float32), "shape"),
    (np.zeros((0, 3, SIZE, SIZE), np.float32), "empty"),
    (np.zeros((2, 3, SIZE, SIZE * 2), np.float32)[:, :, :, ::2], "C-contiguous"),
    ([[0.0]], "numpy array"),
])
def test_infer_rejects_bad_input(bad: object, phrase: str) -> None:
    with pytest.raises(InputError) as info:
        EchoBackend(BackendOptions()).infer(bad)  # type: ignore[arg-type]
    assert phrase in str(info.value)


@pytest.mark.parametrize("mode, phrase", [("nan", "NaN"), ("shape", "shape"),
                                          ("raise", "device lost")])
def test_bad_output_or_runtime_failure_is_backend_runtime_error(mode: str, phrase: str) -> None:
    with pytest.raises(BackendRuntimeError) as info:
        EchoBackend(BackendOptions(), mode=mode).infer(_batch(2))
    assert phrase in str(info.value)
    if mode == "raise":
        assert isinstance(info.value.__cause__, RuntimeError)


def test_close_is_idempotent_and_blocks_infer() -> None:
    backend = EchoBackend(BackendOptions())
    backend.close()
    backend.close()
    assert backend.is_closed
    with pytest.raises(BackendRuntimeError, match="closed"):
        backend.infer(_batch(1))


def test_describe_is_frozen_info() -> None:
    info = EchoBackend(BackendOptions(max_batch=8)).describe()
    assert isinstance(info, BackendInfo)
    assert (info.name, info.max_batch, info.artefact_sha256) == ("echo", 8, "ab" * 32)
    with pytest.raises(AttributeError):
        info.name = "x"  # type: ignore[misc]


def test_infer_is_serialised_across_threads() -> None:
    backend = EchoBackend(BackendOptions(max_batch=2))
    x = _batch(6)
    expected = backend.infer(x)
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(backend.infer(x))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert backend.max_active == 1
    assert len(results) == 6 and all(np.array_equal(r, expected) for r in results)


def test_check_model_fits_names_the_difference() -> None:
    check_model_fits(MANIFEST, ("N", 3, SIZE, SIZE), (None, 3, 66), "x.onnx")
    with pytest.raises(ManifestMismatchError, match="input shape"):
        check_model_fits(MANIFEST, (1, 3, 224, 224), (1, 3, 66), "x.onnx")
    with pytest.raises(ManifestMismatchError, match="output shape"):
        check_model_fits(MANIFEST, (1, 3, SIZE, SIZE), (1, 3, 62), "x.onnx")


class U8Echo(EchoBackend):
    """The echo backend taking uint8 NHWC BGR crops, with its own batch limit."""

    def __init__(self, options: BackendOptions, max_batch: int | None = None) -> None:
        Backend.__init__(self, MANIFEST, ARTEFACT, Path("m/model_u8.onnx"), options,
                         runtime_version="1.2", device="cpu (x)", precision="fp16",
                         max_batch=max_batch, input_layout="nhwc_uint8_bgr")
        self.mode, self.calls, self.active, self.max_active = "ok", [], 0, 0

    def _run(self, batch: np.ndarray) -> np.ndarray:
        self.calls.append(batch.shape[0])
        n = batch.shape[0]
        return np.broadcast_to(batch.mean(axis=(1, 2, 3))[:, None, None], (n, 3, 66)).copy()


def test_construction_records_what_it_was_given() -> None:
    options = BackendOptions(max_batch=8)
    backend = U8Echo(options, max_batch=3)
    assert backend.manifest is MANIFEST and backend.options is options
    assert backend.max_batch == 3 and backend.is_closed is False
    assert backend.input_layout == "nhwc_uint8_bgr"
    assert backend.describe() == BackendInfo("echo", "1.2", "cpu (x)", "fp16",
                                             str(Path("m/model_u8.onnx")), "ab" * 32, 3,
                                             "nhwc_uint8_bgr")
    assert backend.describe().to_dict() == {
        "name": "echo", "runtime_version": "1.2", "device": "cpu (x)", "precision": "fp16",
        "artefact_path": str(Path("m/model_u8.onnx")), "artefact_sha256": "ab" * 32,
        "max_batch": 3, "input_layout": "nhwc_uint8_bgr"}
    assert U8Echo(BackendOptions(max_batch=1)).max_batch == 1
    assert U8Echo(BackendOptions(max_batch=2), max_batch=9).max_batch == 2
    with pytest.raises(ValueError, match="input_layout must be one of .* got 'nchw'"):
        Backend.__init__(U8Echo.__new__(U8Echo), MANIFEST, ARTEFACT, Path("x"),
                         BackendOptions(), runtime_version="0", device="cpu",
                         precision="fp32", input_layout="nchw")


@pytest.mark.parametrize("n, calls", [(3, [3]), (8, [4, 4])])
def test_one_or_two_chunks_come_back_whole(n: int, calls: list) -> None:
    backend = U8Echo(BackendOptions(max_batch=4))
    x = np.random.default_rng(n).integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)
    out = backend.infer(x)
    assert backend.calls == calls and out.shape == (n, 3, 66) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 2, 5], x.mean(axis=(1, 2, 3)), rtol=1e-6)


@pytest.mark.parametrize("bad, phrase", [
    (np.zeros((2, SIZE, SIZE, 3), np.float32),
     r"^batch must be uint8 \(NHWC uint8 BGR crops\), got float32$"),
    (np.zeros((2, SIZE, SIZE, 4), np.uint8),
     r"^batch must have shape \[N, 32, 32, 3\] \(NHWC uint8 BGR crops\), got \(2, 32, 32, 4\)$"),
    (np.zeros((0, SIZE, SIZE, 3), np.uint8), r"^batch is empty \(N = 0\)$"),
    (np.zeros((2, SIZE, SIZE * 2, 3), np.uint8)[:, :, ::2],
     r"^batch must be C-contiguous \(use np\.ascontiguousarray\)$"),
    ((1, 2), r"^batch must be a numpy array, got tuple$"),
])
def test_uint8_layout_checks(bad: object, phrase: str) -> None:
    with pytest.raises(InputError, match=phrase):
        U8Echo(BackendOptions()).infer(bad)  # type: ignore[arg-type]


def test_float_layout_messages_name_the_layout() -> None:
    with pytest.raises(InputError, match=r"^batch must be float32 \(normalised NCHW float32\), "
                                         r"got uint8$"):
        EchoBackend(BackendOptions()).infer(np.zeros((1, 3, SIZE, SIZE), np.uint8))


def test_runtime_failure_message_names_the_chunk() -> None:
    with pytest.raises(BackendRuntimeError, match=r"^echo failed on a batch of 2: device lost$"):
        EchoBackend(BackendOptions(max_batch=2), mode="raise").infer(_batch(5))
    with pytest.raises(BackendRuntimeError, match=r"^echo returned NaN or Inf logits; with fp16 "
                                                  r"this means overflow: try an fp32 artefact"):
        EchoBackend(BackendOptions(), mode="nan").infer(_batch(1))


def test_example_input_matches_the_layout() -> None:
    f = EchoBackend(BackendOptions()).example_input(2)
    assert f.shape == (2, 3, SIZE, SIZE) and f.dtype == np.float32 and not f.any()
    u = U8Echo(BackendOptions()).example_input()
    assert u.shape == (1, SIZE, SIZE, 3) and u.dtype == np.uint8 and np.all(u == 128)


def _art(path: str, precision: str = "fp32", layout: str = "nchw_float",
         fmt: str = "onnx") -> Artefact:
    return Artefact(format=fmt, files=(ArtefactFile(path, "0" * 64),), precision=precision,
                    input_layout=layout)


PICK = Manifest(backbone="resnet18", artefacts=(
    _art("a_fp16.onnx", "fp16"), _art("b.onnx"), _art("c_u8.onnx", layout="nhwc_uint8_bgr"),
    _art("d_int8.onnx", "int8"), _art("ov/m.xml", "bf16", fmt="openvino")))


@pytest.mark.parametrize("precision, prefer, layouts, path", [
    ("auto", ("fp32", "fp16"), ("nchw_float",), "b.onnx"),
    ("auto", ("fp16", "fp32"), ("nchw_float",), "a_fp16.onnx"),
    ("auto", ("fp32",), ("nhwc_uint8_bgr", "nchw_float"), "c_u8.onnx"),
    ("auto", ("fp32",), ("nchw_float", "nhwc_uint8_bgr"), "b.onnx"),
    ("int8", ("fp32",), ("nchw_float",), "d_int8.onnx"),
    ("fp16", ("fp32",), ("nhwc_uint8_bgr", "nchw_float"), "a_fp16.onnx"),
])
def test_pick_artefact(precision: str, prefer: tuple, layouts: tuple, path: str) -> None:
    from gldpose_sdk.backends.base import pick_artefact

    assert pick_artefact(PICK, "onnx", precision, prefer=prefer, layouts=layouts).path == path


def test_pick_artefact_says_what_is_missing() -> None:
    from gldpose_sdk.backends.base import pick_artefact
    from gldpose_sdk.errors import ModelFileError

    assert pick_artefact(PICK, "openvino", prefer=("fp32", "bf16")).path == "ov/m.xml"
    with pytest.raises(ModelFileError, match=r"^the manifest lists no onnx artefact in int8 with "
                                             r"an input layout of nhwc_uint8_bgr$"):
        pick_artefact(PICK, "onnx", "int8", layouts=("nhwc_uint8_bgr",))
    with pytest.raises(ModelFileError, match=r"manifest lists no openvino artefact "
                                             r"\(precision=fp32"):
        pick_artefact(PICK, "openvino", "fp32")
    with pytest.raises(ModelFileError, match=r"^the manifest lists no onnx artefact in bf16 "
                                             r"with an input layout of nchw_float$"):
        pick_artefact(PICK, "onnx", prefer=("bf16",))
    assert pick_artefact(PICK, "onnx").path == "b.onnx"            # defaults: fp32 first, float
    with pytest.raises(ModelFileError, match=r"^the manifest lists no onnx artefact in bf16/fp8 "
                                             r"with an input layout of nchw_float/nhwc_uint8_bgr$"):
        pick_artefact(PICK, "onnx", prefer=("bf16", "fp8"),
                      layouts=("nchw_float", "nhwc_uint8_bgr"))


def test_check_model_fits_layouts_ranks_and_dynamic_axes() -> None:
    check_model_fits(MANIFEST, (-1, SIZE, SIZE, 3), (0, 3, 66), "u8.onnx",
                     layout="nhwc_uint8_bgr")
    check_model_fits(MANIFEST, (0, 3, SIZE, SIZE), ("N", 3, 66), "x.onnx")
    with pytest.raises(ManifestMismatchError, match=r"^u8\.onnx has input shape \(1, 3, 32, 32\), "
                                                    r"the manifest expects \('N', 32, 32, 3\); "
                                                    r"the artefact belongs to another model or "
                                                    r"export: re-export it$"):
        check_model_fits(MANIFEST, (1, 3, SIZE, SIZE), (1, 3, 66), "u8.onnx",
                         layout="nhwc_uint8_bgr")
    with pytest.raises(ManifestMismatchError, match=r"input shape \(1, 32, 32\), the manifest "
                                                    r"expects \('N', 3, 32, 32\)"):
        check_model_fits(MANIFEST, (1, SIZE, SIZE), (1, 3, 66), "x.onnx")
    with pytest.raises(ManifestMismatchError, match=r"input shape \(1, 1, 32, 32\)"):
        check_model_fits(MANIFEST, (1, 1, SIZE, SIZE), (1, 3, 66), "x.onnx")
    check_model_fits(MANIFEST, (1, 0, SIZE, SIZE), (1, 3, 0), "x.onnx")   # 0: not fixed


def test_check_finite_false_skips_only_the_nan_scan() -> None:
    """For a caller whose decode scans the logits itself (the estimator): NaN comes back as
    it is, a wrong shape is still refused."""
    out = EchoBackend(BackendOptions(), mode="nan").infer(_batch(1), check_finite=False)
    assert np.isnan(out[0, 0, 0]) and np.isfinite(out[0, 1:]).all()
    with pytest.raises(BackendRuntimeError, match="shape"):
        EchoBackend(BackendOptions(), mode="shape").infer(_batch(1), check_finite=False)
