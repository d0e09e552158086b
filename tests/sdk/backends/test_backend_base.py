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
