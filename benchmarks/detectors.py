"""Compare the installed face detectors: detection rate by |yaw| band, box fit, time per frame.

Samples are images in the 300W-LP format (``NAME.jpg`` + ``NAME.mat``): synthetic renders
(``--renders``) and the real AFLW2000 / 300W-LP samples in ``../shared/data/real-format``. The
reference box is the min/max of the 68 landmarks (``pt3d_68`` rows 0-1 for AFLW2000, whose
``pt2d`` has 21 points; ``pt2d`` for 300W-LP). A face counts as detected when a detection's
(corrected) box has IoU >= 0.4 with it. ``--calibrate`` fits each detector's native-box
correction (median centre shift and scale over matched faces) and prints it.

Usage:
    python benchmarks/detectors.py [--renders DIR] [--real DIR] [--detectors a,b]
        [--calibrate] [--out runs/benchmarks/detectors.json] [--quick]
"""
from __future__ import annotations

import argparse
import itertools
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import bench_common as bc
import cv2
import numpy as np
import scipy.io
from gldpose_sdk.detect import DETECTORS, FaceDetector, box_iou, load_detector
from gldpose_sdk.errors import BackendUnavailableError

LOG = logging.getLogger("benchmarks.detectors")
REPO_ROOT = Path(__file__).resolve().parents[1]
YAW_BANDS_DEG = ((0.0, 30.0), (30.0, 60.0), (60.0, 90.0), (90.0, 180.0))
IOU_DETECTED = 0.4
IOU_MATCH_NATIVE = 0.2


@dataclass(frozen=True)
class Sample:
    """One face image with its reference box (pixels) and yaw (degrees)."""

    path: str
    group: str
    yaw_deg: float
    box: tuple[float, float, float, float]


def landmark_box(mat: dict) -> tuple[float, float, float, float]:
    """Min/max box of the 68 landmarks in a 300W-LP/AFLW2000 .mat (points <= 0 ignored)."""
    pts = mat["pt3d_68"][:2] if "pt3d_68" in mat else mat["pt2d"]
    pts = np.asarray(pts, dtype=np.float64)
    pts = pts[:, np.all(pts > 0, axis=0)]
    return (pts[0].min(), pts[1].min(), pts[0].max(), pts[1].max())


def load_samples(folder: Path, group: str, limit: int | None) -> list[Sample]:
    """Every ``*.jpg``/``*.png`` with a sibling ``.mat`` under ``folder`` (sorted)."""
    out = []
    for img in sorted(p for p in folder.rglob("*") if p.suffix in (".jpg", ".png")):
        mat_path = img.with_suffix(".mat")
        if not mat_path.is_file():
            continue
        mat = scipy.io.loadmat(mat_path)
        yaw = float(np.degrees(mat["Pose_Para"][0, 1]))
        out.append(Sample(str(img), group, yaw, tuple(float(v) for v in landmark_box(mat))))
        if limit and len(out) >= limit:
            break
    return out


def band_of(yaw_deg: float) -> str:
    """Label of the |yaw| band holding ``yaw_deg``."""
    a = abs(yaw_deg)
    for lo, hi in YAW_BANDS_DEG:
        if lo <= a < hi:
            return f"{lo:.0f}-{hi:.0f}"
    return "other"


def evaluate(detector: FaceDetector, samples: list[Sample]) -> list[dict]:
    """Per-sample results: best corrected IoU, false detections, native boxes for calibration."""
    rows = []
    for s in samples:
        frame = cv2.imread(s.path, cv2.IMREAD_COLOR)
        ref = np.array([s.box])
        dets = detector(frame)
        iou = box_iou(np.array([d.box for d in dets]), ref)[:, 0] if dets else np.zeros(0)
        native = detector.detect_native(frame)
        n_iou = (box_iou(np.array([d.box for _, d in native]), ref)[:, 0] if native
                 else np.zeros(0))
        best_native = None
        if n_iou.size and n_iou.max() >= IOU_MATCH_NATIVE:
            src, det = native[int(n_iou.argmax())]
            best_native = {"source": src, "box": list(det.box)}
        rows.append({
            "path": s.path, "group": s.group, "yaw_deg": s.yaw_deg, "ref_box": list(s.box),
            "band": band_of(s.yaw_deg), "best_iou": float(iou.max()) if iou.size else 0.0,
            "detected": bool(iou.size and iou.max() >= IOU_DETECTED),
            "false_detections": int(np.sum(iou < IOU_DETECTED)), "native": best_native,
        })
    return rows


