"""Manifest round trip, strict keys, version check, artefact hashes."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from gldpose_sdk.errors import ManifestMismatchError, ModelFileError
from gldpose_sdk.manifest import (
    MAX_MANIFEST_BYTES,
    AngleCalibration,
    Artefact,
    ArtefactFile,
    BinSpec,
    Calibration,
    CropRule,
    ExpectationMap,
    InputSpec,
    Manifest,
    TrainingInfo,
    check_relative_path,
    make_artefact,
    read_manifest,
    read_verified,
    resolve_inside,
    sha256_file,
    verify_artefact,
    verify_file,
    write_manifest,
)


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
    assert c.dtype == np.float32


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


# -- every value check at its edges (each case violates one condition only) ---------------------
VALID = [
    lambda: BinSpec(count=2), lambda: BinSpec(count=1000, width_deg=0.1, offset_deg=-49.95),
    lambda: BinSpec(width_deg=0.1), lambda: BinSpec(count=12, width_deg=30.0, offset_deg=-165.0),
    lambda: InputSpec(size_px=16), lambda: InputSpec(size_px=2048),
    lambda: InputSpec(mean_rgb=(0.0, 0.5, 1.0), std_rgb=(0.01, 0.5, 1.0)),
    lambda: TrainingInfo(alpha=0.0, sigma_bins=0.5),
    lambda: Artefact(format="onnx", files=(FILE,), batch_min_opt_max=(1, 8, 8)),
    lambda: Artefact(format="onnx", files=(FILE,), batch_min_opt_max=(2, 8, 65536)),
    lambda: Manifest(backbone="b" * 100),
    lambda: AngleCalibration(tuple(range(1, 65)), (1.0,) * 64),
    lambda: AngleCalibration((0.5, 360.0), (0.5, 360.0)),
    lambda: Manifest(backbone="r", label_convention="x" * 4096),
]
FILE = ArtefactFile("model.onnx", "0" * 64)
INVALID = [
    (lambda: BinSpec(count=1), r"bins\.count must be in \[2, 1000\], got 1"),
    (lambda: BinSpec(count=1001, width_deg=0.1, offset_deg=-49.95), "bins.count must be in"),
    (lambda: BinSpec(width_deg=0.09), r"bins\.width_deg must be in \[0\.1, 30\], got 0\.09"),
    (lambda: BinSpec(count=2, width_deg=30.01), "bins.width_deg must be in"),
    (lambda: BinSpec(count=12, width_deg=30.0, offset_deg=-165.01),
     r"^bins cover \[-180\.01, 179\.99\) degrees, which is outside \[-180, 180\]$"),
    (lambda: BinSpec(count=12, width_deg=30.0, offset_deg=-164.99), r"outside \[-180, 180\]"),
    (lambda: InputSpec(size_px=15), r"input size_px must be in \[16, 2048\], got 15"),
    (lambda: InputSpec(size_px=2049), "input size_px must be in"),
    (lambda: InputSpec(mean_rgb=(0.5, 0.5)), r"^mean_rgb and std_rgb need three values \(R, G, B\)$"),
    (lambda: InputSpec(std_rgb=(0.5, 0.5)), r"need three values \(R, G, B\)"),
    (lambda: InputSpec(mean_rgb=(0.5, 0.5, -0.01)), r"mean_rgb must lie in \[0, 1\]"),
    (lambda: InputSpec(mean_rgb=(0.5, 0.5, 1.01)), r"mean_rgb must lie in \[0, 1\]"),
    (lambda: InputSpec(std_rgb=(0.5, 0.5, 0.0099)), r"std_rgb must lie in \[0.01, 1\]"),
    (lambda: InputSpec(std_rgb=(0.5, 0.5, 1.01)), r"std_rgb must lie in \[0.01, 1\]"),
    (lambda: TrainingInfo(alpha=-0.1), "training.alpha must be >= 0 and sigma_bins > 0"),
    (lambda: TrainingInfo(sigma_bins=0.0), "training.alpha must be >= 0 and sigma_bins > 0"),
    (lambda: ArtefactFile("m.onnx", "A" * 64), "sha256 of 'm.onnx' must be 64 lowercase hex"),
    (lambda: Artefact(format="x", files=(FILE,)), "artefact format 'x' not in"),
    (lambda: Artefact(format="onnx", files=(FILE,), precision="x"), "artefact precision 'x'"),
    (lambda: Artefact(format="onnx", files=(FILE,), output="x"), "artefact output 'x'"),
    (lambda: Artefact(format="onnx", files=(FILE,), input_layout="x"),
     "artefact input_layout 'x'"),
    (lambda: Artefact(format="onnx", files=()), "^an artefact lists at least one file$"),
    (lambda: Artefact(format="onnx", files=(FILE,), batch_min_opt_max=(2, 1, 0)),
     r"batch_min_opt_max must be 1 <= min <= opt <= max \(0: unbounded\), got \(2, 1, 0\)"),
    (lambda: Artefact(format="onnx", files=(FILE,), batch_min_opt_max=(0, 1, 0)),
     "batch_min_opt_max must be"),
    (lambda: Artefact(format="onnx", files=(FILE,), batch_min_opt_max=(1, 8, 7)),
     "batch_min_opt_max must be"),
    (lambda: Artefact(format="onnx", files=(FILE,), batch_min_opt_max=(1, 8, 65537)),
     "batch_min_opt_max must be"),
    (lambda: Manifest(backbone=""), "^backbone must be a non-empty name$"),
    (lambda: Manifest(backbone="b" * 101), "backbone must be a non-empty name"),
    (lambda: Manifest(backbone="b", artefacts=(
        Artefact(format="onnx", files=(FILE,)), Artefact(format="onnx", files=(FILE,)))),
     "^two artefact entries list the same file$"),
    (lambda: AngleCalibration((), ()),
     "^a calibration needs 1 to 64 knots, as many raw as calibrated$"),
    (lambda: AngleCalibration(tuple(range(1, 66)), (1.0,) * 65), "1 to 64 knots"),
    (lambda: AngleCalibration((1.0, 2.0), (1.0,)), "as many raw as calibrated"),
    (lambda: AngleCalibration((1.0, 1.0), (1.0, 2.0)),
     r"^calibration knots must increase \(raw\) and not decrease \(std\)$"),
    (lambda: AngleCalibration((1.0, 2.0), (2.0, 1.0)), "not decrease"),
    (lambda: AngleCalibration((0.0, 2.0), (1.0, 2.0)),
     r"^calibration stds must lie in \(0, 360\] degrees$"),
    (lambda: AngleCalibration((1.0, 2.0), (0.0, 2.0)), r"\(0, 360\]"),
    (lambda: AngleCalibration((1.0, 360.1), (1.0, 2.0)), r"\(0, 360\]"),
    (lambda: AngleCalibration((1.0, 2.0), (1.0, 360.1)), r"\(0, 360\]"),
]


@pytest.mark.parametrize("make", VALID)
def test_values_at_the_edge_are_accepted(make) -> None:  # type: ignore[no-untyped-def]
    make()


@pytest.mark.parametrize("make, phrase", INVALID)
def test_values_past_the_edge_are_refused(make, phrase: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=phrase):
        make()


def test_calibration_maps_raw_std_piecewise_linearly() -> None:
    cal = AngleCalibration(raw_std_deg=(2.0, 4.0, 8.0), std_deg=(3.0, 5.0, 6.0))
    got = cal.apply(np.array([[1.0, 2.0, 3.0], [6.0, 8.0, 16.0]]))
    # below the first knot: the first value; between knots: linear; above the last: raw * 6/8
    np.testing.assert_allclose(got, [[3.0, 3.0, 4.0], [5.5, 6.0, 12.0]])
    assert got.dtype == np.float32 and got.shape == (2, 3)
    other = AngleCalibration(raw_std_deg=(1.0,), std_deg=(10.0,))
    both = Calibration(yaw=cal, pitch=other, roll=cal).apply(
        np.array([[3.0, 0.5, 16.0], [8.0, 2.0, 1.0]]))
    np.testing.assert_allclose(both, [[4.0, 10.0, 12.0], [6.0, 20.0, 3.0]])
    assert both.dtype == np.float32


def test_joint_calibration_equals_each_angles_own_map() -> None:
    """``Calibration.apply`` (one interpolation over the three angles' knots side by side) gives
    each angle's own piecewise map, below, between and above the knots, for a batch."""
    rng = np.random.default_rng(3)
    angles = []
    for _ in range(3):
        raw = np.sort(rng.choice(np.arange(1, 60), size=int(rng.integers(1, 8)), replace=False))
        angles.append(AngleCalibration(tuple(float(r) for r in raw),
                                       tuple(float(v) for v in np.sort(rng.uniform(1, 40,
                                                                                   raw.size)))))
    cal = Calibration(*angles)
    raw_std = rng.uniform(0.01, 120.0, (500, 3)).astype(np.float32)
    expected = np.stack([c.apply(raw_std[:, k]) for k, c in enumerate(angles)], axis=-1)
    np.testing.assert_allclose(cal.apply(raw_std), expected, rtol=1e-5, atol=1e-5)
    assert cal.apply(raw_std[:0]).shape == (0, 3)
    # a few faces take the Python-float path: the same float32 numbers as the batch path,
    # knots and the ends of the knot axis (raw 0 and span - 1) included
    knots = np.array([[c.raw_std_deg[0] for c in angles], [c.raw_std_deg[-1] for c in angles],
                      [0.0, 0.0, 0.0], [999.0, 999.0, 999.0]], np.float32)
    for rows in (raw_std, knots):
        small = np.concatenate([cal.apply(rows[i:i + 1]) for i in range(len(rows))])
        np.testing.assert_array_equal(small, cal.apply(rows))
        np.testing.assert_allclose(small, np.stack([c.apply(rows[:, k]) for k, c
                                                    in enumerate(angles)], -1), rtol=1e-5)


def test_hopenet_rule_defaults_to_k_0_2() -> None:
    assert CropRule.hopenet() == CropRule.hopenet(0.2)


# -- reading: types, nesting, versions ------------------------------------------------------------
def _data(**changes) -> dict:  # type: ignore[no-untyped-def]
    data = Manifest(backbone="resnet50").to_dict()
    data.update(changes)
    return data


@pytest.mark.parametrize("change, phrase", [
    (lambda d: d["crop"].update(square=1), r"manifest\.crop\.square must be true or false, got 1"),
    (lambda d: d["input"].update(size_px=True), r"manifest\.input\.size_px must be an integer"),
    (lambda d: d["input"].update(size_px=96.0), r"manifest\.input\.size_px must be an integer"),
    (lambda d: d["bins"].update(width_deg="3"), r"manifest\.bins\.width_deg must be a finite"),
    (lambda d: d["bins"].update(width_deg=True), r"manifest\.bins\.width_deg must be a finite"),
    (lambda d: d["bins"].update(width_deg=float("inf")), r"bins\.width_deg must be a finite"),
    (lambda d: d.update(backbone=5), r"manifest\.backbone must be a string of at most 4096"),
    (lambda d: d.update(label_convention="x" * 4097), r"manifest\.label_convention must be a str"),
    (lambda d: d["input"].update(mean_rgb="abc"),
     r"manifest\.input\.mean_rgb must be a list \(at most 256 items\), got str"),
    (lambda d: d["input"].update(mean_rgb=[0.5, 0.5]),
     r"manifest\.input\.mean_rgb needs 3 values, got 2"),
    (lambda d: d["input"].update(mean_rgb=[0.5, 0.5, "a"]),
     r"manifest\.input\.mean_rgb\[2\] must be a finite number"),
    (lambda d: d.update(crop=[0.1]), r"manifest\.crop must be an object, got list"),
    (lambda d: d.update(artefacts=[{"format": "onnx", "files": [{"path": "m", "sha256": 5}]}]),
     r"manifest\.artefacts\[0\]\.files\[0\]\.sha256 must be a string"),
    (lambda d: d.update(calibration={"yaw": 1, "pitch": 1, "roll": 1}),
     r"manifest\.calibration\.yaw must be an object, got int"),
    (lambda d: d.update(**{f"k{i:02d}": 1 for i in range(11)}),
     r"unknown key\(s\) \['k00', 'k01', .*'k09'\]; expected"),
])
def test_wrong_types_name_the_field(change, phrase: str) -> None:  # type: ignore[no-untyped-def]
    data = _data()
    change(data)
    with pytest.raises(ManifestMismatchError, match=phrase) as info:
        Manifest.from_dict(data)
    assert "k10" not in str(info.value)         # at most ten unknown keys are echoed


def test_lists_are_capped_at_256_items_and_optional_fields_restore() -> None:
    knots = {"raw_std_deg": [1.0, 2.0], "std_deg": [1.0, 2.0]}
    cal = {"yaw": knots, "pitch": knots, "roll": knots, "within_1std": [0.5] * 256}
    back = Manifest.from_dict(_data(calibration=cal))
    assert isinstance(back.calibration, Calibration)
    assert back.calibration.pitch.raw_std_deg == (1.0, 2.0)
    assert back.calibration.within_1std == (0.5,) * 256
    assert Manifest.from_dict(_data(calibration=None)).calibration is None
    with pytest.raises(ManifestMismatchError, match=r"within_1std must be a list \(at most 256"):
        Manifest.from_dict(_data(calibration=dict(cal, within_1std=[0.5] * 257)))


def test_only_backbone_and_version_are_required() -> None:
    back = Manifest.from_dict({"format_version": 2, "backbone": "resnet18"})
    assert back == Manifest(backbone="resnet18")
    longest = Manifest.from_dict(_data(label_convention="x" * 4096))    # the text cap itself
    assert len(longest.label_convention) == 4096


def test_format_1_is_migrated_file_by_file() -> None:
    sha = "ab" * 32
    v1 = {"format_version": 1, "backbone": "resnet18", "artefacts": [
        {"format": "onnx", "path": "model.onnx", "sha256": sha, "runtime_version": "opset 17"},
        {"format": "onnx", "path": "m2.onnx", "sha256": sha, "runtime_version": "unknown"},
        {"format": "tensorrt", "path": "model.engine", "sha256": sha, "precision": "fp16",
         "runtime_version": "10.3.0", "gpu_name": "Orin", "compute_capability": "8.7"},
        {"format": "openvino", "path": "ov/model.xml", "sha256": sha,
         "runtime_version": "openvino 2024.4.0"},
        {"format": "safetensors", "path": "model.safetensors", "sha256": sha}]}
    m = Manifest.from_dict(v1)
    assert m.format_version == 2
    by_path = {a.path: a for a in m.artefacts}
    assert by_path["model.onnx"].files == (ArtefactFile("model.onnx", sha),)
    assert by_path["model.onnx"].versions.onnx_opset == 17
    assert by_path["m2.onnx"].versions.onnx_opset == 0
    trt = by_path["model.engine"]
    assert (trt.versions.tensorrt, trt.target.gpu_name, trt.target.compute_capability,
            trt.precision) == ("10.3.0", "Orin", "8.7", "fp16")
    assert by_path["ov/model.xml"].versions.openvino == "2024.4.0"
    assert by_path["model.safetensors"].versions == by_path["m2.onnx"].versions
    with pytest.raises(ManifestMismatchError, match=r"manifest\.artefacts\[0\] must be an object"):
        Manifest.from_dict({"format_version": 1, "backbone": "r", "artefacts": ["model.onnx"]})
    assert Manifest.from_dict({"format_version": 1, "backbone": "r"}).artefacts == ()
    bare = Manifest.from_dict({"format_version": 1, "backbone": "r", "artefacts": [
        {"format": "onnx", "path": "a.onnx", "sha256": sha, "runtime_version": "17"},
        {"format": "onnx", "path": "b.onnx", "sha256": sha, "runtime_version": "onnx opset 18"},
        {"format": "tensorrt", "path": "m.engine", "sha256": sha},
        {"format": "openvino", "path": "m.xml", "sha256": sha}]})
    by_path = {a.path: a for a in bare.artefacts}
    assert by_path["a.onnx"].versions.onnx_opset == 17
    assert by_path["b.onnx"].versions.onnx_opset == 18
    assert by_path["m.engine"].versions.tensorrt == ""
    assert by_path["m.engine"].target.gpu_name == by_path["m.engine"].target.compute_capability == ""
    assert by_path["m.xml"].versions.openvino == ""


def test_json_text_is_checked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ManifestMismatchError, match="manifest must be a JSON object, got list"):
        Manifest.from_json("[1]")
    with pytest.raises(ModelFileError, match="manifest is not valid JSON: NaN is not a number"):
        Manifest.from_json('{"format_version": 2, "backbone": "r", "x": NaN}')
    with pytest.raises(ModelFileError, match="manifest is not valid JSON"):
        Manifest.from_json("{")
    text = Manifest(backbone="r").to_json()
    assert text.endswith("}\n") and '\n  "artefacts": []' in text     # indent 2, sorted keys
    with pytest.raises(ValueError):                                    # no NaN ever written
        Manifest(backbone="r", training=TrainingInfo(alpha=float("nan"))).to_json()


