"""Per-face latency: the network alone against end to end, per backend, auto and peers, one run.

Every variant (``openvino``: the plugin's default precision, bf16 where the CPU has it;
``openvino-f32``; ``openvino-int8``; ``onnxruntime-u8``: ``model_u8.onnx``, uint8 BGR in;
``onnxruntime-f32``: ``model.onnx`` on normalised float NCHW; ``pytorch``; ``tensorrt``) is
loaded through ``PoseEstimator(model, backend=...)``; an ONNX form the folder lacks is exported
with the public export API into a temporary folder. Per batch size B, timed side by side
(``bench_common.time_interleaved``): ``net`` = ``backend.infer`` on a ready input (without the
NaN scan of its output, as the estimator calls it since session 13: the decode scans); ``frame`` =
``estimate(frame, boxes=[box] * B)`` on the shipped sample ``frame_03.jpg`` (640x480, head box
157x169 px); ``crops`` = ``estimate_crops`` on the crop rule's square cut around that box. At
batch 1 also: ``auto`` = ``PoseEstimator(model)`` (measuring its candidates afresh), ``auto+u8``
on the folder with ``model_u8.onnx``, ``auto:NAME`` for each ``--also NAME`` (another model, e.g.
the built-in ``fast``), and the peers (``--peers``): FSA-Net (its demo's two
models averaged, and the 1x1 alone; ONNX Runtime) and OMZ head-pose-estimation-adas-0001
(OpenVINO), end to end with their demos' own preprocessing. Then where the time of the batch-1
path goes, stage by stage. Targets (issue 12): auto's end to end <= 1.15x its backend's network
and below both peers, judged on medians, on minima (on a shared machine the minima are the
cost itself; the medians add waiting behind other work) and paired by round (the median over
the rounds of the interleaved timing of the two calls' ratio in the same round: the figure a
machine whose speed swings within a run moves least).

    python benchmarks/latency.py [--model DIR] [--also fast] [--batch-sizes 1 8 32] [--runs 100] [--quick]
        [--threads N] [--json runs/benchmarks/latency.json] [--machine-shared auto|yes|no]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bench_common as bc
import cv2
import gldpose_sdk
import numpy as np
from gldpose_sdk import GldposeError, PoseEstimator
from gldpose_sdk.backends import missing_packages
from gldpose_sdk.config import BackendOptions, EstimatorConfig
from gldpose_sdk.decode import decode_implementation
from gldpose_sdk.builtin_models import resolve_model
from gldpose_sdk.face_crops import check_box_in_frame, check_frame_size, cut_faces
from gldpose_sdk.inference import PoseDecoder, infer_poses
from gldpose_sdk.manifest import read_manifest
from gldpose_sdk.preprocess import (
    check_image,
    crop_implementation,
    crop_bgr,
    crop_quality,
    cut_square,
    read_image_bgr,
    square_region,
    to_network_input,
)

DEFAULT_PEERS = bc.REPO_ROOT.parent / "shared" / "data" / "peers"
SAMPLE_FRAME = "frame_03.jpg"
TARGET_E2E_OVER_NET = 1.15
#: The two peers of issue 12's target (FSA-Net as its demo runs it, and OMZ).
TARGET_PEERS = ("peer:fsanet x2", "peer:omz-adas-0001")


@dataclass(frozen=True)
class Variant:
    """A backend configuration: registry name, which ONNX form it needs, option overrides."""

    backend: str
    folder: str  # "model" (as given), "u8" (lists model_u8.onnx), "float" (model.onnx only)
    overrides: tuple[tuple[str, object], ...] = ()


VARIANTS: dict[str, Variant] = {
    "onnxruntime-f32": Variant("onnxruntime", "float"),
    "onnxruntime-u8": Variant("onnxruntime", "u8"),
    "openvino": Variant("openvino", "model"),
    "openvino-f32": Variant("openvino", "model", (("openvino_precision", "f32"),)),
    "openvino-int8": Variant("openvino", "model", (("artefact_precision", "int8"),)),
    "pytorch": Variant("pytorch", "model", (("torch_half_on_cuda", False),)),
    "tensorrt": Variant("tensorrt", "model"),
}
VARIANT_ORDER = ("openvino", "openvino-f32", "openvino-int8", "onnxruntime-u8", "onnxruntime-f32",
                 "pytorch", "tensorrt")
#: Face box heights (px) at which the crop stage alone is timed (the sample frame rescaled).
CROP_FACE_PX = (64, 128, 256, 384, 512)


def sample_frame_and_box() -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The shipped sample frame and its annotated head box (pixels)."""
    samples = Path(gldpose_sdk.__file__).resolve().parent / "samples"
    truth = json.loads((samples / "poses.json").read_text(encoding="utf-8"))
    heads = next(f["heads"] for f in truth["frames"] if f["file"] == SAMPLE_FRAME)
    return read_image_bgr(samples / SAMPLE_FRAME), tuple(heads[0]["box"])


