"""PoseEstimator public API: crops, frames with boxes, detectors, video, describe, errors."""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

import gldpose_sdk.builtin_models as builtin_models
from gldpose_sdk import (
    BackendRuntimeError,
    InputError,
    ManifestMismatchError,
    ModelFileError,
    Pose,
    PoseEstimator,
)
from gldpose_sdk.backends import missing_packages
from gldpose_sdk.config import EstimatorConfig
from gldpose_sdk.decode import decode_implementation

pytest.importorskip("torch", reason="torch not installed")


@pytest.fixture(scope="module")
def estimator(tiny_model_dir: Path) -> PoseEstimator:
    est = PoseEstimator(tiny_model_dir, backend="pytorch", device="cpu", detector="none")
    yield est
    est.close()


def test_estimate_crops_list_and_array_agree(estimator: PoseEstimator,
                                             crops: list[np.ndarray]) -> None:
    poses = estimator.estimate_crops(crops)
    assert len(poses) == len(crops) and all(isinstance(p, Pose) for p in poses)
    assert poses[1].box == (0.0, 0.0, 60.0, 80.0) and poses[1].score == 1.0
    angles = np.array([p.angles_deg for p in poses])
    assert np.all(np.ptp(angles, axis=0) > 5.0)       # different crops, different poses
    assert all(s > 0 for p in poses for s in p.std_deg)
    same = [c for c in crops if c.shape == (64, 64, 3)]
    from_array = estimator.estimate_crops(np.stack(same))
    from_list = estimator.estimate_crops(same)
    np.testing.assert_allclose([p.angles_deg for p in from_array],
                               [p.angles_deg for p in from_list], atol=1e-6)


def _zero_padded_cut(image: np.ndarray, box) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Reference cut: the rounded box as a copy, black where it leaves the image."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    out = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x1, image.shape[1]), min(y1, image.shape[0])
    out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


def test_estimate_with_box_equals_cut_crop(estimator: PoseEstimator, rng: np.random.Generator,
                                           make_face) -> None:  # type: ignore[no-untyped-def]
    """A box in a frame gives the pose of the crop the manifest's crop rule cuts around it."""
    frame = rng.integers(0, 255, size=(240, 320, 3), dtype=np.uint8)
    frame[60:180, 100:200] = make_face(rng, 120, 100)
    boxes = [(110.0, 80.0, 190.0, 170.0), (5.0, 5.0, 60.0, 50.0)]
    poses = estimator.estimate(frame, boxes=boxes)
    assert [p.box for p in poses] == boxes
    crop_rule = estimator.manifest.crop
    cut = [_zero_padded_cut(frame, crop_rule.expand(b)) for b in boxes]
    expected = estimator.estimate_crops(cut)
    np.testing.assert_allclose([p.angles_deg for p in poses],
                               [p.angles_deg for p in expected], atol=1e-4)
    assert poses[0].quality.inside_frame_frac == 1.0
    assert 0.4 < poses[1].quality.inside_frame_frac < 1.0
    assert estimator.estimate(frame, boxes=[]) == []


def test_detector_none_takes_whole_frame(estimator: PoseEstimator, rng: np.random.Generator,
                                         make_face) -> None:  # type: ignore[no-untyped-def]
    frame = make_face(rng, 90, 70)
    (pose,) = estimator.estimate(frame)
    (crop_pose,) = estimator.estimate_crops([frame])
    assert pose.box == (0.0, 0.0, 70.0, 90.0)
    np.testing.assert_allclose(pose.angles_deg, crop_pose.angles_deg, atol=1e-5)


def test_callable_detector_filters_and_orders(tiny_model_dir: Path,
                                              rng: np.random.Generator) -> None:
    frame = rng.integers(0, 255, size=(200, 200, 3), dtype=np.uint8)
    found = [(10, 10, 60, 70, 0.6), (100, 100, 190, 190, 0.9), (0, 0, 8, 8, 0.99)]
    config = EstimatorConfig(max_faces=1, min_face_px=20)
    with PoseEstimator(tiny_model_dir, backend="pytorch", detector=lambda f: found,
                       config=config) as est:
        poses = est.estimate(frame)
        assert est.describe().detector == "callable"
    assert len(poses) == 1 and poses[0].box == (100.0, 100.0, 190.0, 190.0)
    assert poses[0].score == pytest.approx(0.9)


def test_describe(estimator: PoseEstimator, tiny_model_dir: Path) -> None:
    info = estimator.describe()
    data = info.to_dict()
    json.dumps(data)
    assert data["backend"]["name"] == "pytorch" and data["requested_backend"] == "pytorch"
    assert data["model_dir"] == str(tiny_model_dir) and data["input_size_px"] == 64
    assert data["backend"]["artefact_sha256"] == estimator.manifest.find("safetensors").sha256
    compiled = importlib.util.find_spec("gldpose_sdk._decode") is not None
    assert data["decode"] == decode_implementation() == ("compiled" if compiled else "numpy")
    # the tiny model's filter is OpenCV's plain area resize, which the compiled crop does not do
    assert estimator.manifest.input.resize == "area" and data["crop"] == "opencv"
    assert "pytorch" in repr(estimator)


