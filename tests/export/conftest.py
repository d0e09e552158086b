"""Export fixtures: the tiny model exported once per session (ONNX, OpenVINO FP32/FP16)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="torch not installed (pip install .[export])")
pytest.importorskip("onnx", reason="onnx not installed (pip install .[export])")


@pytest.fixture(scope="session")
def exported_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny_model_dir`` exported with the default (dynamo) exporter to ONNX and OpenVINO."""
    pytest.importorskip("openvino", reason="openvino not installed (pip install .[openvino])")
    from gldpose_export.cli import run_export
    from gldpose_export.config import ExportConfig

    out = tmp_path_factory.mktemp("exported")
    run_export(ExportConfig(checkpoint=tiny_model_dir, out_dir=out,
                            formats=("onnx", "openvino"), fp16=True))
    return out


@pytest.fixture(scope="session")
def parity_report(exported_dir: Path):
    """Verification of ``exported_dir`` (raises nothing; tests read its rows)."""
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
    from gldpose_export.verify import verify_model_dir

    return verify_model_dir(exported_dir, n_random=6, n_crops=6, raise_on_failure=False)


@pytest.fixture()
def small_copy(exported_dir: Path, tmp_path: Path):
    """Copy chosen artefacts of ``exported_dir`` (plus weights) into a fresh model folder."""
    from gldpose_sdk.manifest import read_manifest, write_manifest

    def copy(*paths: str) -> Path:
        manifest = read_manifest(exported_dir)
        keep = {"model.safetensors", *paths}
        for art in manifest.artefacts:
            if art.path in keep:
                for listed in art.files:   # every file of the artefact, with its digest
                    src = exported_dir / listed.path
                    dst = tmp_path / listed.path
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, dst)
        arts = tuple(a for a in manifest.artefacts if a.path in keep)
        write_manifest(tmp_path, type(manifest)(**{**manifest.__dict__, "artefacts": arts}))
        return tmp_path

    return copy


@pytest.fixture(scope="session")
def calib_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight synthetic face-like crops (PNG, 80 px) for INT8 calibration."""
    import cv2

    from gldpose_export.verify import synthetic_crop

    out = tmp_path_factory.mktemp("calib")
    rng = np.random.default_rng(7)
    for i in range(8):
        cv2.imwrite(str(out / f"crop_{i:02d}.png"), synthetic_crop(rng, 80))
    return out