def face_crop(frame: np.ndarray, box: tuple, manifest: Any) -> np.ndarray:
    """The crop rule's square around ``box``, cut as is (what a dataset's face crop is)."""
    x0, y0, side = square_region(frame.shape, box, manifest.crop)
    x0, y0 = max(x0, 0), max(y0, 0)
    return np.ascontiguousarray(frame[y0:y0 + side, x0:x0 + side])


# -- model folders --------------------------------------------------------------------------
def model_folders(model_dir: Path, tmp: Path, exporter: str, wanted: set[str]
                  ) -> tuple[dict[str, Path], dict[str, str]]:
    """Folder per ONNX form (``model``, ``u8``, ``float``), exporting what is missing.

    Returns:
        (folders, reasons): a form that cannot be had maps to the reason in ``reasons``.
    """
    manifest = read_manifest(model_dir)
    layouts = {a.input_layout for a in manifest.candidates("onnx")}
    folders, reasons = {"model": model_dir}, {}
    for form, layout in (("u8", "nhwc_uint8_bgr"), ("float", "nchw_float")):
        if form not in wanted:
            continue
        if layout in layouts and (form == "u8" or "nhwc_uint8_bgr" not in layouts):
            folders[form] = model_dir
            continue
        try:
            folders[form] = export_onnx_copy(model_dir, tmp / form, exporter, form == "u8")
        except (GldposeError, ImportError) as exc:
            reasons[form] = f"cannot export the {form} ONNX form here: {exc}"
    return folders, reasons


def export_onnx_copy(model_dir: Path, out: Path, exporter: str, with_u8: bool) -> Path:
    """``run_export`` into ``out``: ``model.onnx`` plus (``with_u8``) ``model_u8.onnx``.

    The ``u8`` folder also gets the OpenVINO IR (fp32 and fp16 weights, as ``gldpose export
    --formats onnx,openvino --fp16`` writes), so ``auto`` on it chooses among the same runtimes
    as on the shipped folder.
    """
    from gldpose_export.cli import run_export
    from gldpose_export.config import ExportConfig

    bc.log_to_stderr(f"exporting {'model_u8.onnx' if with_u8 else 'model.onnx'} of "
                     f"{model_dir} into {out} ({exporter} exporter)")
    formats = ("onnx", "openvino") if with_u8 and not missing_packages("openvino") else ("onnx",)
    run_export(ExportConfig(checkpoint=model_dir, out_dir=out, formats=formats,
                            fp16="openvino" in formats, onnx_exporter=exporter,
                            angles_onnx=False, uint8_onnx=with_u8))
    return out


# -- our estimators -------------------------------------------------------------------------
def load_variant(label: str, folder: Path, options: BackendOptions,
                 seen: dict[tuple, str]) -> tuple[PoseEstimator | None, str | None]:
    """The estimator of one variant, or the reason it is skipped."""
    variant = VARIANTS[label]
    missing = missing_packages(variant.backend)
    if missing:
        return None, f"{', '.join(missing)} not installed"
    opts = dataclasses.replace(options, **dict(variant.overrides))
    try:
        est = PoseEstimator(folder, backend=variant.backend, detector="none",
                            config=EstimatorConfig(backend=opts))
    except GldposeError as exc:
        return None, getattr(exc, "reason", None) or str(exc)
    info = est.backend.describe()
    key = (info.name, info.device, info.precision, info.artefact_sha256)
    if key in seen:
        est.close()
        return None, f"same configuration as {seen[key]} ({info.device}, {info.precision})"
    seen[key] = label
    return est, None


def load_auto(model: str | Path | None, threads: int, cache_dir: Path) -> PoseEstimator:
    """``PoseEstimator(model)`` with a fresh timing cache, so ``auto`` measures in this run."""
    previous = os.environ.get("GLDPOSE_CACHE_DIR")
    os.environ["GLDPOSE_CACHE_DIR"] = str(cache_dir)
    try:
        if threads:
            return PoseEstimator(model, config=EstimatorConfig(
                backend=BackendOptions(num_threads=threads)))
        return PoseEstimator(model)
    finally:
        if previous is None:
            os.environ.pop("GLDPOSE_CACHE_DIR", None)
        else:
            os.environ["GLDPOSE_CACHE_DIR"] = previous


