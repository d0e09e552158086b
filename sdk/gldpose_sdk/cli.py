"""``gldpose predict``: head poses in an image, a folder of images, a video file or a camera.

Writes annotated output (``--out``) and JSON lines (``--json``: one object per frame with the
source, the frame index and the poses) and prints a short table. Videos and cameras go
through ``PoseEstimator.track`` (full detection now and then, faces followed between), with a
progress bar showing frames per second.

A folder is processed image by image: an image that cannot be read or is refused (corrupt,
empty, too large) gets one line on stderr (``gldpose predict: skipped PATH: why``) and a JSON
record with an ``error`` key, and the run goes on with the next image.

Exit status:
    0: every input was processed.
    1: some images of a folder failed (each reported on stderr); the others were processed.
    2: nothing could be run: bad arguments, a missing or unreadable source (a single image or
       video), a folder without images, a bad model folder, an unavailable backend, or an
       output that cannot be written. One line on stderr, no traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import cv2
import numpy as np
from tqdm import tqdm

from gldpose_sdk.backends import BACKENDS
from gldpose_sdk.builtin_models import BUILTIN_MODELS
from gldpose_sdk.config import OPENVINO_PRECISIONS, BackendOptions, EstimatorConfig
from gldpose_sdk.detect import DETECTORS
from gldpose_sdk.draw import draw_poses
from gldpose_sdk.errors import GldposeError, InputError
from gldpose_sdk.estimator import PoseEstimator
from gldpose_sdk.pose import Pose
from gldpose_sdk.preprocess import IMAGE_SUFFIXES, read_image_bgr

_LOG = logging.getLogger(__name__)
VIDEO_FOURCC = {".avi": "MJPG", ".mkv": "mp4v", ".mov": "mp4v", ".mp4": "mp4v"}
TABLE_ROWS = 40
EXIT_OK, EXIT_INPUTS_FAILED, EXIT_ERROR = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``gldpose predict``."""
    p = argparse.ArgumentParser(prog="gldpose predict", description=__doc__.split("\n")[0])
    p.add_argument("source", help="image file, folder of images, video file, or camera index")
    p.add_argument("--model", default=None,
                   help="model folder, or a built-in model: "
                        + ", ".join(f"{k} ({v})" for k, v in BUILTIN_MODELS.items())
                        + "; default: default")
    p.add_argument("--backend", default="auto", choices=["auto", *BACKENDS.names()])
    p.add_argument("--device", default="auto", help="auto, cpu, cuda[:N] or gpu[:N] (OpenVINO)")
    p.add_argument("--detector", default="auto", choices=["auto", "none", *sorted(DETECTORS)],
                   help="face detector; 'none' takes each whole image as one face crop")
    p.add_argument("--openvino-precision", default=BackendOptions.openvino_precision,
                   choices=OPENVINO_PRECISIONS)
    p.add_argument("--out", type=Path, default=None,
                   help="annotated output: image file (image source), folder (folder source) "
                        "or video file (.mp4/.avi; video or camera source)")
    p.add_argument("--json", type=Path, default=None, help="write JSON lines here")
    p.add_argument("--max-frames", type=int, default=0,
                   help="stop after this many frames of a video/camera (0: all)")
    p.add_argument("--show", action=argparse.BooleanOptionalAction, default=False,
                   help="show annotated frames in a window (needs an OpenCV GUI build)")
    p.add_argument("-v", "--verbose", action="store_true", help="log backend choice etc.")
    return p


def estimator_from_args(args: argparse.Namespace) -> PoseEstimator:
    """Map the parsed arguments onto :class:`PoseEstimator` and its config (the one place)."""
    config = EstimatorConfig(backend=BackendOptions(openvino_precision=args.openvino_precision))
    return PoseEstimator(args.model, backend=args.backend, device=args.device,
                         detector=args.detector, config=config)


@dataclass(frozen=True)
class Frame:
    """One frame to process: where it came from, its index, the image."""

    source: str
    index: int
    image: np.ndarray