def fit_corrections(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Median centre shift (fractions of native size) and scale, per native source.

    Mirrored sources are flipped so that one correction serves both directions.
    """
    by_source: dict[str, list[list[float]]] = {}
    for r in rows:
        if r["native"] is None:
            continue
        x0, y0, x1, y1 = r["native"]["box"]
        rx0, ry0, rx1, ry1 = r["ref_box"]
        w, h = x1 - x0, y1 - y0
        dx = ((rx0 + rx1) - (x0 + x1)) / 2 / w
        src = r["native"]["source"]
        if src.endswith("_mirrored"):
            src, dx = src[: -len("_mirrored")], -dx
        dy = ((ry0 + ry1) - (y0 + y1)) / 2 / h
        by_source.setdefault(src, []).append([dx, dy, (rx1 - rx0) / w, (ry1 - ry0) / h])
    out: dict[str, dict[str, float]] = {}
    for src, vals in by_source.items():
        med = np.median(np.array(vals), axis=0)
        out[src] = {"dx_frac": round(float(med[0]), 3), "dy_frac": round(float(med[1]), 3),
                    "scale_w": round(float(med[2]), 3), "scale_h": round(float(med[3]), 3),
                    "n": len(vals)}
    return out


def fit_corrections_by_set(rows: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """Corrections fitted on each sample set, and their mean (each set weighs the same, however
    many faces it has: the few real photos count as much as the many renders)."""
    fits = {g: fit_corrections([r for r in rows if r["group"] == g])
            for g in sorted({r["group"] for r in rows})}
    mean: dict[str, dict[str, float]] = {}
    for src in sorted({s for f in fits.values() for s in f}):
        have = [f[src] for f in fits.values() if src in f]
        mean[src] = {k: round(float(np.mean([h[k] for h in have])), 3)
                     for k in ("dx_frac", "dy_frac", "scale_w", "scale_h")}
        mean[src]["n"] = int(sum(h["n"] for h in have))
    return {**fits, "mean": mean}


def timing_frames(samples: list[Sample]) -> list[np.ndarray]:
    """640x480 frames: the SDK's shipped sample frames, else 4 samples letterboxed to 640x480."""
    shipped = sorted((REPO_ROOT / "sdk/gldpose_sdk/samples").glob("frame_*.jpg"))
    frames = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in shipped]
    frames = [f for f in frames if f is not None and f.shape == (480, 640, 3)]
    if frames:
        return frames
    for s in samples[:4]:
        img = cv2.imread(s.path, cv2.IMREAD_COLOR)
        scale = 480 / img.shape[0]
        img = cv2.resize(img, (round(img.shape[1] * scale), 480))[:, :640]
        frame = np.zeros((480, 640, 3), np.uint8)
        x = (640 - img.shape[1]) // 2
        frame[:, x: x + img.shape[1]] = img
        frames.append(frame)
    return frames


def time_per_frame_ms(detectors: dict[str, FaceDetector], frames: list[np.ndarray],
                      repeats: int) -> dict[str, float]:
    """Median milliseconds per call, per detector, over ``repeats`` passes over ``frames``.

    The detectors take turns, a pass over the frames each (``bench_common.time_interleaved``),
    so that a change in the machine's load hits them alike.
    """
    def passes(det: FaceDetector) -> Callable[[], object]:
        it = itertools.cycle(frames)
        return lambda: det(next(it))

    timings = bc.time_interleaved({name: passes(det) for name, det in detectors.items()},
                                  repeats * len(frames), warmup=1, block=len(frames))
    return {name: t.median_ms for name, t in timings.items()}


def summarise(rows: list[dict]) -> dict:
    """Detection rate per group and |yaw| band, and mean IoU of detected faces."""
    out = {}
    for group in sorted({r["group"] for r in rows}):
        g = [r for r in rows if r["group"] == group]
        bands = {}
        for lo, hi in YAW_BANDS_DEG:
            b = [r for r in g if r["band"] == f"{lo:.0f}-{hi:.0f}"]
            if b:
                rate = float(np.mean([r["detected"] for r in b]))
                bands[f"{lo:.0f}-{hi:.0f}"] = {"n": len(b), "rate": rate}
        det = [r["best_iou"] for r in g if r["detected"]]
        out[group] = {"n": len(g), "rate": float(np.mean([r["detected"] for r in g])),
                      "bands": bands, "mean_iou_detected": float(np.mean(det)) if det else 0.0,
                      "false_detections": int(sum(r["false_detections"] for r in g))}
    return out


def print_table(results: dict) -> None:
    """One line per detector and group: rates by band, IoU, false detections, time."""
    bands = [f"{lo:.0f}-{hi:.0f}" for lo, hi in YAW_BANDS_DEG]
    head = f"{'detector':16s} {'set':8s} {'n':>4s} " + " ".join(f"{b:>12s}" for b in bands)
    print(head + f" {'all':>6s} {'IoU':>5s} {'FP':>4s} {'ms/640x480':>10s}")
    for name, res in results.items():
        for group, s in res["summary"].items():
            cells = []
            for b in bands:
                v = s["bands"].get(b)
                cells.append(f"{v['rate']:5.0%} ({v['n']:3d})" if v else f"{'-':>12s}")
            print(f"{name:16s} {group:8s} {s['n']:4d} " + " ".join(f"{c:>12s}" for c in cells)
                  + f" {s['rate']:6.0%} {s['mean_iou_detected']:5.2f} {s['false_detections']:4d}"
                  + f" {res['ms_per_frame']:10.1f}")


