"""The built-in models (``default``, ``large``, ``fast``): complete, and accurate on real
validation crops in every precision.

Everything is measured against labels or against a run the test makes itself, never against a
recorded output of the model (which would be regenerated with the weights): the 883 validation
crops of ``../shared/data/aflw-crops`` (none used in training), yaw against the human AFLW
annotation, pitch and roll against the FSA-Net teacher (the only labels these crops have).
The full path with real frames and crop rule is in test_accuracy_floor.py.
"""
from __future__ import annotations

import csv
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from gldpose_sdk import PoseEstimator
from gldpose_sdk.config import BackendOptions, EstimatorConfig
from gldpose_sdk.builtin_models import BUILTIN_MODELS, builtin_model_dir
from gldpose_sdk.manifest import read_manifest

LABELS = ("yaw_annotated", "pitch_teacher", "roll_teacher")
#: The FSA-Net peer's yaw MAE against the human annotation on these same 883 crops
#: (docs/results/default_model.md): the README's claim is that the default model beats it.
PEER_YAW_MAE_DEG = 7.70
#: Pitch and roll against the teacher that labelled them: a model that learned them is far
#: closer than the spread of the labels themselves (about 13 degrees).
TEACHER_AGREEMENT_DEG = 5.0
#: A precision may change each angle's MAE by at most this much against fp32 on the same crops
#: (precision choice is a speed trade, not an accuracy one: DESIGN 7, README).
#: (fp32 here still runs the IR's fp16 weights.)
MAE_CHANGE_DEG = {"bf16": 0.1, "fp16": 0.1, "fp32": 0.1, "int8": 0.5}
#: ... and each face's angles by this much on average.
MEAN_SHIFT_DEG = {"bf16": 0.3, "fp16": 0.3, "fp32": 0.1, "int8": 1.0}
CHUNK = 128
BACKBONES = {"default": "mobilenet_v3_large_075", "large": "mobilenet_v3_large",
             "fast": "mobilenet_v3_small"}


@pytest.fixture(scope="module", params=sorted(BUILTIN_MODELS))
def builtin(request: pytest.FixtureRequest) -> str:
    """Each built-in model's name (every test below runs on each)."""
    return request.param


def test_builtin_model_is_shipped_and_complete(builtin: str) -> None:
    manifest = read_manifest(builtin_model_dir(builtin))
    assert manifest.backbone == BACKBONES[builtin]
    assert {a.format for a in manifest.artefacts} >= {"safetensors", "onnx", "openvino"}
    assert manifest.has("openvino", "int8")
    assert manifest.calibration is not None and manifest.expectation_map is not None
    weights = builtin_model_dir(builtin) / manifest.find("safetensors").path
    assert weights.stat().st_size <= 20 * 2**20


