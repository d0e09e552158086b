"""Every installed backend gives the angles of an independent PyTorch run on the same crops.

The reference is the model module itself on the RGB normalised crops (``prepare_crop`` +
``normalise``, the training path), not the pytorch backend; each backend gets the crops the SDK
cuts (``crop_bgr``) in its own input layout (``to_network_input``), so the uint8 BGR layouts
that fold the channel swap and normalisation into the runtime (OpenVINO's PrePostProcessor,
PyTorch on the device, ONNX Runtime's ``model_u8.onnx``) are checked against the float path.
Parametrised over the registry's names (and, for ONNX Runtime, over both of its artefacts); a
backend whose package is missing is skipped with the package named. Tolerances are the export
stage's (gldpose_export.verify). The test model's three heads each spread over tens of degrees
across these crops, and the test checks that they do, so a saturated head cannot hide.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gldpose_sdk.backends import BACKENDS, load_backend_class, missing_packages
from gldpose_sdk.config import BackendOptions
from gldpose_sdk.decode import decode_logits
from gldpose_sdk.manifest import Manifest, read_manifest
from gldpose_sdk.preprocess import crop_bgr, normalise, prepare_crop, to_network_input

verify = pytest.importorskip("gldpose_export.verify", reason="torch not installed")
TOLERANCE_DEG = {"fp32": verify.FP32_TOL_DEG, "fp16": verify.FP16_TOL_DEG}
#: Each angle's range over the crops must exceed this (the tiny model spreads ~35 deg 1-sigma).
MIN_SPREAD_DEG = 20.0
#: Backends with more than one artefact of their format in the test model: one case each.
ARTEFACTS = {"onnxruntime": ("model.onnx", "model_u8.onnx")}
CASES = [(name, path) for name in sorted(BACKENDS) for path in ARTEFACTS.get(name, ("",))]


def frames_and_boxes(make_face) -> list[tuple[np.ndarray, tuple]]:  # type: ignore[no-untyped-def]
    """Eight seeded frames, each with a face-like head and its box."""
    rng = np.random.default_rng(5)
    out = []
    for i in range(8):
        frame = rng.integers(0, 90, (140, 160, 3), dtype=np.uint8)
        h, w = int(rng.integers(50, 90)), int(rng.integers(50, 90))
        y, x = int(rng.integers(0, 140 - h)), int(rng.integers(0, 160 - w))
        frame[y:y + h, x:x + w] = make_face(rng, h, w)
        out.append((frame, (x + 0.3 * i, y + 0.5, x + w - 0.2, y + h + 0.1 * i)))
    return out


def reference_angles(model_dir: Path, cases: list) -> np.ndarray:  # type: ignore[type-arg]
    """The model module on ``normalise(prepare_crop(...))`` (RGB, training path), decoded."""
    torch = pytest.importorskip("torch", reason="torch not installed")
    from gldpose_sdk.model import load_model

    model, manifest = load_model(model_dir)
    size = manifest.input.size_px
    rgb = np.stack([prepare_crop(f, b, manifest.crop, size) for f, b in cases])
    with torch.no_grad():
        logits = model(torch.from_numpy(normalise(rgb, manifest.input))).numpy()
    return decode_logits(logits, manifest.bins.centres_deg())[0]


def backend_angles(name: str, model_dir: Path, manifest: Manifest, cases: list,
                   **options: object) -> np.ndarray:
    """The backend on the SDK's BGR crops in its own layout, decoded."""
    size = manifest.input.size_px
    bgr = np.stack([crop_bgr(f, b, manifest.crop, size) for f, b in cases])
    backend = load_backend_class(name).load(model_dir, manifest, BackendOptions(**options))
    with backend:
        logits = backend.infer(to_network_input(bgr, backend.input_layout, manifest.input))
    return decode_logits(logits, manifest.bins.centres_deg())[0]


@pytest.mark.parametrize("name, artefact", CASES, ids=[f"{n}-{a}" if a else n for n, a in CASES])
def test_backend_parity_with_pytorch(name: str, artefact: str, exported_model_dir: Path,
                                     make_face, only_artefacts) -> None:  # type: ignore[no-untyped-def]
    missing = missing_packages(name)
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")
    manifest = read_manifest(exported_model_dir)
    if not manifest.has(BACKENDS[name].artefact):
        pytest.skip(f"no {BACKENDS[name].artefact} artefact could be exported here")
    if artefact:
        manifest = only_artefacts(manifest, artefact)
    cases = frames_and_boxes(make_face)
    reference = reference_angles(exported_model_dir, cases)
    # Format parity is checked at f32; OpenVINO's default bf16 hint is an accuracy trade-off
    # measured on the trained model (tests/sdk/test_default_model.py), not a format property.
    got = backend_angles(name, exported_model_dir, manifest, cases, device="cpu",
                         max_batch=3, openvino_precision="f32")   # also exercises splitting
    precision = "fp16" if name == "tensorrt" else "fp32"
    assert got.shape == reference.shape == (len(cases), 3)
    spread = np.ptp(reference, axis=0)
    assert np.all(spread > MIN_SPREAD_DEG), f"an angle barely varies: ptp {spread}"
    diff = np.abs(got - reference).max(axis=0)
    assert np.all(diff <= TOLERANCE_DEG[precision]), f"max |delta| yaw/pitch/roll {diff}"
