"""``gldpose export`` command line: main(argv) end to end, and its errors."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime", reason="onnxruntime not installed")

from gldpose_export import ExportError  # noqa: E402
from gldpose_export.cli import main  # noqa: E402
from gldpose_export.config import ExportConfig  # noqa: E402
from gldpose_export.formats import FORMATS, resolve_format  # noqa: E402
from gldpose_sdk.manifest import read_manifest  # noqa: E402


def test_export_onnx_with_verify(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    rc = main(["--checkpoint", str(tiny_model_dir), "--out", str(out), "--formats", "onnx",
               "--exporter", "torchscript", "--opset", "17", "--no-angles-onnx", "--verify"])
    assert rc == 0
    manifest = read_manifest(out)
    assert [a.path for a in manifest.artefacts] == ["model.onnx", "model.safetensors",
                                                    "model_u8.onnx"]
    folded = manifest.find("onnx", precision="fp32")
    u8 = next(a for a in manifest.artefacts if a.path == "model_u8.onnx")
    assert folded.input_layout == "nchw_float" and u8.input_layout == "nhwc_uint8_bgr"
    # the folded normalisation matches PyTorch on the float path within the fp32 tolerance
    assert len(u8.parity) == 1 and u8.parity[0].passed and u8.parity[0].inputs > 0
    art = manifest.find("onnx")
    assert art.versions.onnx_opset == 17 and "torchscript exporter" in art.notes
    assert len(art.parity) == 1 and art.parity[0].passed
    assert art.parity[0].reference.startswith("pytorch fp32 vs onnxruntime")
    assert max(art.parity[0].max_abs_diff_deg) <= art.parity[0].tolerance_deg
    rows = json.loads((out / "parity.json").read_text())["rows"]
    assert rows[0]["artefact"] == "model.onnx" and rows[0]["passed"] is True


def test_unknown_format_is_a_usage_error(tiny_model_dir: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--checkpoint", str(tiny_model_dir), "--out", str(tmp_path), "--formats", "tflite"])
    assert info.value.code == 2
    assert "onnx, openvino, tensorrt" in capsys.readouterr().err


def test_int8_without_calib_fails_cleanly(tiny_model_dir: Path, tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="gldpose_export"):
        rc = main(["--checkpoint", str(tiny_model_dir), "--out", str(tmp_path),
                   "--formats", "openvino", "--int8"])
    assert rc == 1 and "--int8 needs --calib" in caplog.text


def test_missing_checkpoint_fails_cleanly(tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="gldpose_export"):
        rc = main(["--checkpoint", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert rc == 1 and "not a gldpose model folder" in caplog.text


@pytest.mark.parametrize("batch", [(0, 1, 1), (1, 8, 4)])
def test_bad_batch_profile(tmp_path: Path, batch: tuple[int, int, int]) -> None:
    with pytest.raises(ExportError, match="MIN <= OPT <= MAX"):
        ExportConfig(checkpoint=tmp_path, out_dir=tmp_path, batch_min_opt_max=batch)


def test_format_registry() -> None:
    from gldpose_export.formats import verifier_of
    from gldpose_sdk.backends import BACKENDS
    from gldpose_sdk.errors import UnknownNameError
    from gldpose_sdk.manifest import artefact_formats

    assert FORMATS.names() == list(FORMATS) == ["onnx", "openvino", "tensorrt"]
    with pytest.raises(UnknownNameError, match="choose one of onnx, openvino, tensorrt"):
        resolve_format("tflite")
    assert callable(resolve_format("onnx"))
    for name, spec in FORMATS.entries.items():  # every fact of a spec points at something real
        assert spec.artefact in artefact_formats() and spec.backend in BACKENDS
        assert BACKENDS[spec.backend].artefact == spec.artefact
        assert callable(verifier_of(spec.artefact)), name
    assert [n for n, s in FORMATS.entries.items() if s.needs_onnx] == ["openvino", "tensorrt"]
