"""PyTorch backend: CPU fp32, CUDA fp16 (gpu marker), device errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed")

from gldpose_sdk.backends.torch_eager import PyTorchBackend  # noqa: E402
from gldpose_sdk.config import BackendOptions  # noqa: E402
from gldpose_sdk.decode import decode_logits  # noqa: E402
from gldpose_sdk.errors import BackendUnavailableError  # noqa: E402
from gldpose_sdk.manifest import read_manifest  # noqa: E402
from gldpose_sdk.model import load_model  # noqa: E402
from gldpose_sdk.preprocess import normalise  # noqa: E402


def test_cpu_matches_the_module(tiny_model_dir: Path) -> None:
    crops = np.random.default_rng(0).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    model, manifest = load_model(tiny_model_dir)
    rgb = np.ascontiguousarray(crops[..., ::-1])
    with torch.inference_mode():
        expected = model(torch.from_numpy(normalise(rgb, manifest.input))).numpy()
    with PyTorchBackend.load(tiny_model_dir, manifest, BackendOptions(device="cpu",
                                                                    max_batch=2)) as backend:
        got = backend.infer(crops)
        info = backend.describe()
    # Logits span about +-100 here; float32 rounding differs with the order of operations.
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-3)
    centres = manifest.bins.centres_deg()
    angles = decode_logits(got, centres)[0]
    np.testing.assert_allclose(angles, decode_logits(expected, centres)[0], rtol=0, atol=1e-3)
    assert np.all(np.ptp(angles, axis=0) > 5.0)
    assert (info.name, info.precision) == ("pytorch", "fp32")


def test_gpu_device_name_is_openvinos(tiny_model_dir: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="cuda"):
        PyTorchBackend.load(tiny_model_dir, read_manifest(tiny_model_dir),
                          BackendOptions(device="gpu"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_device_is_unavailable(tiny_model_dir: Path) -> None:
    with pytest.raises(BackendUnavailableError) as info:
        PyTorchBackend.load(tiny_model_dir, read_manifest(tiny_model_dir),
                          BackendOptions(device="cuda"))
    assert "CUDA" in info.value.reason


@pytest.mark.gpu
def test_cuda_fp16_close_to_cpu(tiny_model_dir: Path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    manifest = read_manifest(tiny_model_dir)
    x = np.random.default_rng(1).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
    centres = manifest.bins.centres_deg()
    with PyTorchBackend.load(tiny_model_dir, manifest, BackendOptions(device="cpu")) as cpu:
        ref = decode_logits(cpu.infer(x), centres)[0]
    with PyTorchBackend.load(tiny_model_dir, manifest, BackendOptions(device="cuda")) as gpu:
        info = gpu.describe()
        got = decode_logits(gpu.infer(x), centres)[0]
    assert info.precision == "fp16" and info.device.startswith("cuda:0")
    assert np.abs(got - ref).max() <= 0.5