def write_demo(path: Path, detector_name: str) -> None:
    """Render three synthetic heads, detect them, draw the true poses at the detected boxes."""
    from gldpose_sdk.draw import draw_poses
    from gldpose_sdk.pose import Pose
    from gldpose_train.synth.render import render_frame
    from gldpose_train.synth.scene import Placement

    rng = np.random.default_rng(3)
    places = [Placement(35.0, -10.0, 5.0, (115.0, 250.0), 8.0, 90.0),
              Placement(0.0, 15.0, -10.0, (320.0, 230.0), 8.5, 90.0),
              Placement(-50.0, 0.0, 10.0, (525.0, 250.0), 8.0, 90.0)]
    frame, labels = render_frame(rng, 640, 480, places)
    detections = load_detector(detector_name)(frame)
    poses = []
    for label in labels:
        ious = box_iou(np.array([d.box for d in detections]), np.array([label.box]))[:, 0]
        if ious.size and ious.max() >= IOU_DETECTED:
            det = detections[int(ious.argmax())]
            p = label.placement
            poses.append(Pose(p.yaw_deg, p.pitch_deg, p.roll_deg, 0.0, 0.0, 0.0, det.box,
                              det.score))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), draw_poses(frame, poses))
    LOG.info("demo: %d of %d heads detected by %s -> %s", len(poses), len(labels),
             detector_name, path)


def build_variant(name: str) -> FaceDetector:
    """A registry detector, or ``"mtcnn/RUNTIME"``: the MTCNN cascade on that runtime."""
    if not name.startswith("mtcnn/"):
        return load_detector(name)
    from gldpose_sdk.detectors.mtcnn_cascade import MTCNNConfig, MTCNNDetector

    return MTCNNDetector(MTCNNConfig(runtime=name.split("/", 1)[1]))


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; returns a process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=Path, help="folder of synthetic renders (300W-LP format)")
    parser.add_argument("--real", type=Path, default=REPO_ROOT.parent / "shared/data/real-format")
    parser.add_argument("--detectors", default=",".join(sorted(DETECTORS)))
    parser.add_argument("--mtcnn-runtimes", default="",
                        help="also run the MTCNN cascade on each of these runtimes "
                             "(comma-separated names of onnx_runner.RUNNERS), rows 'mtcnn/NAME'")
    parser.add_argument("--calibrate", action="store_true", help="print fitted box corrections")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "runs/benchmarks/detectors.json")
    parser.add_argument("--quick", action="store_true", help="at most 20 renders, 1 timing pass")
    parser.add_argument("--demo", type=Path, metavar="IMAGE",
                        help="only draw true poses at detected boxes on a rendered 3-head frame")
    args = parser.parse_args(argv)
    load_at_start = bc.load_average()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.demo:
        write_demo(args.demo, args.detectors.split(",")[0])
        return 0
    limit = 20 if args.quick else None
    samples: list[Sample] = []
    if args.renders:
        samples += load_samples(args.renders, "synth", limit)
    if args.real.is_dir():
        samples += load_samples(args.real, "real", None)
    if not samples:
        parser.error("no samples: give --renders or a --real folder with .jpg + .mat pairs")
    results, detectors = {}, {}
    for name in [*args.detectors.split(","),
                 *(f"mtcnn/{r}" for r in args.mtcnn_runtimes.split(",") if r)]:
        try:
            detectors[name] = build_variant(name)
        except BackendUnavailableError as exc:
            LOG.info("skip %s: %s", name, exc.reason)
            continue
        rows = evaluate(detectors[name], samples)
        results[name] = {"summary": summarise(rows),
                         "corrections_fitted": fit_corrections_by_set(rows), "rows": rows}
        if args.calibrate:
            for group, fit in results[name]["corrections_fitted"].items():
                LOG.info("%s correction fitted on %s: %s", name, group, fit)
    if detectors:
        times = time_per_frame_ms(detectors, timing_frames(samples), 1 if args.quick else 10)
        for name, ms in times.items():
            results[name]["ms_per_frame"] = ms
    print_table(results)
    meta = {"machine": bc.machine_info("auto", load_at_start), "iou_detected": IOU_DETECTED,
            "samples": [asdict(s) for s in samples]}
    print(bc.shared_note(meta["machine"]))
    bc.write_json(args.out, {"meta": meta, "results": results})
    LOG.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
