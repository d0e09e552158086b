"""The SDK's built-in sample inputs: a few still frames and a short clip with known poses.

``write_samples(DIR)`` regenerates everything deterministically: ``frame_0N.jpg`` (640x480, JPEG
quality 85; heads at assorted poses on cluttered backgrounds, two frames with two heads),
``clip.avi`` (MJPG, 320x240, 48 frames at 12 fps, one head on a smooth pose trajectory) and
``poses.json`` with, per frame and head, yaw/pitch/roll in degrees (DESIGN 1 convention) and the
tight face box ``[x0, y0, x1, y1]`` in pixels (min/max of the 68 projected landmarks).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np

from gldpose_train import TrainError
from gldpose_train.synth import background
from gldpose_train.synth.render import render_frame
from gldpose_train.synth.scene import HeadLabel, Placement

log = logging.getLogger(__name__)

SEED = 2024
FRAME_SIZE = (640, 480)
CLIP_SIZE = (320, 240)
CLIP_FRAMES, CLIP_FPS = 48, 12

# Per frame: one (yaw, pitch, roll, centre x, centre y, px per cm) per head.
FRAME_HEADS: list[list[tuple[float, ...]]] = [
    [(-35.0, 5.0, 8.0, 190.0, 215.0, 10.5), (40.0, -12.0, -10.0, 460.0, 200.0, 9.0)],
    [(10.0, 25.0, -5.0, 200.0, 185.0, 8.0), (-70.0, -5.0, 15.0, 470.0, 235.0, 11.0)],
    [(0.0, -8.0, 0.0, 320.0, 190.0, 13.0)],
    [(62.0, -20.0, 12.0, 350.0, 205.0, 12.0)],
    [(-15.0, -35.0, -25.0, 300.0, 170.0, 11.5)],
]


def clip_pose(index: int) -> tuple[float, float, float]:
    """Yaw, pitch, roll (degrees) of clip frame ``index``: smooth, periodic over the clip."""
    t = 2 * np.pi * index / CLIP_FRAMES
    return (float(55 * np.sin(t)), float(18 * np.sin(2 * t + 0.5)), float(12 * np.sin(t + 1.2)))


def _head_record(label: HeadLabel) -> dict:
    p = label.placement
    return {"yaw_deg": round(p.yaw_deg, 3), "pitch_deg": round(p.pitch_deg, 3),
            "roll_deg": round(p.roll_deg, 3), "box": [round(v, 2) for v in label.box]}


def _write_jpeg(path: Path, image: np.ndarray, quality: int) -> None:
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise TrainError(f"cannot write {path}")


def _frames(out: Path) -> list[dict]:
    records = []
    for i, heads in enumerate(FRAME_HEADS):
        rng = np.random.default_rng([SEED, i])
        places = [Placement(y, p, r, (cx, cy), s, float(rng.uniform(60, 150)))
                  for y, p, r, cx, cy, s in heads]
        bg = background.make_background(rng, FRAME_SIZE[1], FRAME_SIZE[0])
        background.add_clutter(rng, bg, 18)  # every sample frame is busy behind the heads
        bg = cv2.GaussianBlur(bg, (0, 0), 1.5)
        image, labels = render_frame(rng, FRAME_SIZE[0], FRAME_SIZE[1], places, bg=bg)
        name = f"frame_{i:02d}.jpg"
        _write_jpeg(out / name, image, 85)
        records.append({"file": name, "heads": [_head_record(lab) for lab in labels]})
    return records


def _clip(out: Path) -> dict:
    width, height = CLIP_SIZE
    rng = np.random.default_rng([SEED, 100])
    bg = background.make_background(rng, height, width)
    path = out / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), CLIP_FPS, (width, height))
    if not writer.isOpened():
        raise TrainError(f"OpenCV cannot write MJPG video to {path}")
    frames = []
    try:
        for i in range(CLIP_FRAMES):
            yaw, pitch, roll = clip_pose(i)
            # Same seed every frame: the same person, light and background; a slow drift sideways.
            head_rng = np.random.default_rng([SEED, 101])
            cx = width / 2 + 25 * np.sin(2 * np.pi * i / CLIP_FRAMES + 0.3)
            place = Placement(yaw, pitch, roll, (float(cx), height * 0.4), 6.0, 120.0)
            image, labels = render_frame(head_rng, width, height, [place], effects=False, bg=bg)
            writer.write(image)
            frames.append({"index": i, "heads": [_head_record(labels[0])]})
    finally:
        writer.release()
    return {"file": path.name, "fps": CLIP_FPS, "size": [width, height], "frames": frames}


def write_samples(out_dir: str | Path) -> Path:
    """Render the sample frames, the clip and ``poses.json`` into ``out_dir``; return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "about": "Synthetic heads rendered by gldpose_train.synth.samples"
                 " (gldpose synth --samples)."
                 " Angles in degrees, 300W-LP convention (gldpose_sdk.rotation); box = tight"
                 " min/max of the 68 projected landmarks, pixels.",
        "frames": _frames(out),
        "clip": _clip(out),
    }
    (out / "poses.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    log.info("wrote the samples to %s (%.0f kB)", out, total / 1024)
    return out
