"""SDK fixtures: the tiny model with ONNX and OpenVINO IR artefacts, and face-like images."""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from gldpose_sdk.manifest import make_artefact, read_manifest, write_manifest


@pytest.fixture(scope="session")
def exported_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model plus ``model.onnx`` and ``openvino/fp32/model.xml``, listed in its manifest.

    Exported directly here (legacy torch.onnx exporter, OpenVINO's converter) so that the SDK
    tests do not depend on the export package.
    """
    torch = pytest.importorskip("torch", reason="torch not installed")
    from gldpose_sdk.model import load_model

    out = tmp_path_factory.mktemp("exported_model")
    for item in tiny_model_dir.iterdir():
        shutil.copy2(item, out / item.name)
    model, manifest = load_model(out)
    size = manifest.input.size_px
    with warnings.catch_warnings():  # the legacy exporter warns that it is deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, torch.zeros(1, 3, size, size), str(out / "model.onnx"),
                          dynamo=False, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, opset_version=17)
    manifest = manifest.with_artefact(make_artefact(out, "model.onnx", "onnx"))
    try:
        import openvino as ov
    except ImportError:
        ov = None
    if ov is not None:
        (out / "openvino" / "fp32").mkdir(parents=True)
        xml = out / "openvino" / "fp32" / "model.xml"
        ov.save_model(ov.convert_model(str(out / "model.onnx")), str(xml), compress_to_fp16=False)
        manifest = manifest.with_artefact(make_artefact(
            out, ("openvino/fp32/model.xml", "openvino/fp32/model.bin"), "openvino"))
    write_manifest(out, manifest)
    assert read_manifest(out).has("onnx")
    return out


def face_like(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A uint8 BGR image with a bright ellipse (a 'head') on a noisy background."""
    import cv2

    image = rng.integers(0, 80, size=(h, w, 3), dtype=np.uint8)
    centre = (int(w * rng.uniform(0.4, 0.6)), int(h * rng.uniform(0.4, 0.6)))
    axes = (max(2, w // 4), max(2, h // 3))
    cv2.ellipse(image, centre, axes, float(rng.uniform(-30, 30)), 0, 360,
                tuple(int(v) for v in rng.integers(120, 255, 3)), -1)
    cv2.circle(image, (centre[0] - axes[0] // 3, centre[1] - axes[1] // 4), max(1, w // 20),
               (20, 20, 20), -1)
    return image


@pytest.fixture(scope="session")
def make_face():  # type: ignore[no-untyped-def]
    """The :func:`face_like` image maker."""
    return face_like


@pytest.fixture()
def crops(rng: np.random.Generator) -> list[np.ndarray]:
    """Six face-like BGR crops of different sizes."""
    return [face_like(rng, h, w) for h, w in ((64, 64), (80, 60), (120, 120), (50, 70),
                                               (200, 160), (64, 64))]
