"""Shared fixtures: a tiny seeded model folder, and the shared real data (skips when absent)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``../shared/data`` beside the checkout, or ``$GLDPOSE_SHARED_DATA``."""
    return Path(os.environ.get("GLDPOSE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder; tests that need it skip with the reason when it is missing."""
    path = shared_data_dir()
    if not (path / "README.md").is_file():
        pytest.skip(f"shared real data not found at {path} (set GLDPOSE_SHARED_DATA)")
    return path


#: Spread (1 standard deviation, degrees) of each tiny-model angle over its calibration images.
TINY_ANGLE_SPREAD_DEG = 35.0
#: Width (degrees) of the Gaussian each tiny-model head puts over the bins.
TINY_HEAD_SIGMA_DEG = 12.0


def _calibration_images(size_px: int, count: int = 32, seed: int = 0) -> np.ndarray:
    """Seeded uint8 RGB images ``[count, S, S, 3]``: uniform noise and smooth fields with ellipses.

    The two kinds cover what the tests feed the tiny model (random crops, face-like drawings).
    """
    import cv2

    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        if i % 2:
            images.append(rng.integers(0, 256, (size_px, size_px, 3), dtype=np.uint8))
            continue
        image = cv2.resize(rng.uniform(0, 255, (4, 4, 3)).astype(np.float32), (size_px, size_px))
        centre = tuple(int(v) for v in rng.uniform(0.3, 0.7, 2) * size_px)
        axes = tuple(int(v) for v in rng.uniform(0.15, 0.4, 2) * size_px)
        cv2.ellipse(image, centre, axes, float(rng.uniform(-45, 45)), 0, 360,
                    tuple(float(v) for v in rng.uniform(0, 255, 3)), -1)
        images.append(np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8))
    return np.stack(images)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded resnet18 PoseNet at 64 px input, saved as safetensors + manifest.

    A randomly initialised head saturates (its softmax sits on one end bin whatever the crop:
    pitch was -97.5 for every crop), so parity would only see the other angles. Each head here
    is instead built to put a Gaussian of :data:`TINY_HEAD_SIGMA_DEG` over the bins, centred on
    its own random linear function of the pooled features, scaled to a spread of
    :data:`TINY_ANGLE_SPREAD_DEG` around 0 on seeded calibration images:
    ``-(c_i - a)^2 / (2 s^2) = c_i a / s^2 - c_i^2 / (2 s^2) + const``, linear in ``a``. A little
    seeded noise on the weights makes the distributions' shapes (and so the std) vary too.
    """
    torch = pytest.importorskip("torch", reason="torch not installed (pip install .[torch])")
    from gldpose_sdk.manifest import BinSpec, InputSpec, Manifest, TrainingInfo
    from gldpose_sdk.model import PoseNet, save_model
    from gldpose_sdk.preprocess import normalise

    torch.manual_seed(0)
    model = PoseNet("resnet18").eval()
    spec, bins = InputSpec(size_px=64), BinSpec()
    x = torch.from_numpy(normalise(_calibration_images(spec.size_px), spec))
    with torch.no_grad():
        feats = model.pooled_features(x).double()
        centres = torch.from_numpy(bins.centres_deg()).double()
        inv_var = 1.0 / TINY_HEAD_SIGMA_DEG ** 2
        gen = torch.Generator().manual_seed(1)
        for head in (model.fc_yaw, model.fc_pitch, model.fc_roll):
            v = torch.randn(feats.shape[1], generator=gen, dtype=torch.float64)
            v *= TINY_ANGLE_SPREAD_DEG / ((feats - feats.mean(0)) @ v).std()
            offset = -float(feats.mean(0) @ v)          # a(f) = v.f + offset, mean 0
            weight = torch.outer(centres, v) * inv_var
            weight += 0.03 * torch.randn(weight.shape, generator=gen, dtype=torch.float64)
            head.weight.copy_(weight.float())
            head.bias.copy_((centres * offset * inv_var - centres ** 2 * inv_var / 2).float())
    out = tmp_path_factory.mktemp("tiny_model")
    manifest = Manifest(backbone="resnet18", input=spec,
                        training=TrainingInfo(dataset="none (random seeded test model)"))
    save_model(out, model, manifest)
    return out


@pytest.fixture()
def rng() -> np.random.Generator:
    """A seeded numpy generator."""
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True, scope="session")
def _private_backend_timing_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep ``backend="auto"``'s timing cache out of the user's home during tests."""
    import os

    os.environ["GLDPOSE_CACHE_DIR"] = str(tmp_path_factory.mktemp("gldpose_cache"))
