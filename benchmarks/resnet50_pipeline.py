"""The paper's ResNet50 through the SDK against the pipeline a Hopenet user runs, same crops, one run.

Model: ``PoseNet("resnet50")`` at 224 px with **random, untrained weights** (no trained
ResNet50 can be had here; speed does not depend on the weights). Its three heads are centred
on the mean feature of the calibration crops and scaled until the predicted distributions'
std averages at most 15 degrees, as a trained model's do; without that a random head is either
near-uniform or arg-max-like and every precision would agree trivially. The manifest decodes
with Hopenet's offset (-99), so both pipelines compute the same angles from the same logits.

* **Hopenet pipeline** (what its ``test_on_video*.py`` does per face, batch 1): the BGR crop ->
  ``PIL.Image.fromarray`` (RGB) -> torchvision ``Resize(224)``, ``CenterCrop(224)``,
  ``ToTensor``, ``Normalize(ImageNet)`` -> PyTorch eager fp32 -> softmax per head ->
  ``sum(p * idx) * 3 - 99``.
* **SDK**: the model saved as a model folder and exported with the public export API
  (``gldpose_export.cli.run_export``: ONNX incl. ``model_u8.onnx``; OpenVINO IR fp32, fp16
  weights, INT8 via NNCF calibrated on ``--calib`` train-split crops written to a temporary
  folder), then ``PoseEstimator(folder, backend=..., config=...).estimate_crops([crop])``,
  batch 1, for each precision: OpenVINO f32, fp16 weights (f32 compute), bf16 (where the CPU
  has it), INT8 (f32 and, where the CPU has bf16, bf16 for the rest); ONNX Runtime fp32; the
  SDK's PyTorch backend; and ``auto`` (what ``PoseEstimator(folder)`` picks).

``--model DIR`` runs a **trained** model folder instead (``gldpose train`` output, any backbone;
its own input size, crop and bins): then the accuracy columns are the real validation MAE (yaw
against the human AFLW annotation, pitch and roll against the FSA-Net teacher labels) and the
target's accuracy half is the change of that MAE against OpenVINO f32.

Crops: the real validation crops of ``--data`` (aflw-crops: 120x120 BGR JPEGs, read from its
tar in memory; research use only, nothing is copied into the repository). Timing cycles through
``--timing-crops`` of them, both pipelines round-robin (``bench_common.time_interleaved``).
Accuracy: each SDK precision's angles against the SDK's OpenVINO f32 angles on ``--crops``
validation crops (mean and max absolute difference, degrees, yaw/pitch/roll pooled), and
against the Hopenet pipeline. With untrained weights this is a **numeric-drift proxy, not an
MAE**. Target (issue 12): a precision at least 4x faster than the Hopenet pipeline that
changes the angles by no more than 0.3 degrees (mean), or, for a trained ``--model``, its
validation MAE (the three angles' mean) by no more than 0.3 degrees.

    python benchmarks/resnet50_pipeline.py [--data ../shared/data/aflw-crops] [--crops 200]
        [--calib 300] [--runs 20] [--model TRAINED_DIR] [--quick]
        [--json runs/benchmarks/resnet50_pipeline.json]
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bench_common as bc
import cv2
import numpy as np
from gldpose_sdk import GldposeError, PoseEstimator
from gldpose_sdk.backends import missing_packages
from gldpose_sdk.config import BackendOptions, EstimatorConfig
from gldpose_sdk.errors import InputError
from gldpose_sdk.manifest import NO_MARGIN, BinSpec, InputSpec, Manifest, TrainingInfo
from gldpose_sdk.preprocess import normalise, prepare_crop

DEFAULT_DATA = bc.REPO_ROOT.parent / "shared" / "data" / "aflw-crops"
HOPENET_OFFSET_DEG = -99.0
TARGET_SPEEDUP, TARGET_DRIFT_DEG = 4.0, 0.3
MAX_PRED_STD_DEG = 15.0
REFERENCE = "openvino-f32"


@dataclass(frozen=True)
class Variant:
    """An SDK configuration: backend, options, and whether it needs a bf16 CPU."""

    backend: str
    options: tuple[tuple[str, object], ...] = ()
    needs_bf16: bool = False


VARIANTS: dict[str, Variant] = {
    "openvino-f32": Variant("openvino", (("artefact_precision", "fp32"),
                                         ("openvino_precision", "f32"))),
    "openvino-fp16w": Variant("openvino", (("artefact_precision", "fp16"),
                                           ("openvino_precision", "f32"))),
    "openvino-bf16": Variant("openvino", (("artefact_precision", "fp32"),
                                          ("openvino_precision", "bf16")), True),
    "openvino-int8": Variant("openvino", (("artefact_precision", "int8"),
                                          ("openvino_precision", "f32"))),
    "openvino-int8+bf16": Variant("openvino", (("artefact_precision", "int8"),
                                               ("openvino_precision", "bf16")), True),
    "onnxruntime-f32": Variant("onnxruntime"),
    "pytorch-f32": Variant("pytorch", (("torch_half_on_cuda", False),)),
}


# -- crops ----------------------------------------------------------------------------------
#: labels.csv columns of the angles a trained model is scored on (yaw: human; pitch, roll: teacher)
LABEL_COLUMNS = ("yaw_annotated", "pitch_teacher", "roll_teacher")


def read_crops(data: Path, split: str, count: int) -> tuple[list[np.ndarray], np.ndarray]:
    """The first ``count`` crops of ``split`` in labels.csv order, decoded from images.tar, and
    their labels ``[N, 3]`` (:data:`LABEL_COLUMNS`, degrees).

    Raises:
        InputError: the folder lacks labels.csv / images.tar, or a crop does not decode.
        TrainError: labels.csv lacks the split or a :data:`LABEL_COLUMNS` column.
    """
    labels, tar_path = data / "labels.csv", data / "images.tar"
    if not labels.is_file() or not tar_path.is_file():
        raise InputError(f"{data} holds no labels.csv and images.tar (the aflw-crops package); "
                         "pass --data, or --synthetic for a smoke run")
    from gldpose_train.datasets.crops import read_labels_csv

    split_names, split_angles = read_labels_csv(labels, LABEL_COLUMNS, split)
    angles = dict(zip(split_names[:count], split_angles[:count].tolist()))
    names = list(angles)
    wanted, found = set(names), {}
    with tarfile.open(tar_path) as tar:
        for member in tar:
            name = member.name.rsplit("/", 1)[-1]
            if name in wanted:
                data_bytes = tar.extractfile(member).read()  # type: ignore[union-attr]
                found[name] = cv2.imdecode(np.frombuffer(data_bytes, np.uint8), cv2.IMREAD_COLOR)
                if found[name] is None:
                    raise InputError(f"{tar_path}: {name} does not decode")
                if len(found) == len(wanted):
                    break
    kept = [n for n in names if n in found]
    return [found[n] for n in kept], np.array([angles[n] for n in kept]).reshape(-1, 3)


def synthetic_crops(count: int, seed: int) -> list[np.ndarray]:
    """Face-like 120x120 BGR crops (an ellipse on noise), for smoke runs without the data."""
    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(count):
        img = rng.integers(0, 80, (120, 120, 3), dtype=np.uint8)
        centre = tuple(int(v) for v in rng.integers(45, 75, 2))
        colour = tuple(int(v) for v in rng.integers(120, 255, 3))
        cv2.ellipse(img, centre, (30, 40), float(rng.uniform(-30, 30)), 0, 360, colour, -1)
        crops.append(img)
    return crops


# -- the model ------------------------------------------------------------------------------
def build_model(size_px: int, calib: list[np.ndarray], seed: int) -> Any:
    """Seeded random ResNet50 PoseNet with heads centred and scaled on ``calib`` (see top)."""
    import torch
    from gldpose_sdk.model import PoseNet

    torch.manual_seed(seed)
    model = PoseNet("resnet50").eval()
    spec = InputSpec(size_px=size_px)
    x = torch.from_numpy(normalise(np.stack([
        prepare_crop(c, (0, 0, c.shape[1], c.shape[0]), NO_MARGIN, size_px) for c in calib]),
        spec))
    feats: dict[str, Any] = {}
    hook = model.avgpool.register_forward_hook(lambda m, i, o: feats.update(f=o.flatten(1)))
    heads = (model.fc_yaw, model.fc_pitch, model.fc_roll)
    centres = torch.from_numpy(BinSpec(offset_deg=HOPENET_OFFSET_DEG).centres_deg()).float()
    with torch.no_grad():
        model(x)
        hook.remove()
        mean_feature = feats["f"].mean(0)
        for head in heads:
            head.bias.copy_(-head.weight @ mean_feature)
        for _ in range(16):  # double the head scale until the distributions are peaked enough
            p = torch.softmax(model(x), dim=2)
            mean = (p * centres).sum(2, keepdim=True)
            if ((p * (centres - mean) ** 2).sum(2).sqrt().mean() <= MAX_PRED_STD_DEG):
                break
            for head in heads:
                head.weight.mul_(2.0)
                head.bias.mul_(2.0)
    return model


def save_random(model: Any, size_px: int, tmp: Path) -> Path:
    """The random model of :func:`build_model` as a model folder (manifest + safetensors)."""
    from gldpose_sdk.model import save_model

    manifest = Manifest(backbone="resnet50", input=InputSpec(size_px=size_px),
                        bins=BinSpec(offset_deg=HOPENET_OFFSET_DEG),
                        training=TrainingInfo(dataset="none (random weights, benchmark)"))
    save_model(tmp / "weights", model, manifest)
    return tmp / "weights"


def export_folder(weights: Path, calib: list[np.ndarray], tmp: Path, exporter: str) -> Path:
    """Export a model folder with the public API; INT8 calibrated on ``calib``."""
    from gldpose_export.cli import run_export
    from gldpose_export.config import ExportConfig

    calib_dir = tmp / "calib"
    calib_dir.mkdir()
    for i, crop in enumerate(calib):  # a temporary folder, removed at the end of the run
        cv2.imwrite(str(calib_dir / f"calib_{i:04d}.png"), crop)
    formats = ("onnx", "openvino") if not missing_packages("openvino") else ("onnx",)
    bc.log_to_stderr(f"exporting {formats} (INT8: NNCF on {len(calib)} crops); minutes on a "
                     "2-core CPU")
    run_export(ExportConfig(checkpoint=weights, out_dir=tmp / "model", formats=formats,
                            fp16="openvino" in formats, int8="openvino" in formats,
                            calib_dir=calib_dir, calib_subset=len(calib),
                            onnx_exporter=exporter, angles_onnx=False))
    return tmp / "model"


def hopenet_pipeline(model: Any, size_px: int, centres_deg: np.ndarray
                     ) -> Callable[[np.ndarray], np.ndarray]:
    """What a Hopenet user runs per face: PIL + torchvision transforms, eager, batch 1, softmax
    expectation over the bin centres (Hopenet's own ``idx * 3 - 99`` for the random model)."""
    import torch
    from PIL import Image
    from torchvision import transforms

    transform = transforms.Compose([
        transforms.Resize(size_px), transforms.CenterCrop(size_px), transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    centres = torch.from_numpy(np.asarray(centres_deg, np.float32))

    def run(crop_bgr: np.ndarray) -> np.ndarray:
        img = Image.fromarray(cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2RGB))
        with torch.no_grad():
            logits = model(transform(img).unsqueeze(0))  # [1, 3, 66]: yaw, pitch, roll heads
            p = torch.softmax(logits, dim=2)
            return (p * centres).sum(2).numpy()[0]

    return run


# -- the SDK --------------------------------------------------------------------------------
def has_bf16() -> bool:
    """Whether OpenVINO's CPU plugin reports bf16 support on this machine."""
    if missing_packages("openvino"):
        return False
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def load_sdk(folder: Path, labels: list[str], cache: Path, threads: int
             ) -> tuple[dict[str, PoseEstimator], list[tuple[str, str]]]:
    """An estimator per variant (plus ``auto``), and the reasons for those skipped."""
    ests, skipped, bf16 = {}, [], has_bf16()
    base = BackendOptions(device="cpu", num_threads=threads)
    for label in labels:
        v = VARIANTS[label]
        if v.needs_bf16 and not bf16:
            skipped.append((label, "this CPU has no bf16 (OpenVINO capabilities)"))
            continue
        try:
            ests[label] = PoseEstimator(folder, backend=v.backend, detector="none", config=(
                EstimatorConfig(backend=dataclasses.replace(base, **dict(v.options)))))
        except GldposeError as exc:
            skipped.append((label, getattr(exc, "reason", None) or str(exc)))
    os.environ["GLDPOSE_CACHE_DIR"] = str(cache)  # a fresh measurement for auto
    ests["auto"] = PoseEstimator(folder, detector="none", config=EstimatorConfig(
        backend=BackendOptions(num_threads=threads)))
    return ests, skipped


def sdk_angles(est: PoseEstimator, crops: list[np.ndarray]) -> np.ndarray:
    """Yaw, pitch, roll ``[N, 3]`` of each crop, one face per call."""
    return np.array([[p.yaw_deg, p.pitch_deg, p.roll_deg]
                     for c in crops for p in est.estimate_crops([c])])


def drift(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Mean and max |a - b| in degrees, yaw/pitch/roll pooled, and per angle (means).

    ``over_spread``: the mean change over the spread of ``b`` across the crops (its std, the
    three angles averaged): the change relative to how much the faces themselves move the
    output, which depends less on how the random heads were scaled than the degrees do.
    """
    d = np.abs(a - b)
    spread = float(b.std(0).mean()) if len(b) > 1 else 0.0
    return {"mean_deg": float(d.mean()), "max_deg": float(d.max()),
            "mean_ypr_deg": [float(v) for v in d.mean(0)], "spread_deg": spread,
            "over_spread": float(d.mean()) / spread if spread else None}


def cycling(fn: Callable[[np.ndarray], object], crops: list[np.ndarray]) -> Callable[[], object]:
    """A no-argument callable that runs ``fn`` on the next crop each time."""
    it = itertools.cycle(crops)
    return lambda: fn(next(it))


# -- run ------------------------------------------------------------------------------------
def mae(angles: np.ndarray, labels: np.ndarray | None) -> dict[str, Any]:
    """Mean absolute error per angle and their mean, degrees (all None without labels)."""
    if labels is None:
        return {"mae_ypr_deg": None, "mae_deg": None}
    err = np.abs(angles - labels).mean(0)
    return {"mae_ypr_deg": [float(v) for v in err], "mae_deg": float(err.mean())}


def measure(hopenet: Callable[[np.ndarray], np.ndarray], ests: dict[str, PoseEstimator],
            eval_crops: list[np.ndarray], timing_crops: list[np.ndarray], args: argparse.Namespace,
            labels: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Angles on the evaluation crops, then timing of everything round-robin; the rows.

    With ``labels`` (a trained model) each row has its MAE and its change against the
    reference, and the target's accuracy half is that change; otherwise it is the drift.
    """
    bc.log_to_stderr(f"angles of {len(eval_crops)} crops x {len(ests) + 1} pipelines")
    ref_hopenet = np.array([hopenet(c) for c in eval_crops])
    angles = {label: sdk_angles(est, eval_crops) for label, est in ests.items()}
    reference = angles.get(REFERENCE, ref_hopenet)
    fns = {"hopenet": cycling(hopenet, timing_crops)}
    fns |= {label: cycling(lambda c, e=est: e.estimate_crops([c]), timing_crops)
            for label, est in ests.items()}
    bc.log_to_stderr(f"timing {len(fns)} pipelines x {args.runs} runs")
    timings = bc.time_interleaved(fns, args.runs, args.warmup, args.block)
    base = timings["hopenet"]
    rows = [{"variant": "hopenet", "pipeline": "PIL+torchvision, torch eager fp32",
             "precision": "fp32", "ms": base.median_ms, "min_ms": base.min_ms,
             "speedup": 1.0, "speedup_min": 1.0, "timing": base.to_dict(),
             "vs_reference": drift(ref_hopenet, reference), "vs_hopenet": drift(ref_hopenet,
                                                                                ref_hopenet),
             **mae(ref_hopenet, labels)}]
    for label, est in ests.items():
        t, info = timings[label], est.backend.describe()
        rows.append({
            "variant": label, "pipeline": f"SDK {info.name} {info.runtime_version.split('-')[0]}",
            "precision": info.precision, "artefact": info.artefact_path.split("model/")[-1],
            "ms": t.median_ms, "min_ms": t.min_ms, "timing": t.to_dict(),
            "speedup": base.median_ms / t.median_ms, "speedup_min": base.min_ms / t.min_ms,
            "vs_reference": drift(angles[label], reference),
            "vs_hopenet": drift(angles[label], ref_hopenet), **mae(angles[label], labels)})
    reference_mae = mae(reference, labels)["mae_deg"]
    for row in rows:
        row["drift_deg"] = row["vs_reference"]["mean_deg"]
        row["max_drift_deg"] = row["vs_reference"]["max_deg"]
        row["vs_hopenet_deg"] = row["vs_hopenet"]["mean_deg"]
        row["drift_over_spread"] = row["vs_reference"]["over_spread"]
        row["mae_change_deg"] = (None if reference_mae is None
                                 else row["mae_deg"] - reference_mae)
        change = row["drift_deg"] if reference_mae is None else row["mae_change_deg"]
        row["meets_target"] = row["speedup"] >= TARGET_SPEEDUP and change <= TARGET_DRIFT_DEG
        row["meets_target_min"] = (row["speedup_min"] >= TARGET_SPEEDUP
                                   and change <= TARGET_DRIFT_DEG)
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Crops, model, export, both pipelines; the JSON-able report."""
    load_at_start = bc.load_average()
    source = "synthetic" if args.synthetic else str(args.data)
    labels = None
    if args.synthetic:
        eval_crops, calib = synthetic_crops(args.crops, 1), synthetic_crops(args.calib, 2)
    else:
        (eval_crops, labels), (calib, _) = (read_crops(args.data, "val", args.crops),
                                            read_crops(args.data, "train", args.calib))
        labels = labels if args.model else None  # random weights: the drift proxy only
    if len(eval_crops) < 1 or len(calib) < 2:
        raise InputError(f"need >= 1 evaluation and >= 2 calibration crops, got "
                         f"{len(eval_crops)} and {len(calib)} from {source}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)  # the Hopenet pipeline (and the SDK's PyTorch)
    if args.model:
        from gldpose_sdk.model import load_model

        model, manifest = load_model(args.model)
        size, centres = manifest.input.size_px, manifest.bins.centres_deg()
        backbone = manifest.backbone
        weights = f"trained: {args.model} ({manifest.training.dataset}); " + (
            "the accuracy columns are its validation MAE" if labels is not None
            else "no labels (--synthetic): the angle change against f32 only")
    else:
        size, backbone = args.size, "resnet50"
        model = build_model(size, calib, args.seed)
        centres = BinSpec(offset_deg=HOPENET_OFFSET_DEG).centres_deg()
        weights = ("random (seeded), heads centred and scaled: untrained, so the angle change "
                   "is a numeric-drift proxy, not an MAE change")
    hopenet = hopenet_pipeline(model, size, centres)
    previous_cache = os.environ.get("GLDPOSE_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="gldpose_resnet50_") as tmp:
        saved = args.model or save_random(model, size, Path(tmp))
        folder = export_folder(saved, calib, Path(tmp), args.exporter)
        ests, skipped = load_sdk(folder, args.variants, Path(tmp) / "cache", args.threads)
        try:
            rows = measure(hopenet, ests, eval_crops, eval_crops[:args.timing_crops], args,
                           labels)
            auto = ests["auto"].describe().to_dict()
        finally:
            for est in ests.values():
                est.close()
            if previous_cache is None:
                os.environ.pop("GLDPOSE_CACHE_DIR", None)
            else:
                os.environ["GLDPOSE_CACHE_DIR"] = previous_cache
    return {
        "model": {"backbone": backbone, "input_px": size, "weights": weights,
                  "trained": bool(args.model), "scored_on_labels": labels is not None,
                  "seed": args.seed,
                  "decode_offset_deg": float(centres[0])},
        "crops": {"source": source, "evaluation": len(eval_crops), "calibration": len(calib),
                  "timing": min(args.timing_crops, len(eval_crops))},
        "settings": {"runs": args.runs, "warmup": args.warmup, "block": args.block,
                     "threads": args.threads,
                     "exporter": args.exporter, "quick": args.quick, "reference": REFERENCE,
                     "target_speedup": TARGET_SPEEDUP, "target_drift_deg": TARGET_DRIFT_DEG},
        "rows": rows, "auto": auto, "skipped": [list(s) for s in skipped],
        "machine": bc.machine_info(args.machine_shared, load_at_start),
    }


COLUMNS = (("variant", "<18"), ("pipeline", "<22"), ("precision", "<9"), ("ms", ">8.1f"),
           ("min_ms", ">8.1f", "min ms"), ("speedup", ">7.2f", "x hopenet"),
           ("speedup_min", ">7.2f", "x (min)"), ("drift_deg", ">8.3f", "d deg"),
           ("max_drift_deg", ">8.3f", "max d"), ("drift_over_spread", ">8.4f", "d/spread"),
           ("vs_hopenet_deg", ">8.3f", "d hopenet"), ("mae_deg", ">6.3f", "MAE"),
           ("mae_change_deg", ">+7.3f", "d MAE"))


def format_report(report: dict[str, Any]) -> str:
    """The table, what auto chose, the target, skips and the machine line."""
    rows = report["rows"]
    best = [r["variant"] for r in rows if r["meets_target"]]
    best_min = [r["variant"] for r in rows if r["meets_target_min"]]
    auto = report["auto"]["backend"]
    lines = [
        bc.format_table(COLUMNS, rows),
        (f"ms per face end to end at batch 1 (median, min) over {report['settings']['runs']} "
         f"runs on {report['crops']['timing']} crops; x hopenet: speed-up over the Hopenet "
         "pipeline (medians; x (min): minima); d deg / max d: mean / max |angle change| "
         f"against {REFERENCE} on {report['crops']['evaluation']} {report['crops']['source']} "
         "crops; d/spread: d deg over the spread (std) of the reference's angles across the "
         "crops; d hopenet: mean |difference| against the Hopenet pipeline (its preprocessing "
         "included); MAE / d MAE (a trained --model only): validation MAE, yaw/pitch/roll "
         f"mean, and its change against {REFERENCE}"),
        f"weights: {report['model']['weights']}",
        f"auto chose {auto['name']} ({auto['precision']}, {Path(auto['artefact_path']).name})",
        (f"target >= {TARGET_SPEEDUP:g}x at <= {TARGET_DRIFT_DEG} deg "
         f"({'MAE change' if report['model']['scored_on_labels'] else 'mean angle change'}): "
         f"{'met by ' + ', '.join(best) if best else 'MISSED'} (medians); "
         f"{'met by ' + ', '.join(best_min) if best_min else 'MISSED'} (minima)")]
    lines += [f"skipped {label}: {reason}" for label, reason in report["skipped"]]
    lines.append(bc.shared_note(report["machine"]))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="aflw-crops folder (labels.csv + images.tar)")
    p.add_argument("--synthetic", action="store_true",
                   help="generated face-like crops instead of --data (smoke runs)")
    p.add_argument("--crops", type=int, default=200, help="validation crops for the angles")
    p.add_argument("--timing-crops", type=int, default=16, help="crops cycled while timing")
    p.add_argument("--calib", type=int, default=300, help="train-split crops for INT8")
    p.add_argument("--size", type=int, default=224,
                   help="input side, px (the paper's 224; a --model uses its own)")
    p.add_argument("--model", type=Path, default=None,
                   help="a trained model folder (gldpose train) instead of the random ResNet50: "
                        "the accuracy columns become its validation MAE")
    p.add_argument("--runs", type=int, default=20, help="timed calls per pipeline")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--block", type=int, default=2, help="calls in a row per pipeline and round")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for every pipeline, Hopenet's torch too (0: defaults)")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--exporter", choices=("dynamo", "torchscript"), default="dynamo",
                   help="ONNX exporter (as gldpose export --exporter)")
    bc.add_common_arguments(p, bc.REPO_ROOT / "runs" / "benchmarks" / "resnet50_pipeline.json")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write the JSON; 2 on a gldpose error (e.g. missing data)."""
    args = build_parser().parse_args(argv)
    if args.quick:
        args.size, args.crops, args.calib, args.timing_crops = 64, 3, 6, 2
        args.runs, args.warmup, args.block, args.exporter = 2, 1, 1, "torchscript"
    return bc.run_and_report("resnet50_pipeline", args, run, format_report)


if __name__ == "__main__":
    sys.exit(main())
