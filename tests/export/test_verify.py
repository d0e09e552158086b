"""Verification: inputs, the parity gate (ParityError), the report."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx not installed (pip install .[export])")
pytest.importorskip("onnxruntime", reason="onnxruntime not installed")

from gldpose_export import ParityError  # noqa: E402
from gldpose_export.verify import (  # noqa: E402
    FP16_TOL_DEG,
    FP32_TOL_DEG,
    make_inputs,
    verify_model_dir,
)
from gldpose_sdk.errors import GldposeError  # noqa: E402
from gldpose_sdk.manifest import (  # noqa: E402
    InputSpec,
    make_artefact,
    read_manifest,
    write_manifest,
)


def test_tolerances_are_the_documented_ones() -> None:
    assert (FP32_TOL_DEG, FP16_TOL_DEG) == (0.05, 0.5)


def test_inputs_mix_random_and_crop_like(tmp_path: Path) -> None:
    import cv2

    image = tmp_path / "face.jpg"
    cv2.imwrite(str(image), np.full((90, 70, 3), 128, np.uint8))
    spec = InputSpec(size_px=32)
    x = make_inputs(spec, n_random=3, n_crops=4, seed=1, images=[image])
    assert x.shape == (8, 3, 32, 32) and x.dtype == np.float32 and x.flags.c_contiguous
    crops = x[3:7]
    # Crops are smooth: neighbouring pixels differ far less than in the random tensors.
    assert np.abs(np.diff(crops, axis=3)).mean() < 0.3 * np.abs(np.diff(x[:3], axis=3)).mean()
    np.testing.assert_array_equal(x, make_inputs(spec, 3, 4, seed=1, images=[image]))


def test_perturbed_onnx_fails_parity(small_copy) -> None:
    model_dir = small_copy("model.onnx")
    path = model_dir / "model.onnx"
    model = onnx.load(str(path))
    biases = [init for init in model.graph.initializer if init.dims == [3 * 66]]
    assert biases, "expected the three heads' biases as one initialiser (3 x 66 bins)"
    values = onnx.numpy_helper.to_array(biases[0]).copy()
    values[:66:2] += 3.0  # shifts the yaw softmax: yaw moves by degrees
    biases[0].CopyFrom(onnx.numpy_helper.from_array(values, biases[0].name))
    onnx.save(model, str(path))
    manifest = read_manifest(model_dir)
    old = manifest.find("onnx")
    write_manifest(model_dir, manifest.with_artefact(make_artefact(
        model_dir, old.path, "onnx", output="logits", notes="perturbed")))
    with pytest.raises(ParityError, match=r"model\.onnx .*> 0\.05 deg") as info:
        verify_model_dir(model_dir, n_random=4, n_crops=2)
    assert isinstance(info.value, GldposeError)
    report = verify_model_dir(model_dir, n_random=4, n_crops=2, raise_on_failure=False)
    assert [r.artefact for r in report.failures] == ["model.onnx"]
    data = report.to_dict()
    assert data["n_inputs"] == 6 and data["rows"][0]["passed"] is False
    by_input = dict(report.rows[0].max_deg_by_input)
    assert set(by_input) == {"random", "crops"}
    assert max(by_input.values()) == pytest.approx(max(report.rows[0].max_deg))
    json.dumps(data)  # JSON-able
    assert "FAIL" in report.table()