def our_callables(est: PoseEstimator, frame: np.ndarray, box: tuple, batch: int
                  ) -> dict[str, Callable[[], object]]:
    """``net``, ``frame`` and ``crops`` callables of one estimator at one batch size."""
    m = est.manifest
    crops = np.stack([crop_bgr(frame, box, m.crop, m.input.size_px)] * batch)
    x = to_network_input(crops, est.backend.input_layout, m.input)
    boxes = [box] * batch
    face_crops = [face_crop(frame, box, m)] * batch
    return {"net": lambda: est.backend.infer(x, check_finite=False),
            "frame": lambda: est.estimate(frame, boxes=boxes),
            "crops": lambda: est.estimate_crops(face_crops)}


def backend_fields(est: PoseEstimator) -> dict[str, Any]:
    """What the estimator's backend runs, for a row."""
    info = est.backend.describe()
    return {"backend": info.name, "runtime": f"{info.name} {info.runtime_version.split('-')[0]}",
            "device": info.device, "precision": info.precision, "layout": info.input_layout,
            "artefact": Path(info.artefact_path).name}


# -- peers ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Peer:
    """A peer model: its network alone, and its demo's pipeline from frame + box to angles."""

    runtime: str
    net: Callable[[], object]
    e2e: Callable[[np.ndarray, tuple], object]


def _int_box(frame: np.ndarray, box: tuple) -> tuple[int, int, int, int]:
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = (int(v) for v in box)
    return max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)


def load_peers(peers: Path, threads: int) -> tuple[dict[str, Peer], list[tuple[str, str]]]:
    """FSA-Net (ensemble of two, and 1x1 alone) and OMZ adas-0001, when present."""
    found: dict[str, Peer] = {}
    skipped: list[tuple[str, str]] = []
    fsa = sorted((peers / "fsanet").glob("fsanet-*.onnx"))
    if fsa and not missing_packages("onnxruntime"):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        sessions = [ort.InferenceSession(str(p), sess_options=so,
                                         providers=["CPUExecutionProvider"]) for p in fsa]
        runtime = f"onnxruntime {ort.__version__}"
        found["peer:fsanet x2"] = _fsanet(sessions, runtime)
        one = [s for s, p in zip(sessions, fsa) if "1x1" in p.name]
        if one:
            found["peer:fsanet-1x1"] = _fsanet(one, runtime)
    else:
        skipped.append(("peer:fsanet", (f"no fsanet-*.onnx in {peers / 'fsanet'} or "
                        "onnxruntime missing")))
    omz = sorted((peers / "omz-head-pose-adas-0001").glob("*.xml"))
    if omz and not missing_packages("openvino"):
        found["peer:omz-adas-0001"] = _omz(omz[0], threads)
    else:
        skipped.append(("peer:omz-adas-0001", "no IR or openvino missing"))
    return found, skipped


def _fsanet(sessions: list, runtime: str) -> Peer:
    """omasaht/headpose-fsanet-pytorch src/demo.py: slice, resize 64, (x-127.5)/128, mean."""
    ready = np.zeros((1, 3, 64, 64), np.float32)

    def e2e(frame: np.ndarray, box: tuple) -> np.ndarray:
        x0, y0, x1, y1 = _int_box(frame, box)
        roi = cv2.resize(frame[y0:y1 + 1, x0:x1 + 1], (64, 64)).transpose((2, 0, 1))[None]
        roi = ((roi - 127.5) / 128).astype(np.float32)
        return np.mean(np.vstack([s.run(["output"], {"input": roi})[0] for s in sessions]), 0)

    return Peer(f"{runtime} x{len(sessions)}",
                lambda: [s.run(["output"], {"input": ready}) for s in sessions], e2e)


def _omz(xml: Path, threads: int) -> Peer:
    """OMZ demos: slice the face box, resize to 60x60, HWC->CHW float, sync infer; signs."""
    import openvino as ov

    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    request = ov.Core().compile_model(str(xml), "CPU", config).create_infer_request()
    ready = np.zeros((1, 3, 60, 60), np.float32)

    def e2e(frame: np.ndarray, box: tuple) -> tuple[float, float, float]:
        x0, y0, x1, y1 = _int_box(frame, box)
        blob = cv2.resize(frame[y0:y1, x0:x1], (60, 60)).transpose((2, 0, 1))[None]
        out = request.infer({0: blob.astype(np.float32)})
        yaw, pitch, roll = (float(v.reshape(-1)[0]) for v in out.values())
        return -yaw, -pitch, roll

    return Peer(f"openvino {ov.get_version().split('-')[0]}", lambda: request.infer({0: ready}),
                e2e)


