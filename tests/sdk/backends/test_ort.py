"""ONNX Runtime backend: providers reported, device handling, artefact checks."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed")

from gldpose_sdk.backends.ort import ONNXRuntimeBackend  # noqa: E402
from gldpose_sdk.config import BackendOptions  # noqa: E402
from gldpose_sdk.errors import (  # noqa: E402
    BackendUnavailableError,
    InputError,
    ManifestMismatchError,
    ModelFileError,
)
from gldpose_sdk.manifest import InputSpec, read_manifest  # noqa: E402


def test_reports_providers_applied(exported_model_dir: Path) -> None:
    manifest = read_manifest(exported_model_dir)
    with ONNXRuntimeBackend.load(exported_model_dir, manifest, BackendOptions(device="cpu")) as b:
        info = b.describe()
        out = b.infer(np.zeros((2, 64, 64, 3), np.uint8))
    assert info.name == "onnxruntime" and "CPUExecutionProvider" in info.device
    assert info.runtime_version == ort.__version__
    assert out.shape == (2, 3, 66)


@pytest.mark.parametrize("listed, path, layout", [
    (("model.onnx", "model_u8.onnx"), "model_u8.onnx", "nhwc_uint8_bgr"),   # preferred
    (("model.onnx",), "model.onnx", "nchw_float"),
])
def test_runs_the_uint8_artefact_when_listed(exported_model_dir: Path, only_artefacts,
                                             listed: tuple, path: str, layout: str) -> None:  # type: ignore[no-untyped-def]
    manifest = only_artefacts(read_manifest(exported_model_dir), *listed)
    with ONNXRuntimeBackend.load(exported_model_dir, manifest, BackendOptions(device="cpu")) as b:
        info = b.describe()
        assert b.input_layout == info.input_layout == layout
        assert info.artefact_path.endswith("/" + path)
        assert info.artefact_sha256 == next(a.sha256 for a in manifest.artefacts if a.path == path)
        with pytest.raises(InputError):   # the other layout is refused, not misread
            b.infer(np.zeros((2, 3, 64, 64), np.float32) if layout == "nhwc_uint8_bgr"
                    else np.zeros((2, 64, 64, 3), np.uint8))


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(),
                    reason="CUDA provider present")
def test_cuda_without_provider_is_unavailable(exported_model_dir: Path) -> None:
    manifest = read_manifest(exported_model_dir)
    with pytest.raises(BackendUnavailableError) as info:
        ONNXRuntimeBackend.load(exported_model_dir, manifest, BackendOptions(device="cuda"))
    assert "CUDA" in info.value.reason


def test_manifest_input_size_mismatch(exported_model_dir: Path) -> None:
    manifest = dataclasses.replace(read_manifest(exported_model_dir),
                                   input=InputSpec(size_px=96))
    with pytest.raises(ManifestMismatchError, match="input shape"):
        ONNXRuntimeBackend.load(exported_model_dir, manifest, BackendOptions(device="cpu"))


def test_missing_artefact(tiny_model_dir: Path) -> None:
    with pytest.raises(ModelFileError, match="no onnx artefact"):
        ONNXRuntimeBackend.load(tiny_model_dir, read_manifest(tiny_model_dir), BackendOptions())


def _in_forked_child(work, timeout_s: float = 60.0):  # type: ignore[no-untyped-def]
    """``work()``'s result (or its exception's type and message) from a forked child."""
    import multiprocessing

    def child(conn) -> None:  # type: ignore[no-untyped-def]
        try:
            conn.send(("ok", work()))
        except Exception as exc:  # noqa: BLE001  (reported to the parent, which asserts on it)
            conn.send(("raised", type(exc).__name__, str(exc)))
        finally:
            conn.close()

    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=child, args=(send,), daemon=True)
    proc.start()
    send.close()
    try:
        if not receive.poll(timeout_s):
            pytest.fail(f"the forked child hung (killed after {timeout_s:g} s)")
        return receive.recv()
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(10)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork()")
def test_forked_child_runs_a_session_of_its_own(exported_model_dir: Path, tmp_path: Path) -> None:
    """The parent's session (and its thread pool) is never run in a forked child: the child
    opens its own from the re-verified artefact, and keeps the inherited one referenced."""
    import shutil

    from gldpose_sdk.backends import ort as ort_backend

    folder = tmp_path / "model"
    shutil.copytree(exported_model_dir, folder)
    manifest = read_manifest(folder)
    x = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), np.uint8)
    with ONNXRuntimeBackend.load(folder, manifest, BackendOptions(device="cpu")) as b:
        parent_out, parent_session = b.infer(x), b._session

        def work():  # type: ignore[no-untyped-def]
            out = b.infer(x)
            return (out, b._session is not parent_session,
                    any(s is parent_session for s in ort_backend._INHERITED_SESSIONS))

        report = _in_forked_child(work)
        assert report[0] == "ok", report
        out, replaced, kept = report[1]
        np.testing.assert_allclose(out, parent_out, atol=1e-5)
        assert replaced and kept
        assert b._session is parent_session   # the parent is untouched
        # a file swapped after the parent loaded it is refused in the child, not run
        artefact = Path(b.describe().artefact_path)
        artefact.write_bytes(artefact.read_bytes()[:-1] + b"\0")
        report = _in_forked_child(lambda: b.infer(x))
        assert report[0] == "raised" and report[1] == "ManifestMismatchError", report
        assert "sha256" in report[2]
        np.testing.assert_array_equal(b.infer(x), parent_out)   # the parent keeps its session
