"""Validation table of the default model on every runtime/precision, beside the two peers.

    python scripts/evaluate_default_model.py --data ../shared/data/aflw-crops \
        --model sdk/gldpose_sdk/models/default --json docs/results/default_model/val_eval.json

Uses the SDK exactly as an application would (``PoseEstimator.estimate_crops`` on the 120 px
validation crops). Labels: yaw = the human AFLW annotation; pitch and roll = the FSA-Net teacher
(so the FSA-Net peer is scored against itself on pitch and roll: only its yaw is comparable).
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from gldpose_sdk.config import BackendOptions, EstimatorConfig
from gldpose_sdk.estimator import PoseEstimator
from gldpose_sdk.manifest import read_manifest, write_manifest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from gldpose_train.evaluate import mae_by_yaw_band, mae_table  # noqa: E402

# name -> (backend, artefact formats/precisions kept in the manifest, OpenVINO precision hint)
RUNS = {
    "pytorch fp32 (fp16 weights)": ("pytorch", {("safetensors", "fp16")}, "f32"),
    "onnxruntime fp32": ("onnxruntime", {("onnx", "fp32")}, "f32"),
    "openvino IR-fp16, f32 hint": ("openvino", {("openvino", "fp16")}, "f32"),
    "openvino IR-fp16, default hint (bf16 here)": ("openvino", {("openvino", "fp16")}, "default"),
    "openvino IR-int8, f32 hint": ("openvino", {("openvino", "int8")}, "f32"),
}


def load_val(data: Path, limit: int = 0) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """The validation crops (BGR uint8 120x120) and labels [N, 3] yaw/pitch/roll."""
    rows = [r for r in csv.DictReader(open(data / "labels.csv")) if r["split"] == "val"]
    rows = rows[:limit] if limit else rows
    tar = tarfile.open(data / "images.tar")
    members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
    crops = [cv2.imdecode(np.frombuffer(tar.extractfile(members[r["name"]]).read(), np.uint8),
                          cv2.IMREAD_COLOR) for r in rows]
    labels = np.array([[float(r["yaw_annotated"]), float(r["pitch_teacher"]),
                        float(r["roll_teacher"])] for r in rows])
    return crops, labels, [r["name"] for r in rows]


def variant_dir(model: Path, keep: set[tuple[str, str]], tmp: Path) -> Path:
    """A copy of the model folder whose manifest lists only the ``keep`` artefacts."""
    out = tmp / "_".join(f"{f}-{p}" for f, p in sorted(keep))
    if out.exists():
        return out
    shutil.copytree(model, out)
    manifest = read_manifest(out)
    arts = tuple(a for a in manifest.artefacts if (a.format, a.precision) in keep)
    write_manifest(out, dataclasses.replace(manifest, artefacts=arts))
    return out


def run_sdk(model_dir: Path, backend: str, hint: str, crops: list[np.ndarray]
            ) -> tuple[np.ndarray, float]:
    cfg = EstimatorConfig(backend=BackendOptions(openvino_precision=hint))
    with PoseEstimator(model_dir, backend=backend, detector="none", config=cfg) as est:
        est.estimate_crops(crops[:8])  # warm-up
        start, preds = time.perf_counter(), []
        for i in range(0, len(crops), 64):
            preds += [p.angles_deg for p in est.estimate_crops(crops[i:i + 64])]
        per_face_ms = (time.perf_counter() - start) * 1e3 / len(crops)
    return np.array(preds), per_face_ms


def run_fsanet(peers: Path, crops: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """FSA-Net ensemble (mean of 1x1 and var), protocol C of its PEER.md (pad 15 -> 150 -> 64)."""
    import onnxruntime as ort

    sessions = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
                for p in sorted((peers / "fsanet").glob("*.onnx"))]
    preds, start = [], time.perf_counter()
    for crop in tqdm(crops, desc="FSA-Net", leave=False):
        padded = cv2.copyMakeBorder(crop, 15, 15, 15, 15, cv2.BORDER_CONSTANT, value=0)
        x = cv2.resize(padded, (64, 64), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        x = ((x - 127.5) / 128.0).transpose(2, 0, 1)[None]
        preds.append(np.mean([s.run(None, {"input": x})[0][0] for s in sessions], axis=0))
    return np.array(preds), (time.perf_counter() - start) * 1e3 / len(crops)


def run_omz(peers: Path, crops: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """OpenVINO head-pose-estimation-adas-0001, crop resized to 60 (protocol B); signs fixed."""
    import openvino as ov

    xml = next((peers / "omz-head-pose-adas-0001").glob("*.xml"))
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    preds, start = [], time.perf_counter()
    for crop in tqdm(crops, desc="OMZ", leave=False):
        x = cv2.resize(crop, (60, 60), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        out = compiled(x.transpose(2, 0, 1)[None])
        y, p, r = (float(out[compiled.output(n)].ravel()[0])
                   for n in ("angle_y_fc", "angle_p_fc", "angle_r_fc"))
        preds.append([-y, -p, r])
    return np.array(preds), (time.perf_counter() - start) * 1e3 / len(crops)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--peers", type=Path, default=None)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args(argv)
    peers = args.peers or args.data.parent / "peers"
    crops, labels, _ = load_val(args.data, args.limit)
    manifest = read_manifest(args.model)
    have = {(a.format, a.precision) for a in manifest.artefacts}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (backend, keep, hint) in RUNS.items():
            if not keep <= have:
                continue
            pred, ms = run_sdk(variant_dir(args.model, keep, Path(tmp)), backend, hint, crops)
            results[name] = {**mae_table(pred, labels), "bands": mae_by_yaw_band(pred, labels),
                             "ms_per_face": ms}
    for name, fn in (("FSA-Net peer (teacher)", run_fsanet), ("OMZ head-pose-adas-0001", run_omz)):
        pred, ms = fn(peers, crops)
        results[name] = {**mae_table(pred, labels), "bands": mae_by_yaw_band(pred, labels),
                         "ms_per_face": ms}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, sort_keys=True))
    print(f"{'run':45s} {'Yaw':>6s} {'Pitch':>6s} {'Roll':>6s} {'MAE':>6s} {'ms/face':>8s}")
    for name, r in results.items():
        print(f"{name:45s} {r['yaw']:6.2f} {r['pitch']:6.2f} {r['roll']:6.2f} {r['mae']:6.2f} "
              f"{r['ms_per_face']:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
