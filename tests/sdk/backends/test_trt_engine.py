"""TensorRT backend: refuses engines built elsewhere or asked to run off a CUDA device.

Its parity with PyTorch runs in test_parity.py where tensorrt is installed.
"""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("tensorrt", reason="tensorrt not installed")
pytest.importorskip("cuda.bindings", reason="cuda-python not installed")

from gldpose_sdk.backends.tensorrt.runtime import TensorRTBackend, _pick_engine  # noqa: E402
from gldpose_sdk.config import BackendOptions  # noqa: E402
from gldpose_sdk.errors import BackendUnavailableError, ManifestMismatchError  # noqa: E402
from gldpose_sdk.manifest import Artefact, ArtefactFile, BuildTarget, RuntimeVersions, read_manifest  # noqa: E402


def test_engine_for_another_gpu_is_refused(tiny_model_dir: Path) -> None:
    import tensorrt as trt

    engine = Artefact(format="tensorrt", files=(ArtefactFile("model_fp16.engine", "0" * 64),),
                      precision="fp16", versions=RuntimeVersions(tensorrt=trt.__version__), target=BuildTarget("Some Other GPU", "5.0"))
    manifest = read_manifest(tiny_model_dir).with_artefact(engine)
    with pytest.raises(ManifestMismatchError, match="compute capability"):
        _pick_engine(manifest, ("NVIDIA H100 80GB HBM3", "9.0"))


def test_cpu_device_is_unavailable(tiny_model_dir: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        TensorRTBackend.load(tiny_model_dir, read_manifest(tiny_model_dir),
                             BackendOptions(device="cpu"))