@pytest.fixture(scope="module")
def val_crops(shared_data: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """All validation crops (uint8 BGR) and their labels ``[N, 3]`` (yaw, pitch, roll)."""
    data = shared_data / "aflw-crops"
    with open(data / "labels.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "val"]
    wanted = {r["name"] for r in rows}
    images = {}
    with tarfile.open(data / "images.tar") as tar:
        for member in tar:
            name = Path(member.name).name
            if name in wanted:
                raw = np.frombuffer(tar.extractfile(member).read(), np.uint8)
                images[name] = cv2.imdecode(raw, cv2.IMREAD_COLOR)
    labels = np.array([[float(r[c]) for c in LABELS] for r in rows])
    assert len(rows) > 800 and len(images) == len(rows)
    return [images[r["name"]] for r in rows], labels


def _angles(est: PoseEstimator, crops: list[np.ndarray]) -> np.ndarray:
    return np.array([p.angles_deg for i in range(0, len(crops), CHUNK)
                     for p in est.estimate_crops(crops[i:i + CHUNK])])


@pytest.fixture(scope="module")
def fp32_angles(val_crops, builtin: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The reference run: ONNX Runtime, fp32 ONNX."""
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
    with PoseEstimator(builtin, backend="onnxruntime", detector="none") as est:
        assert est.describe().backend.precision == "fp32"
        return _angles(est, val_crops[0])


@pytest.mark.slow
def test_fp32_beats_the_peer_on_human_yaw(val_crops, fp32_angles) -> None:  # type: ignore[no-untyped-def]
    mae = np.abs(fp32_angles - val_crops[1]).mean(axis=0)
    assert mae[0] < PEER_YAW_MAE_DEG, f"yaw MAE {mae[0]:.2f}"
    assert np.all(mae[1:] < TEACHER_AGREEMENT_DEG), f"pitch/roll MAE {mae[1:].round(2)}"


@pytest.mark.slow
def test_colour_order_is_the_one_that_works(val_crops, fp32_angles, builtin) -> None:  # type: ignore[no-untyped-def]
    """The same crops with red and blue swapped must do worse than the SDK's own order.

    A pipeline that fed BGR where the network expects RGB would get it the other way round. The
    gap is a paired difference over 883 faces (0.6 degrees summed over the three angles, six
    standard errors, when this was written), so its sign is not noise.
    """
    crops, labels = val_crops
    swapped = [np.ascontiguousarray(c[..., ::-1]) for c in crops]
    with PoseEstimator(builtin, backend="onnxruntime", detector="none") as est:
        wrong = _angles(est, swapped)
    right_mae = np.abs(fp32_angles - labels).sum(axis=1).mean()
    wrong_mae = np.abs(wrong - labels).sum(axis=1).mean()
    assert right_mae < wrong_mae, (right_mae, wrong_mae)


@pytest.mark.slow
@pytest.mark.parametrize("artefact_precision", ["auto", "int8"])
def test_openvino_precisions_on_real_crops(val_crops, fp32_angles, builtin: str,
                                           artefact_precision: str) -> None:  # type: ignore[no-untyped-def]
    """The IR the SDK picks and the INT8 IR, each with the plugin's default precision (what
    ``PoseEstimator()`` runs: bf16 on CPUs with AVX512_BF16), on every other validation crop."""
    pytest.importorskip("openvino", reason="openvino not installed")
    crops, labels = val_crops[0][::2], val_crops[1][::2]
    fp32_angles = fp32_angles[::2]
    options = BackendOptions(artefact_precision=artefact_precision)
    with PoseEstimator(builtin, backend="openvino", detector="none",
                       config=EstimatorConfig(backend=options)) as est:
        info = est.describe().backend
        got = _angles(est, crops)
    kind = "int8" if artefact_precision == "int8" else info.precision
    mae_change = np.abs(np.abs(got - labels).mean(axis=0)
                        - np.abs(fp32_angles - labels).mean(axis=0))
    shift = np.abs(got - fp32_angles).mean(axis=0)
    where = f"{info.precision} on {info.artefact_path}"
    assert np.all(mae_change <= MAE_CHANGE_DEG[kind]), f"{where}: MAE change {mae_change}"
    assert np.all(shift <= MEAN_SHIFT_DEG[kind]), f"{where}: mean shift {shift}"
    assert np.std(got[:, 0]) > 20          # not a constant output: yaw spreads as the faces do


@pytest.mark.slow
def test_uncertainty_reflects_the_training_sigma(val_crops, builtin: str) -> None:  # type: ignore[no-untyped-def]
    """GLD targets have sigma bins of spread; the typical predicted (raw) std is of that order.

    A few ambiguous faces (left/right profile) are bimodal and far wider, which is the point.
    The calibrated std (``std_deg``) is a different quantity: the expected error.
    """
    manifest = read_manifest(builtin_model_dir(builtin))
    sigma_deg = manifest.training.sigma_bins * manifest.bins.width_deg
    with PoseEstimator(builtin, backend="onnxruntime", detector="none") as est:
        poses = [p for i in range(0, 256, CHUNK) for p in est.estimate_crops(
            val_crops[0][i:i + CHUNK])]
    std = np.array([p.raw_std_deg for p in poses])
    assert np.all(std > 0)
    assert 0.5 * sigma_deg < np.median(std[:, 0]) < 2.0 * sigma_deg
