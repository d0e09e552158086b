"""Manifest round trip, strict keys, version check, artefact hashes."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gldpose_sdk.errors import ManifestMismatchError, ModelFileError
from gldpose_sdk.manifest import (
    BinSpec, CropRule, Manifest, make_artefact, read_manifest, verify_artefact, write_manifest)


def test_round_trip_restores_nested_dataclasses_and_tuples(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"abc")
    m = Manifest(backbone="resnet18", bins=BinSpec(offset_deg=-99.0), crop=CropRule.hopenet(0.3))
    m = m.with_artefact(make_artefact(tmp_path, "w.bin", "safetensors", batch_min_opt_max=(1, 8, 32)))
    write_manifest(tmp_path, m)
    back = read_manifest(tmp_path)
    assert back == m
    assert back.artefacts[0].batch_min_opt_max == (1, 8, 32)
    text = (tmp_path / "manifest.json").read_text()
    assert list(json.loads(text)) == sorted(json.loads(text))


def test_bins_centres_and_edges():
    bins = BinSpec()
    c = bins.centres_deg()
    assert c.shape == (66,) and c[0] == -97.5 and c[-1] == 97.5
    assert (bins.low_deg, bins.high_deg) == (-99.0, 99.0)


def test_hopenet_crop_rule_matches_published_order():
    # Hopenet's loader, step by step: later steps see the already enlarged box.
    k, (x_min, y_min, x_max, y_max) = 0.2, (100.0, 100.0, 200.0, 300.0)
    x_min -= 0.6 * k * abs(x_max - x_min)
    y_min -= 2 * k * abs(y_max - y_min)
    x_max += 0.6 * k * abs(x_max - x_min)
    y_max += 0.6 * k * abs(y_max - y_min)
    assert CropRule.hopenet(k).expand((100, 100, 200, 300)) == pytest.approx(
        (x_min, y_min, x_max, y_max))


@pytest.mark.parametrize("mutate, phrase", [
    (lambda d: d.update(format_version=99), "format_version"),
    (lambda d: d.update(colour="red"), "unknown key"),
    (lambda d: d.pop("backbone"), "missing key"),
    (lambda d: d["bins"].update(count=1), "count"),
])
def test_invalid_manifests_are_refused_with_a_reason(mutate, phrase):
    data = Manifest(backbone="resnet50").to_dict()
    mutate(data)
    with pytest.raises(ManifestMismatchError, match=phrase):
        Manifest.from_dict(data)


def test_tampered_artefact_is_refused(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"weights")
    art = make_artefact(tmp_path, "w.bin", "onnx")
    verify_artefact(tmp_path, art)
    (tmp_path / "w.bin").write_bytes(b"weightz")
    with pytest.raises(ManifestMismatchError, match="sha256"):
        verify_artefact(tmp_path, art)
    (tmp_path / "w.bin").unlink()
    with pytest.raises(ModelFileError, match="missing"):
        verify_artefact(tmp_path, art)


def test_missing_manifest_and_missing_artefact_kind(tmp_path):
    with pytest.raises(ModelFileError, match="manifest.json"):
        read_manifest(tmp_path)
    with pytest.raises(ModelFileError, match="gldpose export"):
        Manifest(backbone="resnet50").find("onnx")