def test_manifest_file_size_and_encoding(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = Manifest(backbone="r").to_json()
    (tmp_path / "manifest.json").write_text(text + " " * (MAX_MANIFEST_BYTES - len(text)))
    assert read_manifest(tmp_path) == Manifest(backbone="r")          # exactly the cap: read
    (tmp_path / "manifest.json").write_text(text + " " * (MAX_MANIFEST_BYTES + 1 - len(text)))
    with pytest.raises(ModelFileError, match=f"is {MAX_MANIFEST_BYTES + 1} bytes; a manifest "
                                             f"is at most {MAX_MANIFEST_BYTES} bytes"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_bytes(b'{"backbone": "\xff"}')
    with pytest.raises(ModelFileError, match="is not UTF-8 text: invalid start byte"):
        read_manifest(tmp_path)
    nested = tmp_path / "a" / "b"
    m = Manifest(backbone="r", training=TrainingInfo(notes="yaw \u00b1 99\u00b0"))
    write_manifest(nested, m)
    assert read_manifest(nested) == m
    assert "\u00b1" in (nested / "manifest.json").read_bytes().decode("utf-8") or \
        "\\u00b1" in (nested / "manifest.json").read_text()


# -- artefact lookup ------------------------------------------------------------------------------
def _art(path: str, fmt: str = "onnx", **kw) -> Artefact:  # type: ignore[no-untyped-def]
    return Artefact(format=fmt, files=(ArtefactFile(path, "0" * 64),), **kw)


LOOKUP = Manifest(backbone="r", artefacts=(
    _art("b.onnx"), _art("a16.onnx", precision="fp16"), _art("ang.onnx", output="angles"),
    _art("ov/m.xml", "openvino", precision="int8")))


def test_find_has_and_candidates() -> None:
    assert [a.path for a in LOOKUP.candidates("onnx")] == ["b.onnx", "a16.onnx"]
    assert [a.path for a in LOOKUP.candidates("onnx", "angles")] == ["ang.onnx"]
    assert LOOKUP.find("onnx").path == "b.onnx"
    assert LOOKUP.find("onnx", "fp16").path == "a16.onnx"
    assert LOOKUP.find("onnx", output="angles").path == "ang.onnx"
    assert LOOKUP.has("openvino") and LOOKUP.has("openvino", "int8")
    assert not LOOKUP.has("openvino", "fp32") and not LOOKUP.has("tensorrt")
    assert not LOOKUP.has("onnx", "fp16", output="angles")
    with pytest.raises(ModelFileError) as info:
        LOOKUP.find("openvino", "fp32")
    assert str(info.value) == (
        "manifest lists no openvino artefact (precision=fp32, output=logits); it has: "
        "onnx/fp32/logits, onnx/fp16/logits, onnx/fp32/angles, openvino/int8/logits. "
        "Export it with `gldpose export --formats openvino`.")
    with pytest.raises(ModelFileError, match=r"\(precision=any, output=logits\); it has: none\."):
        Manifest(backbone="r").find("onnx")


def test_with_artefact_replaces_by_path_and_sorts() -> None:
    m = LOOKUP.with_artefact(_art("b.onnx", precision="fp16"))
    assert [a.path for a in m.artefacts] == ["a16.onnx", "ang.onnx", "b.onnx", "ov/m.xml"]
    assert m.find("onnx", "fp16").path == "a16.onnx" and len(m.candidates("onnx")) == 2


def test_file_with_suffix() -> None:
    art = Artefact(format="openvino", files=(ArtefactFile("m.xml", "0" * 64),
                                             ArtefactFile("m.bin", "1" * 64)))
    assert art.file_with_suffix(".bin").sha256 == "1" * 64
    with pytest.raises(ModelFileError, match=r"artefact m\.xml lists no \.txt file with its "
                                             r"digest; re-export it with `gldpose export "
                                             r"--formats openvino`"):
        art.file_with_suffix(".txt")


# -- files: paths, digests --------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["", "a" * 513, "/abs/m.onnx", "a\\b.onnx", "c:m.onnx",
                                  "a/../b.onnx", "..", "m\x00.onnx"])
