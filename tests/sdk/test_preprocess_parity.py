"""What the estimator feeds a backend equals the training evaluation transform (within 1e-5)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gldpose_sdk import PoseEstimator
from gldpose_sdk.preprocess import to_network_input

pytest.importorskip("torch", reason="torch not installed")
transforms = pytest.importorskip("gldpose_train.transforms",
                                 reason="gldpose_train not importable (install gldpose[train])")


@pytest.fixture()
def spied(tiny_model_dir: Path, spy_on_backend):  # type: ignore[no-untyped-def]
    est = PoseEstimator(tiny_model_dir, backend="pytorch", device="cpu", detector="none")
    yield est, spy_on_backend(est)
    est.close()


def test_frame_with_boxes_matches_eval_transform(spied: tuple[PoseEstimator, object],
                                                 rng: np.random.Generator) -> None:
    est, spy = spied
    frame = rng.integers(0, 256, size=(300, 400, 3), dtype=np.uint8)
    boxes = [(50.5, 40.2, 170.9, 180.0), (300.0, 200.0, 420.0, 330.0), (0.0, 0.0, 30.0, 18.0)]
    est.estimate(frame, boxes=boxes)
    evaluate = transforms.EvalTransform(est.manifest.input, est.manifest.crop)
    expected = np.stack([evaluate(frame, box) for box in boxes])
    (sent,) = spy.batches
    assert sent.shape == (3, 64, 64, 3) and sent.dtype == np.uint8   # BGR crops, as cut
    sent = to_network_input(sent, "nchw_float", est.manifest.input)
    assert sent.shape == expected.shape == (3, 3, 64, 64)
    np.testing.assert_allclose(sent, expected, atol=1e-5, rtol=0)


def test_crops_match_eval_transform_of_whole_image(spied: tuple[PoseEstimator, object],
                                                   crops: list[np.ndarray]) -> None:
    est, spy = spied
    est.estimate_crops(crops)
    evaluate = transforms.EvalTransform(est.manifest.input, transforms.NO_MARGIN)
    expected = np.stack([evaluate(c, transforms.full_box(c)) for c in crops])
    sent = to_network_input(spy.batches[0], "nchw_float", est.manifest.input)
    np.testing.assert_allclose(sent, expected, atol=1e-5, rtol=0)
