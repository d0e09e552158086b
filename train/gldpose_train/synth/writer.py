"""Write synthetic sets in the 300W-LP on-disk format, in parallel; draw a contact sheet.

Each image is ``NAME.jpg`` plus ``NAME.mat`` holding ``Pose_Para`` (1x7 float64: pitch, yaw, roll
in radians, then tdx, tdy = the image position of the head pivot in pixels (y down), tdz = the
camera distance in cm, and the scale in pixels per cm), ``pt2d`` (2x68 projected landmarks, pixels),
``pt3d_68`` (3x68: pixels and depth in cm), ``visible`` (1x68) and ``roi`` (the tight landmark
box). A ``files.txt`` lists the names, one per line, as Hopenet-style readers expect.
"""
from __future__ import annotations

import logging
import time
import multiprocessing
from pathlib import Path

import cv2
import numpy as np
import scipy.io

from gldpose_train import TrainError
from gldpose_train.synth.render import SynthConfig, render_sample
from gldpose_train.synth.scene import HeadLabel

log = logging.getLogger(__name__)


def pose_para(label: HeadLabel) -> np.ndarray:
    """``Pose_Para`` ``[1, 7]`` float64 of a label (300W-LP layout, angles in radians)."""
    p = label.placement
    return np.array([[np.radians(p.pitch_deg), np.radians(p.yaw_deg), np.radians(p.roll_deg),
                      p.centre_px[0], p.centre_px[1], p.distance_cm, p.scale_px_per_cm]])


def write_sample(out_dir: Path, name: str, image: np.ndarray, label: HeadLabel,
                 jpeg_quality: int = 90) -> None:
    """Write ``NAME.jpg`` and ``NAME.mat`` for one image with one labelled head.

    Raises:
        TrainError: the JPEG could not be encoded or a file could not be written.
    """
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    if not ok:
        raise TrainError(f"OpenCV could not encode {name}.jpg (image shape {image.shape})")
    try:
        (out_dir / f"{name}.jpg").write_bytes(data.tobytes())
        pt3d = np.concatenate([label.landmarks_px.T, label.landmark_depth_cm[None, :]], 0)
        scipy.io.savemat(out_dir / f"{name}.mat", {
            "Pose_Para": pose_para(label), "pt2d": label.landmarks_px.T.astype(np.float64),
            "pt3d_68": pt3d, "visible": label.visible[None, :].astype(np.uint8),
            "roi": np.array([label.box])})
    except OSError as exc:
        raise TrainError(f"cannot write {name} into {out_dir}: {exc}") from exc


def sample_name(index: int) -> str:
    """File stem of image ``index``."""
    return f"synth_{index:07d}"


def _work(job: tuple[SynthConfig, str, int]) -> int:
    config, out_dir, index = job
    image, label, quality = render_sample(config, index)
    write_sample(Path(out_dir), sample_name(index), image, label, quality)
    return index


def generate(config: SynthConfig, out_dir: str | Path, count: int, workers: int = 2,
             start: int = 0) -> float:
    """Render and write images ``start .. start+count-1``; the output does not depend on workers.

    Returns:
        Throughput in images per second (wall clock).

    Raises:
        TrainError: bad count/workers, or the folder cannot be written.
    """
    if count < 1 or workers < 1:
        raise TrainError(f"count and workers must be >= 1, got count={count}, workers={workers}")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainError(f"cannot create output folder {out}: {exc}") from exc
    jobs = [(config, str(out), i) for i in range(start, start + count)]
    began = time.perf_counter()
    if workers == 1:
        for job in jobs:
            _work(job)
    else:
        # 'spawn', not Linux's default fork: forking a process that already runs OpenVINO,
        # ONNX Runtime or PyTorch thread pools can crash the parent or hang the children.
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            chunk = max(1, min(32, count // (4 * workers)))
            for _ in pool.imap_unordered(_work, jobs, chunksize=chunk):
                pass
    elapsed = time.perf_counter() - began
    names = [sample_name(i) for i in range(start, start + count)]
    listing = out / "files.txt"
    previous = listing.read_text().split() if listing.is_file() else []
    listing.write_text("\n".join(sorted(set(previous) | set(names))) + "\n")
    rate = count / max(elapsed, 1e-9)
    log.info("wrote %d images (%s, %d px) to %s: %.1f images/s with %d workers",
             count, config.pose_dist, config.size_px, out, rate, workers)
    return rate


def contact_sheet(path: str | Path, seed: int = 7, tile_px: int = 192, cols: int = 6,
                  rows: int = 6) -> np.ndarray:
    """Render ``rows x cols`` samples spanning the pose range, each captioned with its pose.

    Yaw runs from -90 to 90 along each row; pitch from +50 (up) to -50 (down) down the rows;
    roll alternates. Writes a PNG at ``path`` and returns the sheet (uint8 BGR).
    """
    from gldpose_train.synth.render import image_rng, random_placement, render_frame

    tiles = []
    for r in range(rows):
        for c in range(cols):
            rng = image_rng(seed, r * cols + c)
            yaw = -90 + 180 * c / (cols - 1)
            pitch = 50 - 100 * r / (rows - 1)
            roll = 25.0 * ((r + c) % 3 - 1)
            place = random_placement(rng, tile_px, (yaw, pitch, roll), (0.36, 0.44))
            # No camera noise: it would make the PNG several times larger and hide nothing.
            image, _ = render_frame(rng, tile_px, tile_px, [place], p_occluder=0.1, effects=False)
            white = (255, 255, 255)
            tile = cv2.copyMakeBorder(image, 0, 22, 0, 0, cv2.BORDER_CONSTANT, value=white)
            text = f"y {yaw:+.0f} p {pitch:+.0f} r {roll:+.0f}"
            cv2.putText(tile, text, (6, tile_px + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                        cv2.LINE_AA)
            tiles.append(cv2.copyMakeBorder(tile, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=white))
    sheet = np.vstack([np.hstack(tiles[r * cols:(r + 1) * cols]) for r in range(rows)])
    if not cv2.imwrite(str(path), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise TrainError(f"cannot write the contact sheet to {path}")
    return sheet