def test_paths_that_leave_or_confuse_the_folder_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match="must be relative, inside the model folder, "
                                         "without '..'"):
        check_relative_path(path)


def test_plain_relative_paths_are_kept() -> None:
    for path in ("m.onnx", "openvino/fp16/model.xml", "a" * 512, "a.b..c"):
        assert check_relative_path(path) == path


def test_symlink_out_of_the_folder_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "outside.bin").write_bytes(b"x")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.bin").symlink_to(tmp_path / "outside.bin")
    with pytest.raises(ManifestMismatchError, match="resolves to .*outside.bin, outside the "
                                                    "model folder"):
        resolve_inside(tmp_path / "model", "w.bin")
    assert resolve_inside(tmp_path, "outside.bin") == (tmp_path / "outside.bin").resolve()


def test_digests_and_verified_reads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = bytes(range(256)) * (3 * 4096 + 7)                  # > 3 MiB: several read chunks
    (tmp_path / "w.bin").write_bytes(data)
    assert sha256_file(tmp_path / "w.bin") == hashlib.sha256(data).hexdigest()
    art = make_artefact(tmp_path, ["w.bin"], "onnx")
    assert art.files == (ArtefactFile("w.bin", hashlib.sha256(data).hexdigest()),)
    assert make_artefact(tmp_path, "w.bin", "onnx") == art
    assert read_verified(tmp_path, art.files[0]) == data
    with pytest.raises(ModelFileError, match="is larger than 100 bytes"):
        read_verified(tmp_path, art.files[0], max_bytes=100)
    assert read_verified(tmp_path, art.files[0], max_bytes=len(data)) == data   # at the cap
    (tmp_path / "w.bin").write_bytes(data[:-1] + b"\x00")
    for check in (read_verified, verify_file):
        with pytest.raises(ManifestMismatchError,
                           match=r"sha256 of .*w\.bin is [0-9a-f]{12}\.\.\., the manifest "
                                 r"records [0-9a-f]{12}\.\.\.: the file was changed"):
            check(tmp_path, art.files[0])
    (tmp_path / "w.bin").unlink()
    with pytest.raises(ModelFileError, match="listed in the manifest is missing"):
        read_verified(tmp_path, art.files[0])


