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
    ManifestMismatchError,
    ModelFileError,
)
from gldpose_sdk.manifest import InputSpec, read_manifest  # noqa: E402


def test_reports_providers_applied(exported_model_dir: Path) -> None:
    manifest = read_manifest(exported_model_dir)
    with ONNXRuntimeBackend.load(exported_model_dir, manifest, BackendOptions(device="cpu")) as b:
        info = b.describe()
        out = b.infer(np.zeros((2, 3, 64, 64), np.float32))
    assert info.name == "onnxruntime" and "CPUExecutionProvider" in info.device
    assert info.runtime_version == ort.__version__
    assert info.artefact_path.endswith("model.onnx")
    assert out.shape == (2, 3, 66)


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
