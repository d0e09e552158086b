"""OpenVINO IR export: FP32 / FP16 parity under the f32 hint, bf16 reported, INT8 via NNCF."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

ov = pytest.importorskip("openvino", reason="openvino not installed (pip install .[openvino])")
pytest.importorskip("onnxruntime", reason="onnxruntime not installed")

from gldpose_export import ExportError  # noqa: E402
from gldpose_export.verify import FP16_TOL_DEG, FP32_TOL_DEG, verify_model_dir  # noqa: E402
from gldpose_sdk.errors import ManifestMismatchError, ModelFileError  # noqa: E402
from gldpose_sdk.manifest import read_manifest, verify_artefact, verify_file  # noqa: E402


@pytest.mark.parametrize("precision,tol", [("fp32", FP32_TOL_DEG), ("fp16", FP16_TOL_DEG)])
def test_ir_parity_under_f32_hint(parity_report, precision: str, tol: float) -> None:
    path = f"openvino/{precision}/model.xml"
    rows = {r.runtime.split(" (")[0]: r for r in parity_report.rows if r.artefact == path}
    f32 = rows["openvino CPU f32 hint"]
    assert f32.tolerance_deg == tol and f32.precision == precision
    assert max(f32.max_deg) <= tol, parity_report.table()
    default = rows["openvino CPU default hint"]  # bf16 on AVX512_BF16 CPUs: measured, not gated
    assert all(np.isfinite(default.max_deg))
    if default.precision == "bf16":
        assert default.tolerance_deg is None


def test_ir_files_hashes_recorded(exported_dir: Path) -> None:
    art = read_manifest(exported_dir).find("openvino", precision="fp16")
    assert [f.path for f in art.files] == ["openvino/fp16/model.xml", "openvino/fp16/model.bin"]
    xml = verify_artefact(exported_dir, art)
    bin_ = verify_file(exported_dir, art.file_with_suffix(".bin"))
    assert xml.suffix == ".xml" and bin_.suffix == ".bin"
    # FP16 weights take about half the bytes of FP32 ones.
    fp32_bin = exported_dir / "openvino/fp32/model.bin"
    assert bin_.stat().st_size < 0.6 * fp32_bin.stat().st_size


@pytest.mark.parametrize("victim", ["openvino/fp32/model.bin", "openvino/fp32/model.xml",
                                    "model.onnx"])
def test_tampered_artefact_is_refused(small_copy, victim: str) -> None:
    model_dir = small_copy("model.onnx", "openvino/fp32/model.xml")
    path = model_dir / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ManifestMismatchError, match="sha256 of .* the file was changed"):
        verify_model_dir(model_dir, n_random=2, n_crops=0)


def test_ir_without_listed_bin_is_refused(exported_dir: Path) -> None:
    art = read_manifest(exported_dir).find("openvino", precision="fp32")
    with pytest.raises(ModelFileError, match="lists no .bin file"):
        dataclasses.replace(art, files=art.files[:1]).file_with_suffix(".bin")


def test_int8_export_reports_deltas(tiny_model_dir: Path, calib_dir: Path,
                                    tmp_path: Path) -> None:
    pytest.importorskip("nncf", reason="nncf not installed (pip install .[openvino])")
    from gldpose_export.cli import run_export
    from gldpose_export.config import ExportConfig

    manifest = run_export(ExportConfig(
        checkpoint=tiny_model_dir, out_dir=tmp_path, formats=("openvino",), int8=True,
        calib_dir=calib_dir, calib_subset=6, onnx_exporter="torchscript", angles_onnx=False))
    art = manifest.find("openvino", precision="int8")
    assert "held-out 2 calibration crops" in art.notes and "NNCF" in art.notes
    report = verify_model_dir(tmp_path, n_random=2, n_crops=4)
    int8 = [r for r in report.rows if r.precision == "int8"]
    assert int8 and all(r.tolerance_deg is None and np.isfinite(max(r.max_deg)) for r in int8)
    xml = verify_artefact(tmp_path, art)
    assert "FakeQuantize" in xml.read_text() or "fake_quantize" in xml.read_text().lower()


def test_int8_with_too_few_images_fails(tiny_model_dir: Path, calib_dir: Path,
                                        tmp_path: Path) -> None:
    pytest.importorskip("nncf", reason="nncf not installed (pip install .[openvino])")
    from gldpose_export.cli import run_export
    from gldpose_export.config import ExportConfig

    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(next(calib_dir.glob("*.png")), one)
    with pytest.raises(ExportError, match="needs at least 2"):
        run_export(ExportConfig(checkpoint=tiny_model_dir, out_dir=tmp_path / "out",
                                formats=("openvino",), int8=True, calib_dir=one,
                                onnx_exporter="torchscript", angles_onnx=False))
