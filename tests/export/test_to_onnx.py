"""ONNX export: both output modes, checker, dynamic batch, parity with PyTorch."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx not installed (pip install .[export])")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed")

from gldpose_export.verify import FP16_TOL_DEG, FP32_TOL_DEG  # noqa: E402
from gldpose_sdk.decode import decode_logits  # noqa: E402
from gldpose_sdk.manifest import read_manifest  # noqa: E402


def _session(path: Path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_manifest_lists_both_modes_with_opset(exported_dir: Path) -> None:
    manifest = read_manifest(exported_dir)
    logits = manifest.find("onnx", output="logits")
    angles = manifest.find("onnx", output="angles")
    assert (logits.path, angles.path) == ("model.onnx", "model_angles.onnx")
    for art in (logits, angles):
        assert art.versions.onnx_opset >= 17
        onnx.checker.check_model(str(exported_dir / art.path))


@pytest.mark.parametrize("batch", [1, 5])
def test_dynamic_batch_shapes(exported_dir: Path, batch: int, rng: np.random.Generator) -> None:
    x = rng.standard_normal((batch, 3, 64, 64)).astype(np.float32)
    (logits,) = _session(exported_dir / "model.onnx").run(["logits"], {"input": x})
    angles, std = _session(exported_dir / "model_angles.onnx").run(["angles", "std"],
                                                                   {"input": x})
    assert logits.shape == (batch, 3, 66)
    assert angles.shape == std.shape == (batch, 3)
    assert np.all(std >= 0) and np.all(np.abs(angles) < 99)


def test_in_graph_decode_matches_sdk_decode(exported_dir: Path, rng: np.random.Generator) -> None:
    manifest = read_manifest(exported_dir)
    x = rng.standard_normal((4, 3, 64, 64)).astype(np.float32)
    (logits,) = _session(exported_dir / "model.onnx").run(["logits"], {"input": x})
    angles, std = _session(exported_dir / "model_angles.onnx").run(None, {"input": x})
    want_angles, want_std = decode_logits(logits, manifest.bins.centres_deg())
    np.testing.assert_allclose(angles, want_angles, atol=FP32_TOL_DEG)
    np.testing.assert_allclose(std, want_std, atol=FP32_TOL_DEG)


@pytest.mark.parametrize("path", ["model.onnx", "model_angles.onnx"])
def test_onnx_parity_with_pytorch(parity_report, path: str) -> None:
    rows = [r for r in parity_report.rows if r.artefact == path]
    assert len(rows) == 1 and rows[0].precision == "fp32"
    assert rows[0].tolerance_deg == FP32_TOL_DEG
    assert max(rows[0].max_deg) <= FP32_TOL_DEG, parity_report.table()


def test_fp16_onnx_for_strongly_typed_tensorrt(tiny_model_dir: Path, tmp_path: Path,
                                               rng: np.random.Generator) -> None:
    torch = pytest.importorskip("torch", reason="torch not installed")
    from gldpose_export.config import ExportConfig
    from gldpose_export.formats.to_onnx import export_fp16_onnx
    from gldpose_sdk.model import load_model

    model, manifest = load_model(tiny_model_dir)
    config = ExportConfig(checkpoint=tiny_model_dir, out_dir=tmp_path,
                          onnx_exporter="torchscript")
    art = export_fp16_onnx(model, manifest, tmp_path, config)
    assert (art.path, art.precision) == ("model_fp16.onnx", "fp16")
    graph = onnx.load(str(tmp_path / art.path)).graph
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in graph.initializer)
    x = rng.standard_normal((3, 3, 64, 64)).astype(np.float32)
    (logits,) = _session(tmp_path / art.path).run(None, {"input": x})
    assert logits.dtype == np.float32  # fp32 interface around fp16 compute
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    centres = manifest.bins.centres_deg()
    delta = np.abs(decode_logits(logits, centres)[0] - decode_logits(ref, centres)[0])
    assert delta.max() <= FP16_TOL_DEG
    assert next(model.parameters()).dtype == torch.float32  # the caller's model is untouched
