"""Image transforms for training and evaluation (OpenCV, numpy).

Evaluation is exactly the SDK's run-time preprocessing (:func:`gldpose_sdk.preprocess.prepare_crop`
then :func:`gldpose_sdk.preprocess.normalise`), so a model scores the same in ``gldpose eval`` as
behind ``PoseEstimator``. Training follows Hopenet's recipe on top of the same crop code: a random
margin k ~ U[0.2, 0.4) for box-based sets, resize the shorter side to ``round(S * 240 / 224)`` and
take a random S x S crop, a horizontal flip (yaw -> -yaw, roll -> -roll), and, each with its own
probability, a Gaussian blur and a colour jitter (brightness, contrast, saturation). Every random
choice is drawn from the ``np.random.Generator`` passed in, so runs are reproducible.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from gldpose_sdk.manifest import NO_MARGIN, CropRule, InputSpec
from gldpose_sdk.preprocess import Box, check_box, check_image, normalise, prepare_crop

__all__ = ["NO_MARGIN", "AugmentConfig", "EvalTransform", "TrainTransform", "full_box", "pad_rule"]


def pad_rule(pad_frac: float) -> CropRule:
    """Crop rule for a whole, already cropped face: ``pad_frac`` of black border on every side."""
    if pad_frac < 0:
        raise ValueError(f"pad_frac must be >= 0, got {pad_frac}")
    return CropRule(left_frac=pad_frac, top_frac=pad_frac, right_frac=pad_frac,
                    bottom_frac=pad_frac)


def full_box(image: np.ndarray) -> Box:
    """The box ``(0, 0, W, H)`` covering a whole image."""
    return 0.0, 0.0, float(image.shape[1]), float(image.shape[0])


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation: probabilities and ranges (defaults follow Hopenet's training)."""

    margin_k_range: tuple[float, float] = (0.2, 0.4)   # Hopenet margin k ~ U[lo, hi), box sets only
    resize_ratio: float = 240.0 / 224.0                 # short side -> round(S * ratio), crop S
    flip_prob: float = 0.5                              # horizontal flip; negates yaw and roll
    blur_prob: float = 0.05                             # Gaussian blur
    blur_sigma_px: tuple[float, float] = (0.5, 1.5)     # blur sigma range, pixels of the S x S crop
    jitter_prob: float = 0.5                            # colour jitter (all three factors together)
    brightness: float = 0.2                             # gain drawn from [1 - b, 1 + b]
    contrast: float = 0.2                               # blend with the mean grey, [1 - c, 1 + c]
    saturation: float = 0.2                             # blend with the grey image, [1 - s, 1 + s]

    def __post_init__(self) -> None:
        lo, hi = self.margin_k_range
        if not 0 <= lo <= hi:
            raise ValueError(f"margin_k_range needs 0 <= lo <= hi, got {self.margin_k_range}")
        if self.resize_ratio < 1:
            raise ValueError(f"resize_ratio must be >= 1, got {self.resize_ratio}")
        for name in ("flip_prob", "blur_prob", "jitter_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("brightness", "contrast", "saturation"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0 < self.blur_sigma_px[0] <= self.blur_sigma_px[1]:
            raise ValueError(f"blur_sigma_px must be 0 < lo <= hi, got {self.blur_sigma_px}")


class EvalTransform:
    """Evaluation: ``prepare_crop`` + ``normalise`` from the SDK, nothing else."""

    def __init__(self, spec: InputSpec, crop: CropRule) -> None:
        self.spec = spec
        self.crop = crop

    def __call__(self, image_bgr: np.ndarray, box: Box) -> np.ndarray:
        """BGR uint8 ``[H, W, 3]`` + face box -> normalised float32 ``[3, S, S]``."""
        crop = prepare_crop(image_bgr, box, self.crop, self.spec.size_px, self.spec.resize)
        return normalise(crop[None], self.spec)[0]


class TrainTransform:
    """Training augmentation; see the module docstring for the steps and their order.

    Args:
        spec: the network input (size and normalisation).
        crop: the crop rule used when ``random_margin`` is False (whole-image sets: the padding).
        augment: probabilities and ranges.
        random_margin: draw Hopenet's margin k per sample (box-based sets) instead of ``crop``.
    """

    def __init__(self, spec: InputSpec, crop: CropRule, augment: AugmentConfig, *,
                 random_margin: bool) -> None:
        self.spec = spec
        self.crop = crop
        self.augment = augment
        self.random_margin = random_margin

    def crop_rule(self, rng: np.random.Generator) -> CropRule:
        """The crop rule for one sample: Hopenet's with a random k, or the fixed one."""
        if not self.random_margin:
            return self.crop
        lo, hi = self.augment.margin_k_range
        return CropRule.hopenet(float(rng.uniform(lo, hi)))

    def __call__(self, image_bgr: np.ndarray, box: Box, angles_deg: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Augment one sample.

        Args:
            image_bgr: uint8 ``[H, W, 3]`` BGR frame.
            box: face box ``(x0, y0, x1, y1)`` in pixels.
            angles_deg: ``[3]`` yaw, pitch, roll in degrees.
            rng: the generator every random choice is drawn from.

        Returns:
            Normalised float32 ``[3, S, S]`` and float64 ``[3]`` angles (sign-flipped if mirrored).
        """
        aug = self.augment
        image = check_image(image_bgr)
        region = cut_box(image, self.crop_rule(rng).expand(check_box(box)))
        resize_px = int(round(self.spec.size_px * aug.resize_ratio))
        patch = random_resized_crop(region, self.spec.size_px, resize_px, rng)
        angles = np.asarray(angles_deg, dtype=np.float64).copy()
        if rng.random() < aug.flip_prob:
            patch, angles = flip_pose(patch, angles)
        if rng.random() < aug.blur_prob:
            patch = gaussian_blur(patch, float(rng.uniform(*aug.blur_sigma_px)))
        if rng.random() < aug.jitter_prob:
            patch = colour_jitter(patch, rng, aug)
        rgb = cv2.cvtColor(patch, cv2.COLOR_BGR2RGB)
        return normalise(rgb[None], self.spec)[0], angles


def cut_box(image: np.ndarray, box: Box) -> np.ndarray:
    """Cut ``box`` (pixels, rounded) out of ``image`` as a copy; parts outside are black.

    Training augmentation only (it needs the whole region for a random crop); run-time crops go
    through :func:`gldpose_sdk.preprocess.crop_bgr`, whose cost is bounded by the output size.
    """
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    h, w = image.shape[:2]
    out = np.zeros((y1 - y0, x1 - x0, image.shape[2]), dtype=image.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


def random_resized_crop(region: np.ndarray, size_px: int, resize_px: int,
                        rng: np.random.Generator) -> np.ndarray:
    """Resize the shorter side of ``region`` to ``resize_px``, then cut a random ``size_px`` square.

    Args:
        region: uint8 ``[h, w, 3]``.
        size_px: output side S.
        resize_px: shorter side after resizing (>= S).

    Returns:
        uint8 ``[S, S, 3]``.
    """
    h, w = region.shape[:2]
    scale = resize_px / min(h, w)
    new_w, new_h = max(resize_px, int(round(w * scale))), max(resize_px, int(round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(region, (new_w, new_h), interpolation=interp)
    top = int(rng.integers(0, new_h - size_px + 1))
    left = int(rng.integers(0, new_w - size_px + 1))
    return np.ascontiguousarray(resized[top:top + size_px, left:left + size_px])


def flip_pose(image: np.ndarray, angles_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror an image left-right; the pose becomes (-yaw, pitch, -roll)."""
    flipped = np.ascontiguousarray(image[:, ::-1])
    return flipped, np.asarray(angles_deg, dtype=np.float64) * np.array([-1.0, 1.0, -1.0])


def gaussian_blur(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma_px`` (kernel sized by OpenCV)."""
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma_px, sigmaY=sigma_px)


def colour_jitter(image_bgr: np.ndarray, rng: np.random.Generator,
                  aug: AugmentConfig) -> np.ndarray:
    """Random brightness, contrast and saturation (torchvision's definitions), uint8 in and out."""
    img = image_bgr.astype(np.float32)
    img *= rng.uniform(1 - aug.brightness, 1 + aug.brightness)
    grey = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY)
    c = rng.uniform(1 - aug.contrast, 1 + aug.contrast)
    img = img * c + float(grey.mean()) * (1 - c)
    grey = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY)
    s = rng.uniform(1 - aug.saturation, 1 + aug.saturation)
    img = img * s + grey.astype(np.float32)[..., None] * (1 - s)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)