def _source_kind(source: str) -> str:
    if source.isascii() and source.lstrip("-").isdigit():
        return "camera"  # a negative index is refused by PoseEstimator.track, not OpenCV
    path = Path(source)
    if path.is_dir():
        return "folder"
    if not path.is_file():
        raise InputError(f"source not found: {source} (image, folder, video file or camera "
                         "index expected)")
    return "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"


def _image_files(source: str, kind: str) -> list[Path]:
    """The image source itself, or a folder's image files in name order."""
    if kind == "image":
        return [Path(source)]
    files = sorted(p for p in Path(source).iterdir()
                   if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {source}")
    return files


def _predict_images(estimator: PoseEstimator, source: str, kind: str,
                    outputs: _Outputs) -> tuple[int, int]:
    """Poses of an image or of each image of a folder; returns (images done, images failed).

    In a folder, an image that cannot be read or that the estimator refuses (InputError) is
    reported on stderr, recorded in the JSON lines and skipped. A single image source that
    fails raises (exit status 2): there is nothing else to do.
    """
    done = failed = 0
    for path in _image_files(source, kind):
        try:
            frame = Frame(str(path), 0, read_image_bgr(path))
            poses = estimator.estimate(frame.image)
        except InputError as exc:
            if kind == "image":
                raise
            failed += 1
            reason = " ".join(str(exc).split())  # one line, whatever the message holds
            print(f"gldpose predict: skipped {path}: {reason}", file=sys.stderr)
            outputs.add_failure(str(path), reason)
            continue
        outputs.add(frame, poses)
        done += 1
    return done, failed


class _Outputs:
    """Annotated images or video, JSON lines and the stdout table, for one run."""

    def __init__(self, args: argparse.Namespace, kind: str) -> None:
        self.args, self.kind = args, kind
        self.rows: list[str] = []
        self.json_fh: IO[str] | None = None
        self.video: cv2.VideoWriter | None = None
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            self.json_fh = open(args.json, "w", encoding="utf-8")
        if args.out is not None and kind == "folder":
            args.out.mkdir(parents=True, exist_ok=True)

    def add_failure(self, source: str, reason: str) -> None:
        """Record an input that was skipped (JSON lines only; stderr has its own line)."""
        if self.json_fh is not None:
            record = {"source": source, "frame": 0, "poses": [], "error": reason}
            self.json_fh.write(json.dumps(record) + "\n")

    def add(self, frame: Frame, poses: list[Pose]) -> None:
        if self.json_fh is not None:
            record = {"source": frame.source, "frame": frame.index,
                      "poses": [p.to_dict() for p in poses]}
            self.json_fh.write(json.dumps(record) + "\n")
        for i, p in enumerate(poses):
            face = i if p.track_id is None else p.track_id
            self.rows.append(f"{Path(frame.source).name[-28:]:<28} {frame.index:>6} {face:>4} "
                             f"{p.yaw_deg:7.1f}±{p.yaw_std_deg:<5.1f}{p.pitch_deg:7.1f}±"
                             f"{p.pitch_std_deg:<5.1f}{p.roll_deg:7.1f}±{p.roll_std_deg:<5.1f}"
                             f"{p.score:6.2f}")
        if self.args.out is None and not self.args.show:
            return
        annotated = draw_poses(frame.image, poses)
        if self.args.show:
            cv2.imshow("gldpose", annotated)
            cv2.waitKey(1)
        if self.args.out is not None:
            self._write(frame, annotated)

    def _write(self, frame: Frame, annotated: np.ndarray) -> None:
        out: Path = self.args.out
        if self.kind in ("image", "folder"):
            # one image into a folder when --out is one (or has no extension), like a folder source
            into_folder = self.kind == "folder" or out.is_dir() or not out.suffix
            target = out / Path(frame.source).name if into_folder else out
            if not cv2.haveImageWriter(str(target)):
                raise InputError(f"cannot write image {target}: OpenCV has no writer for "
                                 f"{target.suffix!r} (use .jpg or .png, or a folder)")
            target.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(target), annotated):
                raise InputError(f"cannot write image {target}")
            return
        if self.video is None:
            fourcc = VIDEO_FOURCC.get(out.suffix.lower())
            if fourcc is None:
                raise InputError(f"--out for video must end in {', '.join(VIDEO_FOURCC)}")
            out.parent.mkdir(parents=True, exist_ok=True)
            h, w = annotated.shape[:2]
            self.video = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*fourcc),
                                         self.args.fps_out, (w, h))
        self.video.write(annotated)

    def close(self) -> None:
        if self.json_fh is not None:
            self.json_fh.close()
        if self.video is not None:
            self.video.release()

    def print_table(self, n_frames: int) -> None:
        print(f"{'source':<28} {'frame':>6} {'face':>4} {'yaw':>13} {'pitch':>12} "
              f"{'roll':>12} {'score':>5}")
        for row in self.rows[:TABLE_ROWS]:
            print(row)
        if len(self.rows) > TABLE_ROWS:
            print(f"... {len(self.rows) - TABLE_ROWS} more rows (all in --json)")
        print(f"{len(self.rows)} face(s) in {n_frames} frame(s); angles in degrees ± std")


