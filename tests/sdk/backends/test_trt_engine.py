"""TensorRT backend with the real tensorrt and cuda-python, where they are installed.

Never the case on the machines so far; the behaviour is covered with fakes in
test_trt_engine_glue.py and test_tensorrt_build.py, and parity with PyTorch in test_parity.py.
"""
from __future__ import annotations

from pathlib import Path

import pytest

trt = pytest.importorskip("tensorrt", reason="tensorrt not installed")
pytest.importorskip("cuda.bindings", reason="cuda-python not installed")

from gldpose_sdk.backends.tensorrt.identity import EngineIdentity
from gldpose_sdk.backends.tensorrt.runtime import TensorRTBackend, _listed_engine
from gldpose_sdk.config import BackendOptions
from gldpose_sdk.errors import BackendUnavailableError
from gldpose_sdk.manifest import (
    Artefact,
    ArtefactFile,
    BuildTarget,
    RuntimeVersions,
    read_manifest,
)


def test_engine_for_another_gpu_is_not_picked(tiny_model_dir: Path) -> None:
    engine = Artefact(format="tensorrt", files=(ArtefactFile("model_fp16.engine", "0" * 64),),
                      precision="fp16", versions=RuntimeVersions(tensorrt=trt.__version__),
                      target=BuildTarget("Some Other GPU", "5.0"))
    manifest = read_manifest(tiny_model_dir).with_artefact(engine)
    here = EngineIdentity(trt.__version__, "NVIDIA H100 80GB HBM3", "9.0")
    assert _listed_engine(manifest, here, "auto") is None
    assert _listed_engine(manifest, EngineIdentity(trt.__version__, "Some Other GPU", "5.0"),
                          "auto") == engine


def test_cpu_device_is_unavailable(tiny_model_dir: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        TensorRTBackend.load(tiny_model_dir, read_manifest(tiny_model_dir),
                             BackendOptions(device="cpu"))
