"""The deployed model on every runtime and precision, beside the shipped peers, on real crops.

``gldpose compare --model DIR --data ../shared/data/aflw-crops [--peers DIR]`` runs the
validation crops through :class:`gldpose_sdk.PoseEstimator` exactly as an application would
(``estimate_crops``), once per backend/artefact precision/OpenVINO hint, optionally with flip
averaging, and through the two peers in ``shared/data/peers`` with their own preprocessing:
FSA-Net (ONNX Runtime; its crop: pad 15 px, resize to 64, ``(x - 127.5) / 128``, ensemble mean)
and OpenVINO's head-pose-estimation-adas-0001 (crop resized to 60; its yaw and pitch signs are
opposite to ours). Labels: yaw = the human AFLW annotation; pitch and roll = the FSA-Net
teacher, so FSA-Net is scored against itself on pitch and roll: only its yaw is comparable.
"""
from __future__ import annotations

import csv
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from tqdm import tqdm

from gldpose_sdk.config import BackendOptions, EstimatorConfig
from gldpose_sdk.errors import GldposeError
from gldpose_sdk.estimator import PoseEstimator
from gldpose_train import TrainError
from gldpose_train.evaluate import mae_by_yaw_band, mae_table


@dataclass(frozen=True)
class RuntimeSetting:
    """One way of running the model through the SDK."""

    name: str
    backend: str
    artefact_precision: str = "auto"
    openvino_precision: str = "default"
    flip_average: bool = False


SETTINGS: tuple[RuntimeSetting, ...] = (
    RuntimeSetting("pytorch fp32", "pytorch", openvino_precision="f32"),
    RuntimeSetting("onnxruntime fp32", "onnxruntime"),
    RuntimeSetting("openvino IR fp16, f32 compute", "openvino", "fp16", "f32"),
    RuntimeSetting("openvino IR fp16, default hint", "openvino", "fp16", "default"),
    RuntimeSetting("openvino IR int8", "openvino", "int8", "f32"),
    RuntimeSetting("openvino IR fp16, default hint, flip averaging", "openvino", "fp16",
                   "default", True),
)


def load_val_crops(data: Path, limit: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """The validation crops (BGR uint8) of the AFLW crops package and labels ``[N, 3]``."""
    table = data / "labels.csv"
    if not table.is_file():
        raise TrainError(f"{table} not found: expected the aflw-crops package")
    with open(table, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "val"]
    rows = rows[:limit] if limit else rows
    with tarfile.open(data / "images.tar") as tar:
        members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
        crops = [cv2.imdecode(np.frombuffer(tar.extractfile(members[r["name"]]).read(),
                                            np.uint8), cv2.IMREAD_COLOR) for r in rows]
    labels = np.array([[float(r["yaw_annotated"]), float(r["pitch_teacher"]),
                        float(r["roll_teacher"])] for r in rows])
    return crops, labels


def run_setting(model_dir: Path, setting: RuntimeSetting, crops: list[np.ndarray],
                batch: int = 64) -> tuple[np.ndarray, float]:
    """Angles ``[N, 3]`` and ms per face for one setting."""
    config = EstimatorConfig(
        backend=BackendOptions(artefact_precision=setting.artefact_precision,
                               openvino_precision=setting.openvino_precision),
        flip_average=setting.flip_average)
    with PoseEstimator(model_dir, backend=setting.backend, detector="none",
                       config=config) as est:
        est.estimate_crops(crops[:8])
        start, preds = time.perf_counter(), []
        for i in range(0, len(crops), batch):
            preds += [p.angles_deg for p in est.estimate_crops(crops[i:i + batch])]
        ms = (time.perf_counter() - start) * 1e3 / len(crops)
    return np.array(preds), ms


def run_fsanet(peers: Path, crops: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """FSA-Net ensemble: mean of its ONNX models on the padded 64 px crop."""
    import onnxruntime as ort

    sessions = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
                for p in sorted((peers / "fsanet").glob("*.onnx"))]
    if not sessions:
        raise TrainError(f"no FSA-Net ONNX files in {peers / 'fsanet'}")
    preds, start = [], time.perf_counter()
    for crop in tqdm(crops, desc="FSA-Net", leave=False):
        padded = cv2.copyMakeBorder(crop, 15, 15, 15, 15, cv2.BORDER_CONSTANT, value=0)
        x = cv2.resize(padded, (64, 64), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        x = ((x - 127.5) / 128.0).transpose(2, 0, 1)[None]
        preds.append(np.mean([s.run(None, {s.get_inputs()[0].name: x})[0][0]
                              for s in sessions], axis=0))
    return np.array(preds), (time.perf_counter() - start) * 1e3 / len(crops)


def run_omz(peers: Path, crops: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """OpenVINO head-pose-estimation-adas-0001 on the crop resized to 60 px; signs fixed."""
    import openvino as ov

    xml = next((peers / "omz-head-pose-adas-0001").glob("*.xml"), None)
    if xml is None:
        raise TrainError(f"no OMZ head-pose IR in {peers / 'omz-head-pose-adas-0001'}")
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    preds, start = [], time.perf_counter()
    for crop in tqdm(crops, desc="OMZ", leave=False):
        x = cv2.resize(crop, (60, 60), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        out = compiled(x.transpose(2, 0, 1)[None])
        y, p, r = (float(out[compiled.output(n)].ravel()[0])
                   for n in ("angle_y_fc", "angle_p_fc", "angle_r_fc"))
        preds.append([-y, -p, r])
    return np.array(preds), (time.perf_counter() - start) * 1e3 / len(crops)


PEERS: dict[str, Callable[[Path, list[np.ndarray]], tuple[np.ndarray, float]]] = {
    "FSA-Net peer (the teacher)": run_fsanet,
    "OMZ head-pose-adas-0001": run_omz,
}


def compare(model_dir: Path, data: Path, peers: Path | None, limit: int = 0) -> dict:
    """Every available setting and peer on the validation crops: tables, bands, ms per face."""
    crops, labels = load_val_crops(data, limit)
    results = {}
    for setting in tqdm(SETTINGS, desc="runtimes", leave=False):
        try:
            pred, ms = run_setting(model_dir, setting, crops)
        except GldposeError as exc:  # a runtime or an artefact not present here: report it
            results[setting.name] = {"skipped": f"{type(exc).__name__}: {exc}"[:300]}
            continue
        results[setting.name] = {**mae_table(pred, labels),
                                 "bands": mae_by_yaw_band(pred, labels), "ms_per_face": ms}
    for name, run in PEERS.items() if peers is not None else ():
        pred, ms = run(peers, crops)
        results[name] = {**mae_table(pred, labels), "bands": mae_by_yaw_band(pred, labels),
                         "ms_per_face": ms}
    return results


def format_comparison(results: dict) -> str:
    """A markdown table of :func:`compare`'s results."""
    lines = ["| run | yaw | pitch | roll | MAE | yaw beyond 60 | ms/face (batch 64) |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        if "skipped" in r:
            lines.append(f"| {name} | skipped: {r['skipped'][:80]} | | | | | |")
            continue
        lines.append(f"| {name} | {r['yaw']:.2f} | {r['pitch']:.2f} | {r['roll']:.2f} | "
                     f"{r['mae']:.2f} | {r['bands']['60-99']['yaw']:.2f} | "
                     f"{r['ms_per_face']:.2f} |")
    return "\n".join(lines)
