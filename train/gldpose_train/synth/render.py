"""Whole synthetic images: one head for training sets, several heads for sample frames."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gldpose_train import TrainError
from gldpose_train.synth import background, scene
from gldpose_train.synth.pose import POSE_DISTS, get_pose_dist
from gldpose_train.synth.raster import Canvas

# Frontal brow-to-chin height of the average head (cm): sets the face size in pixels.
FACE_HEIGHT_CM = 13.5


@dataclass(frozen=True)
class SynthConfig:
    """Options of a synthetic set.

    Attributes:
        size_px: side of the square images.
        pose_dist: key of ``POSE_DISTS``.
        seed: base seed; image ``i`` is drawn from ``default_rng([seed, i])``.
        face_frac: range of the frontal face height as a fraction of the image side.
        p_occluder: probability of an object over part of the face.
        jpeg_quality: range of JPEG qualities (inclusive).
    """

    size_px: int = 224
    pose_dist: str = "imbalanced"
    seed: int = 0
    face_frac: tuple[float, float] = (0.3, 0.48)
    p_occluder: float = 0.25
    jpeg_quality: tuple[int, int] = (40, 95)

    def __post_init__(self) -> None:
        if self.size_px < 32:
            raise TrainError(f"image size must be at least 32 px, got {self.size_px}")
        if self.pose_dist not in POSE_DISTS:
            raise TrainError(f"unknown pose distribution {self.pose_dist!r}; "
                             f"choose one of {sorted(POSE_DISTS)}")
        if not 0 < self.face_frac[0] <= self.face_frac[1] <= 1:
            raise TrainError(f"face_frac must satisfy 0 < lo <= hi <= 1, got {self.face_frac}")
        if not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise TrainError(f"jpeg_quality must be within 1..100, got {self.jpeg_quality}")


def image_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of image ``index`` of a set with base ``seed`` (worker-independent)."""
    return np.random.default_rng([int(seed), int(index)])


def random_placement(rng: np.random.Generator, size_px: int, angles_deg: tuple[float, float, float],
                     face_frac: tuple[float, float]) -> scene.Placement:
    """A placement that puts a face of random size near the image centre."""
    scale = rng.uniform(*face_frac) * size_px / FACE_HEIGHT_CM
    # The landmarks span about y = +2.3 .. -11.2 cm around the pivot: centre that span.
    cx = size_px / 2 + rng.uniform(-0.07, 0.07) * size_px
    cy = size_px / 2 - 4.5 * scale + rng.uniform(-0.06, 0.08) * size_px
    yaw, pitch, roll = angles_deg
    return scene.Placement(yaw, pitch, roll, (float(cx), float(cy)), float(scale),
                           float(rng.uniform(35, 200)))


def render_sample(config: SynthConfig, index: int) -> tuple[np.ndarray, scene.HeadLabel, int]:
    """Render image ``index`` of the set described by ``config``.

    Returns:
        uint8 BGR image ``[S, S, 3]``, the head's label, and the JPEG quality to save it with.
    """
    rng = image_rng(config.seed, index)
    angles = get_pose_dist(config.pose_dist)(rng)
    place = random_placement(rng, config.size_px, angles, config.face_frac)
    image, labels = render_frame(rng, config.size_px, config.size_px, [place],
                                 p_occluder=config.p_occluder)
    quality = int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1))
    return image, labels[0], quality


def render_frame(rng: np.random.Generator, width_px: int, height_px: int,
                 placements: list[scene.Placement], p_occluder: float = 0.0,
                 effects: bool = True, bg: np.ndarray | None = None,
                 ) -> tuple[np.ndarray, list[scene.HeadLabel]]:
    """Render heads at the given placements over a random (or given) background.

    Args:
        rng: the random source of everything not fixed by ``placements``.
        width_px, height_px: image size.
        placements: one per head; drawn in this order into one depth buffer.
        p_occluder: probability, per head, of an object over part of its face.
        effects: apply exposure, blur and noise.
        bg: optional float32 BGR background ``[H, W, 3]`` in 0..1.

    Returns:
        uint8 BGR image and one label per head (visibility includes occluders).
    """
    if bg is None:
        bg = background.make_background(rng, height_px, width_px)
    canvas = Canvas.empty(height_px, width_px, bg)
    light = scene.Light.random(rng)
    labels = [scene.render_head(canvas, rng, place, light, mesh_id=i)
              for i, place in enumerate(placements)]
    for label in labels:
        if rng.random() < p_occluder:
            background.add_occluder(rng, canvas, label.box)
    for label in labels:
        scene.update_visibility(canvas, label)
    image = (background.camera_effects(rng, canvas.color) if effects
             else (np.clip(canvas.color, 0, 1) * 255 + 0.5).astype(np.uint8))
    return image, labels