def _run(args: argparse.Namespace) -> int:
    kind = _source_kind(args.source)
    estimator = estimator_from_args(args)
    _LOG.info("%s", estimator.describe().to_dict())
    args.fps_out = _video_fps(args.source, kind)
    outputs = _Outputs(args, kind)
    n_frames = failed = 0
    try:
        if kind in ("image", "folder"):
            n_frames, failed = _predict_images(estimator, args.source, kind, outputs)
        else:
            n_frames = _track_video(estimator, args, outputs, kind)
    except KeyboardInterrupt:
        _LOG.warning("interrupted after %d frames", n_frames)
    finally:
        outputs.close()
        estimator.close()
    outputs.print_table(n_frames)
    if failed:
        print(f"{failed} image(s) failed and were skipped (listed on stderr)")
        return EXIT_INPUTS_FAILED
    return EXIT_OK


def _track_video(estimator: PoseEstimator, args: argparse.Namespace, outputs: _Outputs,
                 kind: str) -> int:
    """The tracking path over a video file or camera, with a progress bar showing frames per
    second; returns the number of frames processed (Ctrl-C stops early, keeping the output)."""
    source = int(args.source) if kind == "camera" else args.source
    total = _declared_frames(args.source) if kind == "video" else None
    if args.max_frames:
        total = min(total, args.max_frames) if total else args.max_frames
    label = f"camera {args.source}" if kind == "camera" else Path(args.source).name
    results = estimator.track(source)  # a bad source raises here, before the bar is drawn
    n_frames, end = 0, None
    with tqdm(total=total, desc=label, unit="frame", dynamic_ncols=True) as bar:
        try:
            for result in results:
                outputs.add(Frame(args.source, result.index, result.frame), result.poses)
                n_frames, end = n_frames + 1, result.end
                bar.set_postfix(faces=len(result.poses), skipped=result.skipped_frames,
                                refresh=False)
                bar.update(1)
                if args.max_frames and n_frames >= args.max_frames:
                    break
        except KeyboardInterrupt:
            _LOG.warning("interrupted after %d frames", n_frames)
    if end is not None:  # the whole file was read; an early end was also logged as a warning
        status = "ended early" if end.is_early else "read to the end"
        declared = "?" if end.frames_expected is None else end.frames_expected
        print(f"video {status}: {end.frames_read} of {declared} declared frames decoded")
    return n_frames


def _declared_frames(path: str) -> int | None:
    """The frame count a video file's container declares (None when it declares none)."""
    cap = cv2.VideoCapture(path)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    cap.release()
    return count if count > 0 else None


def _video_fps(source: str, kind: str) -> float:
    if kind != "video":
        return 25.0
    cap = cv2.VideoCapture(source)
    fps = cap.get(cv2.CAP_PROP_FPS) if cap.isOpened() else 0.0
    cap.release()
    return fps if fps > 0 else 25.0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``gldpose predict``; returns the exit status (module docstring)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return _run(args)
    except (GldposeError, ValueError, OSError, cv2.error) as exc:
        print(f"gldpose predict: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