def test_track_iterable_and_video_file(estimator: PoseEstimator, tmp_path: Path,
                                       make_face) -> None:  # type: ignore[no-untyped-def]
    frames = [make_face(np.random.default_rng(7), 96, 96) for _ in range(5)]
    results = list(estimator.track(frames, fps=10.0))
    assert [r.index for r in results] == list(range(5))
    assert [r.t_s for r in results] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    ids = {p.track_id for r in results for p in r.poses}
    assert len(ids) == 1 and None not in ids  # one face, one track
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (96, 96))
    for f in frames:
        writer.write(f)
    writer.release()
    from_file = list(estimator.track(path))
    assert len(from_file) == 5 and from_file[1].t_s == pytest.approx(0.04)
    assert all(len(r.poses) == 1 for r in from_file)


def test_track_missing_file(estimator: PoseEstimator, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        next(estimator.track(tmp_path / "none.mp4"))


@pytest.mark.parametrize("bad, phrase", [
    (np.zeros((64, 64, 3), np.uint8), "[N, H, W, 3]"),
    ([np.zeros((64, 64), np.uint8)], "[H, W, 3]"),
    ([np.zeros((64, 64, 3), np.float32)], "uint8"),
    ([], "empty"),
])
def test_bad_crops_raise_input_error(estimator: PoseEstimator, bad: object, phrase: str) -> None:
    with pytest.raises(InputError) as info:
        estimator.estimate_crops(bad)  # type: ignore[arg-type]
    assert phrase in str(info.value)


def test_bad_box_raises_input_error(estimator: PoseEstimator) -> None:
    frame = np.zeros((50, 50, 3), np.uint8)
    with pytest.raises(InputError, match="x1 > x0"):
        estimator.estimate(frame, boxes=[(10, 10, 5, 40)])


def test_missing_model_dir(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not a gldpose model folder"):
        PoseEstimator(tmp_path / "nothing", detector="none")


def test_missing_default_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builtin_models, "_MODELS_DIR", tmp_path)
    with pytest.raises(ModelFileError, match="built-in default model is missing"):
        PoseEstimator(detector="none")


def test_tampered_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(tiny_model_dir, copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0x55
    weights.write_bytes(bytes(data))
    with pytest.raises(ManifestMismatchError, match="sha256"):
        PoseEstimator(copy, backend="pytorch", detector="none")


def test_closed_estimator(tiny_model_dir: Path, crops: list[np.ndarray]) -> None:
    with PoseEstimator(tiny_model_dir, backend="pytorch", detector="none") as est:
        est.estimate_crops(crops[:1])
    est.close()
    with pytest.raises(BackendRuntimeError, match="closed"):
        est.estimate_crops(crops[:1])


def test_manifest_expectation_map_applies_to_every_output(tiny_model_dir: Path, tmp_path: Path,
                                                          crops: list[np.ndarray]) -> None:
    """The decode maps each network output through the manifest's map (the angle, and the std
    times the map's slope), flip averaging after."""
    from gldpose_sdk.inference import average_flipped
    from gldpose_sdk.manifest import ExpectationMap, read_manifest, write_manifest

    folder = tmp_path / "mapped"
    shutil.copytree(tiny_model_dir, folder)
    angle_map = ExpectationMap((-99.0, 0.0, 99.0), (-60.0, 10.0, 70.0))   # two slopes, not 1
    write_manifest(folder, dataclasses.replace(read_manifest(folder), expectation_map=angle_map))
    kw = {"backend": "pytorch", "device": "cpu", "detector": "none"}

    def mapped_plain(est: PoseEstimator, images: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        poses = est.estimate_crops(images)
        angles = np.array([p.angles_deg for p in poses], np.float32)
        std = np.array([p.std_deg for p in poses], np.float32)   # no calibration: the raw std
        return angle_map.apply(angles), std * angle_map.slope(angles)

    for flip in (False, True):
        cfg = EstimatorConfig(flip_average=flip)
        with PoseEstimator(tiny_model_dir, **kw) as plain, \
                PoseEstimator(folder, config=cfg, **kw) as mapped:
            poses = mapped.estimate_crops(crops)
            got = np.array([p.angles_deg for p in poses])
            got_std = np.array([p.std_deg for p in poses])
            want, want_std = mapped_plain(plain, crops)
            if flip:
                mirrored = [np.ascontiguousarray(c[:, ::-1]) for c in crops]
                want, want_std = average_flipped(want, want_std, *mapped_plain(plain, mirrored))
            np.testing.assert_allclose(got, want, atol=1e-3)
            np.testing.assert_allclose(got_std, want_std, rtol=1e-4)
            assert np.ptp(got[:, 0]) > 1.0


def test_numpy_and_compiled_decode_give_the_same_poses(exported_model_dir: Path, tmp_path: Path,
                                                       crops: list[np.ndarray],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """estimate_crops with the manifest's expectation map and calibration: the compiled
    one-call decode (when built) and the numpy path give the same Pose objects."""
    from gldpose_sdk import decode
    from gldpose_sdk.manifest import (
        AngleCalibration,
        Calibration,
        ExpectationMap,
        read_manifest,
        write_manifest,
    )

    if missing_packages("onnxruntime"):
        pytest.skip("onnxruntime not installed")
    folder = tmp_path / "mapped"
    shutil.copytree(exported_model_dir, folder)
    calibration = Calibration(AngleCalibration((5.0, 20.0), (2.0, 9.0)),
                              AngleCalibration((10.0,), (4.0,)),
                              AngleCalibration((1.0, 30.0, 60.0), (0.5, 10.0, 40.0)))
    write_manifest(folder, dataclasses.replace(
        read_manifest(folder), calibration=calibration,
        expectation_map=ExpectationMap((-99.0, 0.0, 99.0), (-60.0, 10.0, 70.0))))
    with PoseEstimator(folder, backend="onnxruntime", device="cpu", detector="none") as est:
        default = est.estimate_crops(crops)
        monkeypatch.setattr(decode, "_compiled", None)
        numpy_only = est.estimate_crops(crops)
    for a, b in zip(default, numpy_only):
        np.testing.assert_allclose([*a.angles_deg, *a.std_deg, *a.raw_std_deg],
                                   [*b.angles_deg, *b.std_deg, *b.raw_std_deg], atol=1e-4)
        assert a.quality == b.quality
    assert any(p.std_deg[0] != p.raw_std_deg[0] for p in default)   # the calibration applied


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_logits_are_a_backend_runtime_error(exported_model_dir: Path,
                                                       crops: list[np.ndarray], flip: bool,
                                                       bad: float) -> None:
    """NaN or Inf from the network is a BackendRuntimeError naming the backend, whichever
    step finds it (the decode on the plain path, the backend's scan with flip averaging)."""
    if missing_packages("onnxruntime"):
        pytest.skip("onnxruntime not installed")
    with PoseEstimator(exported_model_dir, backend="onnxruntime", device="cpu", detector="none",
                       config=EstimatorConfig(flip_average=flip)) as est:
        run = est._backend._run

        def poisoned(batch: np.ndarray) -> np.ndarray:
            out = run(batch).copy()
            out[-1, 2, 5] = bad
            return out

        est._backend._run = poisoned   # type: ignore[method-assign]
        with pytest.raises(BackendRuntimeError, match="^onnxruntime returned NaN or Inf logits"):
            est.estimate_crops(crops[:2])


def test_replaced_config_or_manifest_takes_effect(tiny_model_dir: Path,
                                                  crops: list[np.ndarray]) -> None:
    """The estimator prepares its decode once; replacing ``config`` (quality limits, flip
    averaging) or ``manifest`` (a calibration) afterwards still changes the next poses."""
    from gldpose_sdk.config import QualityThresholds
    from gldpose_sdk.manifest import AngleCalibration, Calibration

    with PoseEstimator(tiny_model_dir, backend="pytorch", device="cpu", detector="none") as est:
        before = est.estimate_crops(crops)
        assert all("uncertain yaw" not in p.quality.reasons for p in before)
        est.config = dataclasses.replace(
            est.config, quality=QualityThresholds(max_std_deg=(0.01, 99.0, 99.0)))
        strict = est.estimate_crops(crops)
        assert all("uncertain yaw" in p.quality.reasons for p in strict)
        assert [p.angles_deg.tolist() for p in strict] == [p.angles_deg.tolist() for p in before]
        est.config = dataclasses.replace(est.config, flip_average=True)
        flipped = est.estimate_crops(crops)
        assert not np.allclose([p.angles_deg for p in flipped], [p.angles_deg for p in before])
        est.config = EstimatorConfig()
        stretch = AngleCalibration(raw_std_deg=(0.01, 100.0), std_deg=(0.03, 300.0))
        est.manifest = dataclasses.replace(est.manifest, calibration=Calibration(
            yaw=stretch, pitch=stretch, roll=stretch))
        scaled = est.estimate_crops(crops)
        np.testing.assert_allclose([p.std_deg for p in scaled],
                                   [np.array(p.raw_std_deg) * 3 for p in before], rtol=1e-5)
