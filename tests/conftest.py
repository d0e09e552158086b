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


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded resnet18 PoseNet at 64 px input, saved as safetensors + manifest."""
    torch = pytest.importorskip("torch", reason="torch not installed (pip install .[torch])")
    from gldpose_sdk.manifest import InputSpec, Manifest, TrainingInfo
    from gldpose_sdk.model import PoseNet, save_model

    torch.manual_seed(0)
    model = PoseNet("resnet18").eval()
    # Random init gives near-uniform softmax; widen the heads so angles spread over the range.
    with torch.no_grad():
        for head in (model.fc_yaw, model.fc_pitch, model.fc_roll):
            head.weight.mul_(20.0)
    out = tmp_path_factory.mktemp("tiny_model")
    manifest = Manifest(backbone="resnet18", input=InputSpec(size_px=64),
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
