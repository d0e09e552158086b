"""SDK fixtures: the tiny model with ONNX and OpenVINO IR artefacts, and face-like images."""
from __future__ import annotations

import dataclasses
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from gldpose_sdk.manifest import Manifest, make_artefact, read_manifest, write_manifest


@pytest.fixture(scope="session")
def exported_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model plus ``model.onnx``, ``model_u8.onnx`` and ``openvino/fp32/model.xml``.

    Exported directly here (legacy torch.onnx exporter, OpenVINO's converter) so that the SDK
    tests do not depend on the export package. ``model_u8.onnx`` takes the crops as cut (uint8
    NHWC BGR) with the channel swap and normalisation in the graph, written here from DESIGN 5
    (not with the export package's wrapper), like the artefact a real export ships; ONNX
    Runtime prefers it, so ``model.onnx`` runs only when a manifest lists it alone.
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

    class CropsAsCut(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model
            spec = manifest.input
            self.register_buffer("mean", torch.tensor([255.0 * m for m in spec.mean_rgb]))
            self.register_buffer("std", torch.tensor([255.0 * s for s in spec.std_rgb]))

        def forward(self, crops_bgr: torch.Tensor) -> torch.Tensor:
            rgb = crops_bgr.permute(0, 3, 1, 2)[:, [2, 1, 0]].float()
            return self.net((rgb - self.mean.view(1, 3, 1, 1)) / self.std.view(1, 3, 1, 1))

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(CropsAsCut().eval(), torch.zeros(1, size, size, 3, dtype=torch.uint8),
                          str(out / "model_u8.onnx"), dynamo=False, input_names=["crops"],
                          output_names=["logits"], opset_version=17,
                          dynamic_axes={"crops": {0: "N"}, "logits": {0: "N"}})
    manifest = manifest.with_artefact(make_artefact(out, "model_u8.onnx", "onnx",
                                                    input_layout="nhwc_uint8_bgr"))
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
    assert len(read_manifest(out).candidates("onnx")) == 2
    return out


def keep_artefacts(manifest: Manifest, *paths: str) -> Manifest:
    """``manifest`` listing only the artefacts whose main file is one of ``paths``."""
    kept = tuple(a for a in manifest.artefacts if a.path in paths)
    assert {a.path for a in kept} == set(paths), f"not all of {paths} are listed"
    return dataclasses.replace(manifest, artefacts=kept)


@pytest.fixture(scope="session")
def only_artefacts():  # type: ignore[no-untyped-def]
    """The :func:`keep_artefacts` manifest filter."""
    return keep_artefacts


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


class BatchSpy:
    """Wraps an estimator's backend and keeps a copy of every batch it receives."""

    def __init__(self, backend) -> None:  # type: ignore[no-untyped-def]
        self.backend = backend
        self.batches: list[np.ndarray] = []

    def infer(self, batch: np.ndarray, **options: bool) -> np.ndarray:
        self.batches.append(batch.copy())
        return self.backend.infer(batch, **options)

    def __getattr__(self, name: str) -> object:
        return getattr(self.backend, name)


def install_batch_spy(estimator) -> BatchSpy:  # type: ignore[no-untyped-def]
    """Put a :class:`BatchSpy` between ``estimator`` and its backend; return the spy."""
    spy = BatchSpy(estimator._backend)
    estimator._backend = spy
    return spy


@pytest.fixture(scope="session")
def spy_on_backend():  # type: ignore[no-untyped-def]
    """The :func:`install_batch_spy` helper: ``spy = spy_on_backend(estimator)``."""
    return install_batch_spy