_EMAP = ExpectationMap((-89.4, -60.0, 0.0, 60.0, 89.4), (-99.0, -60.1, 0.0, 60.1, 99.0))


def test_expectation_map_interpolates_between_knots_and_holds_the_ends():
    values = np.array([[np.nan, -200.0, -89.4], [-74.7, 0.0, 30.0], [60.0, 89.4, 95.0]])
    got = _EMAP.apply(values)
    assert got.dtype == np.float32 and got.shape == (3, 3) and np.isnan(got[0, 0])
    np.testing.assert_allclose(got[0, 1:], [-99.0, -99.0])           # beyond the first knot
    np.testing.assert_allclose(got[1], [(-99.0 - 60.1) / 2, 0.0, 30.05], rtol=1e-6)
    np.testing.assert_allclose(got[2], [60.1, 99.0, 99.0])           # knot, last knot, beyond
    assert _EMAP.apply(np.float32(60.0)).shape == ()


def test_expectation_map_slope_is_the_local_derivative_with_end_segments_beyond():
    x = np.array([-120.0, -89.4, -80.0, -10.0, 30.0, 59.9, 75.0, 89.4, 120.0])
    got = _EMAP.slope(x)
    xp, fp = np.array(_EMAP.expectation_deg), np.array(_EMAP.angle_deg)
    seg = np.diff(fp) / np.diff(xp)
    np.testing.assert_allclose(got, seg[[0, 0, 0, 1, 2, 2, 3, 3, 3]], rtol=1e-6)
    inside = np.array([-80.0, -10.0, 30.0, 75.0])            # a finite difference agrees
    h = 1e-3
    np.testing.assert_allclose(_EMAP.slope(inside),
                               (_EMAP.apply(inside + h).astype(np.float64)
                                - _EMAP.apply(inside - h)) / (2 * h), rtol=2e-2)
    assert got.dtype == np.float32 and _EMAP.slope(x.reshape(3, 3)).shape == (3, 3)