# -- rows -----------------------------------------------------------------------------------
def runs_at(runs: int, batch: int) -> int:
    """Timed calls at a batch size: fewer for big batches (each call does more work)."""
    return runs if batch == 1 else max(min(10, runs), round(runs / batch ** 0.5))


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, None when either is missing."""
    return a / b if a is not None and b else None


def make_row(label: str, batch: int, fields: dict[str, Any], t: dict[str, bc.Timing]
             ) -> dict[str, Any]:
    """One table row: per-face medians and minima, and end to end over network."""
    per = {k: v.scaled(1.0 / batch) for k, v in t.items()}
    row = {"variant": label, "batch": batch, **fields,
           "timings_ms_per_face": {k: v.to_dict() for k, v in per.items()}}
    for k in ("net", "frame", "crops"):
        row[f"{k}_ms"] = per[k].median_ms if k in per else None
        row[f"{k}_min_ms"] = per[k].min_ms if k in per else None
        row[f"{k}_cpu_ms"] = per[k].cpu_median_ms if k in per else None
    for k in ("frame", "crops"):
        row[f"{k}_over_net"] = ratio(row[f"{k}_ms"], row["net_ms"])
        row[f"{k}_over_net_min"] = ratio(row[f"{k}_min_ms"], row["net_min_ms"])
        row[f"{k}_over_net_cpu"] = ratio(row[f"{k}_cpu_ms"], row["net_cpu_ms"])
        row[f"{k}_over_net_paired"] = (bc.paired_ratio(per[k].round_min_ms,
                                                       per["net"].round_min_ms)
                                       if k in per and "net" in per else None)
    return row


def round_minima(row: dict[str, Any], kind: str) -> list[float]:
    """A row's per-round minima of one callable (``net``, ``frame``, ``crops``), ms per face."""
    return list(row["timings_ms_per_face"].get(kind, {}).get("round_min_ms", ()))


def time_batch(ests: dict[str, PoseEstimator], peers: dict[str, Peer], frame: np.ndarray,
               box: tuple, batch: int, runs: int, warmup: int, block: int
               ) -> list[dict[str, Any]]:
    """All callables of one batch size, timed round-robin; one row per variant and peer."""
    fns: dict[str, Callable[[], object]] = {}
    for label, est in ests.items():
        for kind, fn in our_callables(est, frame, box, batch).items():
            fns[f"{label}|{kind}"] = fn
    for label, peer in (peers.items() if batch == 1 else ()):
        fns[f"{label}|net"] = peer.net
        fns[f"{label}|frame"] = lambda p=peer: p.e2e(frame, box)
    bc.log_to_stderr(f"batch {batch}: {len(fns)} callables x {runs} runs")
    timings = bc.time_interleaved(fns, runs, warmup, block)
    rows = []
    for label in list(ests) + (list(peers) if batch == 1 else []):
        t = {k.split("|")[1]: v for k, v in timings.items() if k.split("|")[0] == label}
        fields = (backend_fields(ests[label]) if label in ests
                  else {"backend": "peer", "runtime": peers[label].runtime, "device": "CPU",
                        "precision": "shipped", "layout": "own", "artefact": ""})
        rows.append(make_row(label, batch, fields, t))
    return rows


STAGES = ("checks", "crop", "layout", "infer", "decode", "poses", "estimate")


def stage_callables(est: PoseEstimator, frame: np.ndarray, box: tuple
                    ) -> dict[str, Callable[[], object]]:
    """The per-face path of ``estimate(frame, boxes=[box])`` cut into its stages (batch 1).

    checks: frame and box checks; crop: ``cut_faces`` (expand, square, resize, the crop's
    brightness and contrast); layout: ``to_network_input``; infer: ``backend.infer``; decode:
    ``PoseDecoder.decode`` (decode, expectation map and std calibration); infer_poses:
    everything after the crop; estimate: the whole call.
    """
    m, c, backend = est.manifest, est.config, est.backend
    found = [(check_box_in_frame(box, frame.shape, c), 1.0)]
    faces = cut_faces(frame, found, m, c)
    x = to_network_input(faces.crops_bgr, backend.input_layout, m.input)
    logits = backend.infer(x)
    decoder = PoseDecoder(m, c.quality)

    def checks() -> object:
        check_frame_size(check_image(frame), c)
        return check_box_in_frame(box, frame.shape, c)

    return {"checks": checks, "crop": lambda: cut_faces(frame, found, m, c),
            "layout": lambda: to_network_input(faces.crops_bgr, backend.input_layout, m.input),
            "infer": lambda: backend.infer(x, check_finite=False),
            "decode": lambda: decoder.decode(logits),
            "infer_poses": lambda: infer_poses(backend, faces, decoder, c.flip_average),
            "estimate": lambda: est.estimate(frame, boxes=[box])}


