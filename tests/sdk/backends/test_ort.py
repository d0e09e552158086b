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