def test_expectation_map_small_batches_match_the_numpy_path_bit_for_bit():
    """``map`` on Python floats (batch <= 4) gives the numpy path's float32 numbers."""
    rng = np.random.default_rng(7)
    values = np.concatenate([[np.nan], rng.uniform(-120, 120, 400), _EMAP.expectation_deg,
                             [-89.41, 89.41, 0.0, -0.0, 1e-6, -200.0]]).astype(np.float32)
    values = values[:len(values) - len(values) % 3].reshape(-1, 3)
    stds = rng.uniform(0.5, 40, values.shape).astype(np.float32)
    want_angle, want_std = _EMAP.map(values, stds)                  # > 12 values: numpy
    assert np.array_equal(want_angle, _EMAP.apply(values), equal_nan=True)
    assert np.array_equal(want_std, stds * _EMAP.slope(values))
    for i in range(len(values)):                                     # [1, 3]: Python floats
        angle, std = _EMAP.map(values[i:i + 1], stds[i:i + 1])
        assert angle.dtype == std.dtype == np.float32
        assert np.array_equal(angle, want_angle[i:i + 1], equal_nan=True), values[i]
        assert np.array_equal(std, want_std[i:i + 1]), values[i]


@pytest.mark.parametrize("expectation, angle, phrase", [
    ((0.0,), (0.0,), "2 to 256"),
    ((0.0, 1.0, 1.0), (0.0, 1.0, 2.0), "increase"),
    ((0.0, 1.0), (1.0, 0.0), "increase"),
    ((0.0, 200.0), (0.0, 1.0), "180"),
])
def test_expectation_map_rejects_bad_knots(expectation, angle, phrase):
    with pytest.raises(ValueError, match=phrase):
        ExpectationMap(expectation, angle)


def test_expectation_map_round_trips_and_old_manifests_load_without_one():
    manifest = Manifest(backbone="resnet18", expectation_map=_EMAP)
    assert Manifest.from_json(manifest.to_json()).expectation_map == _EMAP
    old = Manifest(backbone="resnet18").to_dict()
    del old["expectation_map"], old["training"]["binned_centre"]
    assert Manifest.from_dict(old).expectation_map is None
    bad = json.loads(manifest.to_json())
    bad["expectation_map"]["angle_deg"][-1] = 1000.0
    with pytest.raises(ManifestMismatchError, match="180"):
        Manifest.from_dict(bad)
