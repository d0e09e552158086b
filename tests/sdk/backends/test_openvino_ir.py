"""OpenVINO backend: precision option, devices, the IR's two files checked."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

ov = pytest.importorskip("openvino", reason="openvino not installed")

from gldpose_sdk.backends.openvino_ir import OpenVINOBackend  # noqa: E402
from gldpose_sdk.config import BackendOptions  # noqa: E402
from gldpose_sdk.errors import BackendUnavailableError, ManifestMismatchError  # noqa: E402
from gldpose_sdk.manifest import read_manifest  # noqa: E402


def _load(model_dir: Path, **options: object) -> OpenVINOBackend:
    return OpenVINOBackend.load(model_dir, read_manifest(model_dir), BackendOptions(**options))


def test_f32_precision_is_applied_and_reported(exported_model_dir: Path) -> None:
    with _load(exported_model_dir, openvino_precision="f32") as backend:
        info = backend.describe()
        out = backend.infer(np.zeros((3, 64, 64, 3), np.uint8))
    assert (info.name, info.precision) == ("openvino", "fp32")
    assert info.input_layout == "nhwc_uint8_bgr"   # normalisation folded in by OpenVINO
    assert "CPU" in info.device and info.artefact_path.endswith("model.xml")
    assert out.shape == (3, 3, 66)


def test_precision_hint_reaches_the_plugin(exported_model_dir: Path) -> None:
    caps = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    if "BF16" not in caps:
        pytest.skip("this CPU has no bf16 support in OpenVINO")
    with _load(exported_model_dir, openvino_precision="bf16") as backend:
        assert backend.describe().precision == "bf16"


def test_cuda_device_is_unavailable(exported_model_dir: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        _load(exported_model_dir, device="cuda")


def test_missing_gpu_device_is_unavailable(exported_model_dir: Path) -> None:
    if "GPU" in ov.Core().available_devices:
        pytest.skip("an OpenVINO GPU is present")
    with pytest.raises(BackendUnavailableError, match="GPU"):
        _load(exported_model_dir, device="gpu")


def test_tampered_weights_file(exported_model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(exported_model_dir, copy)
    weights = copy / "openvino" / "fp32" / "model.bin"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ManifestMismatchError, match="sha256"):
        _load(copy)
