"""Every backend refuses an artefact file whose sha256 differs from the manifest's, via the public API.

Each file a backend loads is tampered with in a way the runtime itself would accept (one low
mantissa bit of a head weight, or a comment in the IR's XML), so only the digest check can
refuse it: ``PoseEstimator(model_dir, backend=NAME)`` and ``backend="auto"`` both raise
:class:`ManifestMismatchError`, and the same tampered folder loads once the new digest is
recorded (the control that shows the check, not a broken file, is what refuses).
"""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from gldpose_sdk import ManifestMismatchError, PoseEstimator
from gldpose_sdk.backends import BACKENDS, missing_packages
from gldpose_sdk.config import EstimatorConfig
from gldpose_sdk.hardware import PlatformInfo
from gldpose_sdk.manifest import make_artefact, read_manifest, write_manifest

#: (backend, file it loads, main file of that artefact)
VICTIMS = [
    ("onnxruntime", "model.onnx", "model.onnx"),
    ("onnxruntime", "model_u8.onnx", "model_u8.onnx"),
    ("openvino", "openvino/fp32/model.xml", "openvino/fp32/model.xml"),
    ("openvino", "openvino/fp32/model.bin", "openvino/fp32/model.xml"),
    ("pytorch", "model.safetensors", "model.safetensors"),
    ("tensorrt", "model.engine", "model.engine"),
]
IDS = [f"{name}-{Path(victim).name}" for name, victim, _ in VICTIMS]
CPU = PlatformInfo("cpu")


def test_every_registered_backend_has_a_case() -> None:
    assert {name for name, _, _ in VICTIMS} == set(BACKENDS)


def _tamper(path: Path, needle: bytes) -> None:
    """Change ``path`` so that its runtime still loads it."""
    data = bytearray(path.read_bytes())
    if path.suffix == ".xml":
        first_line_end = data.index(b"\n") + 1
        data[first_line_end:first_line_end] = b"<!-- edited after export -->\n"
    else:
        at = data.find(needle)
        assert at >= 0 and data.count(needle) == 1, f"head weights not found in {path.name}"
        data[at] ^= 0x01                         # lowest mantissa bit of one float32 weight
    path.write_bytes(bytes(data))


@pytest.fixture()
def tampered(exported_model_dir: Path, tmp_path: Path, only_artefacts):  # type: ignore[no-untyped-def]
    """Make a copy listing only one artefact, with one of its files tampered; return its path."""
    from safetensors.numpy import load_file

    weights = load_file(str(exported_model_dir / "model.safetensors"))["fc_yaw.weight"]
    needle = weights.astype(np.float32).tobytes()[:64]

    def make(name: str, victim: str, main: str) -> Path:
        missing = missing_packages(name)
        if missing:
            pytest.skip(f"{', '.join(missing)} not installed")
        manifest = read_manifest(exported_model_dir)
        if not any(a.path == main for a in manifest.artefacts):
            pytest.skip(f"the test model has no {main}")
        copy = tmp_path / "model"
        shutil.copytree(exported_model_dir, copy)
        write_manifest(copy, only_artefacts(manifest, main))
        _tamper(copy / victim, needle)
        return copy

    return make


def _refuses(model_dir: Path, backend: str, victim: str) -> None:
    config = EstimatorConfig(cache_dir=str(model_dir.parent / "cache"))
    with pytest.raises(ManifestMismatchError) as info:
        PoseEstimator(model_dir, backend=backend, device="cpu", detector="none", config=config,
                      platform=CPU)
    message = str(info.value)
    assert "sha256" in message and victim in message and "changed or replaced" in message


@pytest.mark.parametrize("name, victim, main", VICTIMS, ids=IDS)
def test_named_backend_refuses_tampered_file(tampered, name: str, victim: str,
                                             main: str) -> None:  # type: ignore[no-untyped-def]
    model_dir = tampered(name, victim, main)
    _refuses(model_dir, name, victim)
    # Control: with the new digest recorded, the same files load and run.
    manifest = read_manifest(model_dir)
    art = manifest.find(BACKENDS[name].artefact)
    fields = {f.name: getattr(art, f.name) for f in dataclasses.fields(art)
              if f.name not in ("format", "files")}
    redone = make_artefact(model_dir, [f.path for f in art.files], art.format, **fields)
    write_manifest(model_dir, manifest.with_artefact(redone))
    with PoseEstimator(model_dir, backend=name, device="cpu", detector="none") as est:
        (pose,) = est.estimate_crops([np.full((64, 64, 3), 128, np.uint8)])
    assert all(np.isfinite(pose.angles_deg))


@pytest.mark.parametrize("name, victim, main", VICTIMS, ids=IDS)
def test_auto_refuses_tampered_file(tampered, name: str, victim: str,
                                    main: str) -> None:  # type: ignore[no-untyped-def]
    """``"auto"`` never falls back past a tampered artefact: it raises."""
    _refuses(tampered(name, victim, main), "auto", victim)