def time_stages(ests: dict[str, PoseEstimator], frame: np.ndarray, box: tuple, runs: int,
                warmup: int, block: int) -> list[dict[str, Any]]:
    """Milliseconds per stage of the batch-1 path of each estimator.

    Each stage gets its minimum, median and median process CPU time; ``poses`` is infer_poses
    minus infer (layout, decode, calibration, Pose objects with their quality flags). On a
    shared machine the minimum is the cost of the stage itself; the median adds waiting behind
    other work.
    """
    fns = {f"{label}|{k}": fn for label, est in ests.items()
           for k, fn in stage_callables(est, frame, box).items()}
    bc.log_to_stderr(f"stages: {len(fns)} callables x {runs} runs")
    timings = bc.time_interleaved(fns, runs, warmup, block)
    rows = []
    for label in ests:
        t = {k.split("|")[1]: v for k, v in timings.items() if k.split("|")[0] == label}
        row: dict[str, Any] = {"variant": label}
        for stat in ("min", "median", "cpu_median"):
            got = {k: getattr(t[k], f"{stat}_ms") for k in t}
            got["poses"] = max(got.pop("infer_poses") - got["infer"], 0.0)
            outside = got["checks"] + got["crop"] + got["poses"]
            row.update({f"{k}_{stat}_ms": v for k, v in got.items()})
            row[f"outside_net_{stat}_ms"] = outside
            row[f"stages_over_infer_{stat}"] = ratio(outside + got["infer"], got["infer"])
        rows.append(row)
    return rows


IN_SEQUENCE_WARMUP = 10
SEQUENCE = ("checks", "crop", "layout", "infer", "decode", "poses")


def time_in_sequence(ests: dict[str, PoseEstimator], frame: np.ndarray, box: tuple, runs: int
                     ) -> list[dict[str, Any]]:
    """Each stage of the batch-1 ``estimate(frame, boxes=[box])`` timed where it runs.

    One pass calls the functions ``estimate`` calls, in its order, with a timestamp between
    stages; so unlike :func:`time_stages` (each stage repeated on its own, hot) every stage pays
    what it pays in the real call, e.g. the crop on a frame the network has pushed out of the
    cache. Each estimator runs its passes in a row after a warm-up. Before timing, the pass's
    poses are checked against ``estimate``'s own (a replica that drifted from the product would
    be caught).

    Raises:
        RuntimeError: the replica's poses differ from ``estimate``'s (e.g. flip averaging on).
    """
    passes = {}
    for label, est in ests.items():
        m, c, backend = est.manifest, est.config, est.backend
        decoder = PoseDecoder(m, c.quality)

        def one_pass(m=m, c=c, backend=backend, decoder=decoder) -> tuple[list[int], list]:
            t = [time.perf_counter_ns()]
            image = check_image(frame)
            check_frame_size(image, c)
            found = [(check_box_in_frame(box, image.shape, c), 1.0)]
            t.append(time.perf_counter_ns())
            faces = cut_faces(image, found, m, c)
            t.append(time.perf_counter_ns())
            x = to_network_input(faces.crops_bgr, backend.input_layout, m.input)
            t.append(time.perf_counter_ns())
            logits = backend.infer(x, check_finite=False)   # the decode scans the logits
            t.append(time.perf_counter_ns())
            angles, raw_std, std = decoder.decode(logits)
            t.append(time.perf_counter_ns())
            poses = decoder.poses(faces, angles, std, raw_std)
            t.append(time.perf_counter_ns())
            return t, poses

        if one_pass()[1] != est.estimate(frame, boxes=[box]):
            raise RuntimeError(f"{label}: the in-sequence replica's poses differ from "
                               "estimate's; the benchmark no longer follows the SDK's path")
        passes[label] = one_pass
    bc.log_to_stderr(f"in sequence: {len(passes)} estimators x {runs} passes")
    samples = {}
    for label, one_pass in passes.items():   # one estimator at a time, as an application runs
        for _ in range(IN_SEQUENCE_WARMUP):    # (taking turns pass by pass would time each
            one_pass()                         # network with the weights of another in cache)
        samples[label] = [np.diff(one_pass()[0]) / 1e6 for _ in range(runs)]
    rows = []
    for label, got in samples.items():
        ms = np.array(got)                              # [runs, stages]
        total, infer = ms.sum(1), ms[:, SEQUENCE.index("infer")]
        row: dict[str, Any] = {"variant": label}
        row.update({f"{k}_min_ms": float(ms[:, i].min()) for i, k in enumerate(SEQUENCE)})
        row.update({f"{k}_median_ms": float(np.median(ms[:, i])) for i, k in enumerate(SEQUENCE)})
        row["outside_min_ms"] = float((total - infer).min())
        row["outside_median_ms"] = float(np.median(total - infer))
        row["total_over_infer_min"] = float(total.min() / infer.min())
        row["total_over_infer_median"] = float(np.median(total) / np.median(infer))
        rows.append(row)
    return rows


