"""Video pipeline speed: per-frame detection against detect-rarely-and-track, side by side.

For each frame size (320x240, 640x480, 1280x720) and head count (1, 3) the script renders a
clip of moving heads with the project's synthetic renderer (``gldpose_train.synth``; cached as
MJPG under ``--clips``, with the true poses in a JSON file beside it) and runs
``PoseEstimator.track`` over the file twice in one process, with the same model, backend and
smoothing:

  * ``per-frame``: ``TrackConfig(detect_every_frames=1)``, the full detector on every frame
    (what ``track()`` did before the refine step);
  * ``tracking``: the default ``TrackConfig()``, the full detector every
    ``detect_every_frames`` frames and the detector's refine step (MTCNN's O-Net) between.

It reports frames per second over the whole run (decode included) and the mean milliseconds
per frame of each stage, from ``FrameResult.timings_ms``: decode, detect, refine, crop (the
pose stage outside the network: crop, resize, normalise, decode of the logits), pose (the
network: ``backend.infer``, timed by wrapping it) and smooth; the faces found against the
rendered ones; the pose MAE of the tracking path against the per-frame path (faces matched by
box IoU in each frame) and of both against the rendered truth. The two modes alternate over
``--repeats`` runs and the median fps is kept. A table goes to stdout and everything to
``--json``.

    python benchmarks/video.py [--quick] [--frames 90] [--json runs/benchmarks/video.json]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from gldpose_sdk import GldposeError, PoseEstimator
from gldpose_sdk.detect import box_iou
from gldpose_sdk.track import TrackConfig

_LOG = logging.getLogger("video")
REPO = Path(__file__).resolve().parents[1]
SIZES = ((320, 240), (640, 480), (1280, 720))
FACE_COUNTS = (1, 3)
FPS = 30.0
STAGES = ("decode", "detect", "refine", "crop", "pose", "smooth")
MODES = {"per-frame": TrackConfig(detect_every_frames=1), "tracking": TrackConfig()}
IOU_MATCH = 0.3
FACE_HEIGHT_CM = 13.5  # the renderer's frontal brow-to-chin height (gldpose_train.synth.render)


@dataclass(frozen=True)
class Row:
    """One clip and mode: fps is the median over the repeats, stage times the mean milliseconds
    per frame over all of them; detections, faces found and MAE are from the first run."""

    size: str
    faces: int
    mode: str
    frames: int
    fps: float
    ms_per_frame: float
    decode_ms: float
    detect_ms: float
    refine_ms: float
    crop_ms: float
    pose_ms: float
    smooth_ms: float
    detect_frames: int
    found_frac: float
    mae_vs_truth_deg: float | None
    mae_vs_per_frame_deg: float | None = None
    speedup_vs_per_frame: float | None = None


def head_path(index: int, n_heads: int, frame: int, n_frames: int, width: int,
              height: int) -> tuple[float, float, float, float, float, float]:
    """Yaw, pitch, roll (degrees), pivot x, y (pixels) and scale (px/cm) of head ``index``.

    Heads sit in ``n_heads`` columns, sway sideways by 6% of the width and turn smoothly
    (yaw within +-45, pitch +-15, roll +-10 degrees), each with its own phase.
    """
    t = 2 * np.pi * frame / n_frames
    phase = 2.1 * index
    face_px = height * (0.42 if n_heads == 1 else 0.3)
    scale = face_px / FACE_HEIGHT_CM
    cx = width * (index + 0.5) / n_heads + 0.06 * width * np.sin(t + phase)
    cy = height * 0.5 - 4.5 * scale + 0.03 * height * np.sin(2 * t + phase)
    return (float(45 * np.sin(t + phase)), float(15 * np.sin(2 * t + 0.5 + phase)),
            float(10 * np.sin(t + 1.2 + phase)), float(cx), float(cy), float(scale))


def render_clip(path: Path, width: int, height: int, n_heads: int, n_frames: int,
                seed: int = 12) -> list[list[dict]]:
    """Render a moving-head clip to ``path`` (MJPG) and ``path.json``; return per-frame truth
    (one ``{"box", "yaw_deg", "pitch_deg", "roll_deg"}`` per head). Cached by file name."""
    truth_path = path.with_suffix(".json")
    if path.is_file() and truth_path.is_file():
        return json.loads(truth_path.read_text())["frames"]
    from gldpose_train.synth import background
    from gldpose_train.synth.render import render_frame
    from gldpose_train.synth.scene import Placement

    bg = background.make_background(np.random.default_rng([seed, 0]), height, width)
    background.add_clutter(np.random.default_rng([seed, 1]), bg, 12)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (width, height))
    frames = []
    try:
        for k in tqdm(range(n_frames), desc=f"render {path.name}", leave=False):
            places = []
            for i in range(n_heads):
                yaw, pitch, roll, cx, cy, scale = head_path(i, n_heads, k, n_frames, width,
                                                            height)
                places.append(Placement(yaw, pitch, roll, (cx, cy), scale, 120.0))
            # The same seed every frame: the same people, light and background.
            image, labels = render_frame(np.random.default_rng([seed, 2]), width, height,
                                         places, effects=False, bg=bg)
            writer.write(image)
            frames.append([{"box": list(lab.box), "yaw_deg": lab.placement.yaw_deg,
                            "pitch_deg": lab.placement.pitch_deg,
                            "roll_deg": lab.placement.roll_deg} for lab in labels])
    finally:
        writer.release()
    truth_path.write_text(json.dumps({"fps": FPS, "frames": frames}))
    return frames


class InferTimer:
    """Wraps ``backend.infer`` on the instance and adds up its time (the pose network)."""

    def __init__(self, est: PoseEstimator) -> None:
        self.total_ms = 0.0
        backend = est.backend
        original = backend.infer

        def timed(batch: np.ndarray, **options: bool) -> np.ndarray:
            start = time.perf_counter()
            try:
                return original(batch, **options)
            finally:
                self.total_ms += (time.perf_counter() - start) * 1e3

        backend.infer = timed  # type: ignore[method-assign]

    def take(self) -> float:
        """Milliseconds since the last call."""
        value, self.total_ms = self.total_ms, 0.0
        return value


def run_mode(est: PoseEstimator, timer: InferTimer, clip: Path, config: TrackConfig
             ) -> tuple[float, dict[str, float], int, list[list]]:
    """One pass over ``clip``: fps, mean ms per stage, detection frames, poses per frame
    (``(box, [yaw, pitch, roll])`` per face)."""
    stage_ms = {name: [] for name in STAGES}
    poses, detect_frames = [], 0
    timer.take()
    start = time.perf_counter()
    for result in est.track(clip, config):
        network = timer.take()
        times = result.timings_ms
        for name in ("decode", "detect", "refine", "smooth"):
            stage_ms[name].append(times[name])
        stage_ms["pose"].append(network)
        stage_ms["crop"].append(max(times["pose"] - network, 0.0))
        detect_frames += result.detected
        poses.append([(p.box, p.angles_deg) for p in result.poses])
    fps = len(poses) / (time.perf_counter() - start)
    return fps, {k: float(np.mean(v)) for k, v in stage_ms.items()}, detect_frames, poses


def matched_errors(found: list[list], reference: list[list]) -> list[float]:
    """Mean absolute yaw/pitch/roll differences (degrees) of faces matched by box IoU."""
    errors = []
    for got, ref in zip(found, reference):
        if not got or not ref:
            continue
        iou = box_iou(np.array([b for b, _ in got]), np.array([b for b, _ in ref]))
        for i, j in zip(*np.nonzero(iou >= IOU_MATCH)):
            if iou[i, j] == iou[i].max() == iou[:, j].max():
                errors.append(float(np.abs(got[i][1] - ref[j][1]).mean()))
    return errors


def bench_clip(est: PoseEstimator, timer: InferTimer, clip: Path, truth: list[list[dict]],
               size: str, faces: int, repeats: int) -> list[Row]:
    """Rows for both modes on one clip (the modes alternate over ``repeats`` runs)."""
    runs: dict[str, list] = {mode: [] for mode in MODES}
    for _ in zip(range(5), est.track(clip, MODES["per-frame"])):
        pass  # warm-up: the runtimes prepare each new input shape on first use
    for _ in range(repeats):
        for mode, config in MODES.items():
            runs[mode].append(run_mode(est, timer, clip, config))
    truth_poses = [[(h["box"], np.array([h["yaw_deg"], h["pitch_deg"], h["roll_deg"]]))
                    for h in heads] for heads in truth]
    rows, per_frame_poses, per_frame_fps = [], None, None
    for mode in MODES:
        fps = statistics.median(r[0] for r in runs[mode])
        stages = {name: float(np.mean([r[1][name] for r in runs[mode]])) for name in STAGES}
        _, _, detect_frames, poses = runs[mode][0]
        vs_truth = matched_errors(poses, truth_poses)
        found = sum(len(p) for p in poses) / max(1, sum(len(t) for t in truth_poses))
        row = Row(size, faces, mode, len(poses), fps, 1e3 / fps,
                  *(stages[name] for name in STAGES), detect_frames, found,
                  float(np.mean(vs_truth)) if vs_truth else None)
        if mode == "per-frame":
            per_frame_poses, per_frame_fps = poses, fps
        else:
            vs_ref = matched_errors(poses, per_frame_poses or [])
            row = dataclasses.replace(row, speedup_vs_per_frame=fps / per_frame_fps,
                                      mae_vs_per_frame_deg=float(np.mean(vs_ref))
                                      if vs_ref else None)
        rows.append(row)
    return rows


def format_table(rows: list[Row]) -> str:
    """Fixed-width text table of the rows."""
    head = (f"{'size':<9} {'faces':>5} {'mode':<9} {'fps':>6} {'ms/fr':>6} "
            + " ".join(f"{s:>6}" for s in STAGES)
            + f" {'det fr':>6} {'found':>5} {'MAE gt':>6} {'MAE pf':>6} {'x pf':>5}")
    lines = [head, "-" * len(head)]
    for r in rows:
        stage_cells = " ".join(f"{getattr(r, s + '_ms'):6.2f}" for s in STAGES)
        gt = f"{r.mae_vs_truth_deg:6.2f}" if r.mae_vs_truth_deg is not None else f"{'-':>6}"
        pf = f"{r.mae_vs_per_frame_deg:6.2f}" if r.mae_vs_per_frame_deg is not None else \
            f"{'-':>6}"
        x = f"{r.speedup_vs_per_frame:5.2f}" if r.speedup_vs_per_frame is not None else \
            f"{'':>5}"
        lines.append(f"{r.size:<9} {r.faces:>5} {r.mode:<9} {r.fps:6.1f} {r.ms_per_frame:6.1f} "
                     f"{stage_cells} {r.detect_frames:>6} {r.found_frac:5.0%} {gt} {pf} {x}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None,
                   help="model folder or built-in model name (default: the default model)")
    p.add_argument("--backend", default="auto")
    p.add_argument("--frames", type=int, default=90, help="frames per clip (30 fps)")
    p.add_argument("--repeats", type=int, default=3, help="runs per mode (median fps)")
    p.add_argument("--clips", type=Path, default=REPO / "runs" / "benchmarks" / "video_clips",
                   help="cache folder of the rendered clips")
    p.add_argument("--json", type=Path, default=REPO / "runs" / "benchmarks" / "video.json")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 320x240 only, 12 frames, 1 repeat")
    return p


def run(args: argparse.Namespace) -> dict:
    """Render (or reuse) the clips and time both modes; return the JSON-able report."""
    sizes = SIZES[:1] if args.quick else SIZES
    if args.quick:
        args.frames, args.repeats = 12, 1
    rows: list[Row] = []
    with PoseEstimator(args.model, backend=args.backend) as est:
        timer = InferTimer(est)
        info = est.describe()
        cells = [(w, h, n) for w, h in sizes for n in FACE_COUNTS]
        for width, height, n_heads in tqdm(cells, desc="clips"):
            clip = args.clips / f"heads{n_heads}_{width}x{height}_{args.frames}f.avi"
            truth = render_clip(clip, width, height, n_heads, args.frames)
            rows += bench_clip(est, timer, clip, truth, f"{width}x{height}", n_heads,
                               args.repeats)
    return {
        "backend": dataclasses.asdict(info.backend), "detector": info.detector,
        "model_dir": info.model_dir,
        "machine": {"cpu": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "python": sys.version.split()[0],
                    "opencv": cv2.__version__, "load_average_1min": os.getloadavg()[0]},
        "settings": {"frames": args.frames, "repeats": args.repeats, "fps": FPS,
                     "quick": args.quick, "modes": {m: dataclasses.asdict(c)
                                                    for m, c in MODES.items()}},
        "rows": [dataclasses.asdict(r) for r in rows],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, write the JSON; 2 on a model or input error."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        report = run(args)
    except GldposeError as exc:
        print(f"video: error: {exc}", file=sys.stderr)
        return 2
    print(format_table([Row(**r) for r in report["rows"]]))
    print(f"backend {report['backend']['name']} ({report['backend']['precision']}), detector "
          f"{report['detector']}; fps = median of {args.repeats} runs; stages in ms per frame; "
          "MAE in degrees (mean of yaw, pitch, roll): gt = against the rendered truth, pf = "
          "against the per-frame path; x pf = fps against the per-frame path")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, sort_keys=True, default=float) + "\n",
                         encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