def time_crop_sizes(est: PoseEstimator, frame: np.ndarray, box: tuple, runs: int,
                    warmup: int, block: int) -> tuple[dict[str, float], dict[str, float]]:
    """Minimum ms of the crop stage with the face box :data:`CROP_FACE_PX` high: as the SDK
    cuts it (``cut_faces``), and through OpenCV (``cut_square`` + ``crop_quality``, what the
    SDK runs without the compiled crop and what training runs) on the same square."""
    fns = {}
    m = est.manifest
    for face_px in CROP_FACE_PX:
        scale = face_px / (box[3] - box[1])
        scaled = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        found = [(tuple(v * scale for v in box), 1.0)]
        region = square_region(scaled.shape, found[0][0], m.crop)
        fns[f"sdk|{face_px}"] = (lambda f=scaled, b=found: cut_faces(f, b, m, est.config))
        fns[f"opencv|{face_px}"] = (lambda f=scaled, r=region: crop_quality(
            cut_square(f, r, m.input.size_px, m.input.resize)[None]))
    timed = {k: t.min_ms for k, t in bc.time_interleaved(fns, runs, warmup, block).items()}
    return tuple({k.split("|")[1]: v for k, v in timed.items() if k.startswith(path)}
                 for path in ("sdk|", "opencv|"))


def targets(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Issue 12's batch-1 targets for each auto row, against the peers of the same run.

    Judged on the minima (the cost without waiting behind other work), on the medians, and
    paired: the median over rounds of the two callables' ratio in the same round
    (:func:`bench_common.paired_ratio`), which a machine whose speed swings moves least.
    """
    peers = {r["variant"]: r for r in rows if r["variant"].startswith("peer:")}
    out = {}
    for r in (r for r in rows if r["variant"].startswith("auto") and r["batch"] == 1):
        vs = {p: {stat: ratio(r[f"frame{suffix}_ms"], pr[f"frame{suffix}_ms"])
                  for stat, suffix in (("median", ""), ("min", "_min"), ("cpu", "_cpu"))}
              for p, pr in peers.items()}
        for p, pr in peers.items():
            vs[p]["paired"] = bc.paired_ratio(round_minima(r, "frame"), round_minima(pr, "frame"))
        checks = {}
        for stat, suffix in (("median", ""), ("min", "_min"), ("paired", "_paired")):
            e2e = r[f"frame_over_net{suffix}"]
            checks[stat] = {
                "e2e_over_net": e2e, "met_e2e_over_net": e2e is not None
                and e2e <= TARGET_E2E_OVER_NET,
                "met_below_peers": all(vs.get(p, {}).get(stat) is not None
                                       and vs[p][stat] < 1.0 for p in TARGET_PEERS)}
        out[r["variant"]] = {"backend": r["backend"], "target_e2e_over_net":
                             TARGET_E2E_OVER_NET, "auto_over_peer": vs, **checks}
    return out


# -- report ---------------------------------------------------------------------------------
COLUMNS = (("variant", "<16"), ("batch", ">5"), ("runtime", "<18"), ("precision", "<9", "prec"),
           ("layout", "<14"), ("net_ms", ">7.3f", "net"), ("frame_ms", ">7.3f", "frame"),
           ("crops_ms", ">7.3f", "crops"), ("net_min_ms", ">7.3f", "net min"),
           ("frame_min_ms", ">7.3f", "frm min"), ("crops_min_ms", ">7.3f", "crp min"),
           ("frame_over_net", ">7.2f", "frm/net"), ("frame_over_net_min", ">7.2f", "min f/n"),
           ("crops_over_net_min", ">7.2f", "min c/n"),
           ("frame_over_net_paired", ">7.2f", "pair f/n"))
SEQUENCE_COLUMNS = (("variant", "<16"), *((f"{k}_min_ms", ">8.3f", k[:8]) for k in SEQUENCE),
                    ("outside_min_ms", ">8.3f", "outside"),
                    ("total_over_infer_min", ">8.2f", "tot/inf"),
                    ("total_over_infer_median", ">8.2f", "med t/i"))
STAGE_COLUMNS = (("variant", "<16"), *((f"{k}_min_ms", ">8.3f", k) for k in STAGES),
                 ("outside_net_min_ms", ">8.3f", "outside"),
                 ("stages_over_infer_min", ">8.2f", "sum/infer"))


STAT_NAMES = {"min": "mins", "median": "medians", "paired": "paired by round"}


def _met(flag: bool) -> str:
    return "met" if flag else "MISSED"


def format_report(report: dict[str, Any]) -> str:
    """The tables, the auto choices, the targets and the machine line."""
    lines = [bc.format_table(COLUMNS, report["rows"]),
             ("ms per face (medians; min: minima): net = backend.infer on a ready input, frame ="
              " estimate(frame, boxes), crops = estimate_crops; frm/net = end to end / network "
              "of the same backend (medians; min f/n, min c/n: minima; pair f/n: median over "
              "rounds of the two calls' ratio in the same round). On a shared machine the "
              "minima are the cost itself, the medians add waiting behind other work (process "
              "CPU times are in the JSON); when the machine's speed swings, the paired ratio "
              "moves least.")]
    if report["stages"]:
        lines += ["", ("where the time of estimate(frame, boxes=[box]) goes at batch 1 (minimum "
                       "ms per call of each stage; poses = infer_poses minus infer: layout, "
                       "decode, Pose objects; outside = checks + crop + poses; "
                       "sum/infer = (outside + infer) / infer)"),
                  bc.format_table(STAGE_COLUMNS, report["stages"]),
                  "crop stage alone by face box height, as the SDK cuts it (OpenCV's path on "
                  "the same square): " + ", ".join(
                      f"{px} px {ms:.3f} ms ({report['crop_opencv_min_ms_by_face_px'][px]:.3f})"
                      for px, ms in report["crop_min_ms_by_face_px"].items()
                  ) + f" (the frame's box is {report['frame']['box_height_px']:.0f} px)", "",
                  ("the same path timed in sequence (one pass through estimate's functions, a "
                   "timestamp between stages, so each stage pays what it does in the real call; "
                   "minimum ms; outside = all but infer; tot/inf = whole pass / infer, minima; "
                   "med t/i: medians)"),
                  bc.format_table(SEQUENCE_COLUMNS, report["in_sequence"]), ""]
    for label, info in report["auto"].items():
        timings = ", ".join(f"{n} {ms:.2f} ms" for n, _, ms in info["timings_ms"])
        what = {"auto": "", "auto+u8": "folder with u8"}.get(label, repr(label[len("auto:"):]))
        threads = ", ".join(f"{'default' if n == 0 else n} {ms:.2f} ms"
                            for n, ms in info.get("thread_timings_ms", ()))
        lines.append(f"{label}: PoseEstimator({what}) "
                     f"chose {info['backend']['name']} ({info['backend']['precision']}, "
                     f"{info['backend']['input_layout']}, threads "
                     f"{info.get('num_threads') or 'default'}); its timings: "
                     f"{timings or 'none'}; threads: {threads or 'not compared'}")
    for label, t in report["targets"].items():
        for stat in ("min", "median", "paired"):
            peers = ", ".join(f"{p} {v[stat]:.2f}x" for p, v in t["auto_over_peer"].items()
                              if v[stat] is not None)
            e2e = t[stat]["e2e_over_net"]
            lines.append(
                f"target {label} ({t['backend']}, {STAT_NAMES[stat]}): e2e/net "
                f"{'n/a' if e2e is None else f'{e2e:.2f}'} <= {TARGET_E2E_OVER_NET}: "
                f"{_met(t[stat]['met_e2e_over_net'])}; e2e/peer {peers or 'no peers'}: below "
                f"{' and '.join(TARGET_PEERS)}: {_met(t[stat]['met_below_peers'])}")
    for label, reason in report["skipped"]:
        lines.append(f"skipped {label}: {reason}")
    lines.append(bc.shared_note(report["machine"]))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None,
                   help="model folder or built-in model name (default: the default model)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--runs", type=int, default=100,
                   help="timed calls per callable at batch 1 (runs/sqrt(B) at batch B, >= 10)")
    p.add_argument("--block", type=int, default=10,
                   help="calls in a row per callable and round (bench_common.time_interleaved)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads per runtime, peers too (0: each runtime's default)")
    p.add_argument("--variants", nargs="+", choices=VARIANT_ORDER, default=list(VARIANT_ORDER))
    p.add_argument("--no-auto", action="store_true", help="skip the auto rows")
    p.add_argument("--also", nargs="+", default=[], metavar="MODEL",
                   help="more models (folders or built-in names such as fast), each timed as "
                        "an auto row 'auto:MODEL' (PoseEstimator(MODEL)) in the same run")
    p.add_argument("--no-stages", action="store_true",
                   help="skip the per-stage breakdown of the batch-1 path")
    p.add_argument("--exporter", choices=("dynamo", "torchscript"), default="dynamo",
                   help="ONNX exporter for a missing ONNX form (as gldpose export --exporter)")
    p.add_argument("--peers", type=Path, default=DEFAULT_PEERS,
                   help="folder with fsanet/ and omz-head-pose-adas-0001/ (skipped if absent)")
    bc.add_common_arguments(p, bc.REPO_ROOT / "runs" / "benchmarks" / "latency.json")
    return p


def load_estimators(args: argparse.Namespace, model_dir: Path, tmp: Path
                    ) -> tuple[dict[str, PoseEstimator], dict[str, PoseEstimator], list]:
    """The variants' estimators, the auto ones, and ``(label, reason)`` for each skipped."""
    forms = {VARIANTS[v].folder for v in args.variants} | (set() if args.no_auto else {"u8"})
    folders, reasons = model_folders(model_dir, tmp, args.exporter, forms)
    options = BackendOptions(device="cpu", num_threads=args.threads)
    ests: dict[str, PoseEstimator] = {}
    autos: dict[str, PoseEstimator] = {}
    skipped: list[tuple[str, str]] = []
    seen: dict[tuple, str] = {}
    try:
        for label in args.variants:
            form = VARIANTS[label].folder
            est, reason = (load_variant(label, folders[form], options, seen) if form in folders
                           else (None, reasons[form]))
            if est is None:
                skipped.append((label, reason or "?"))
            else:
                ests[label] = est
        if not args.no_auto:
            autos["auto"] = load_auto(args.model, args.threads, tmp / "cache")
            if folders.get("u8") not in (None, model_dir):
                autos["auto+u8"] = load_auto(folders["u8"], args.threads, tmp / "cache_u8")
            for i, model in enumerate(args.also):
                autos[f"auto:{model}"] = load_auto(model, args.threads, tmp / f"cache_also{i}")
    except BaseException:
        for est in list(ests.values()) + list(autos.values()):
            est.close()
        raise
    return ests, autos, skipped


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Load everything, time every batch size and the stages; the JSON-able report."""
    load_at_start = bc.load_average()
    if args.quick:
        args.batch_sizes, args.runs, args.warmup, args.block = [1, 4], 4, 1, 2
    model_dir = resolve_model(args.model)
    manifest = read_manifest(model_dir)
    frame, box = sample_frame_and_box()
    timing = (args.warmup, args.block)
    with tempfile.TemporaryDirectory(prefix="gldpose_latency_") as tmp:
        ests, autos, skipped = load_estimators(args, model_dir, Path(tmp))
        try:
            peers, peer_skips = (load_peers(args.peers, args.threads) if args.peers.is_dir()
                                 else ({}, [("peers", f"no folder {args.peers}")]))
            rows = []
            for b in args.batch_sizes:
                rows += time_batch(ests | (autos if b == 1 else {}), peers, frame, box, b,
                                   runs_at(args.runs, b), *timing)
            stages = [] if args.no_stages else time_stages(ests | autos, frame, box,
                                                           args.runs, *timing)
            in_sequence = [] if args.no_stages else time_in_sequence(
                ests | autos, frame, box, args.runs if args.quick else max(args.runs, 200))
            crop_px, crop_px_opencv = ({}, {}) if args.no_stages or not ests else (
                time_crop_sizes(next(iter(ests.values())), frame, box, args.runs, *timing))
            auto_info = {k: e.describe().to_dict() for k, e in autos.items()}
        finally:
            for est in list(ests.values()) + list(autos.values()):
                est.close()
    return {
        "model_dir": str(model_dir), "backbone": manifest.backbone,
        "input_size_px": manifest.input.size_px, "decode": decode_implementation(),
        "crop": crop_implementation(manifest.input),
        "frame": {"file": SAMPLE_FRAME, "shape": list(frame.shape), "box": list(box),
                  "box_height_px": box[3] - box[1]},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "rows": rows, "stages": stages, "in_sequence": in_sequence,
        "crop_min_ms_by_face_px": crop_px, "crop_opencv_min_ms_by_face_px": crop_px_opencv,
        "auto": auto_info,
        "targets": targets(rows), "skipped": [list(s) for s in skipped + peer_skips],
        "machine": bc.machine_info(args.machine_shared, load_at_start),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, write the JSON; 2 on a model or input error."""
    args = build_parser().parse_args(argv)
    return bc.run_and_report("latency", args, run, format_report)


if __name__ == "__main__":
    sys.exit(main())
