"""Option dataclasses: defaults, checks, device strings."""
from __future__ import annotations

import dataclasses

import pytest

from gldpose_sdk.config import BackendOptions, EstimatorConfig, parse_device


@pytest.mark.parametrize("device, parsed", [("auto", ("auto", 0)), ("cpu", ("cpu", 0)),
                                            ("cuda", ("cuda", 0)), ("cuda:1", ("cuda", 1)),
                                            ("gpu:2", ("gpu", 2))])
def test_parse_device(device: str, parsed: tuple[str, int]) -> None:
    assert parse_device(device) == parsed


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "cpu:1", "", "CUDA"])
def test_bad_device(device: str) -> None:
    with pytest.raises(ValueError, match="device must be one of"):
        BackendOptions(device=device)


@pytest.mark.parametrize("field, value, phrase", [("max_batch", 0, "max_batch"),
                                                   ("num_threads", -1, "num_threads"),
                                                   ("openvino_precision", "fp32", "f32")])
def test_backend_options_checks(field: str, value: object, phrase: str) -> None:
    with pytest.raises(ValueError, match=phrase):
        dataclasses.replace(BackendOptions(), **{field: value})


def test_estimator_config_checks() -> None:
    # the plugin's own choice (bf16 on this CPU): chosen by the measured MAE change
    assert EstimatorConfig().backend.openvino_precision == "default"
    with pytest.raises(ValueError, match="max_faces"):
        EstimatorConfig(max_faces=-1)
    with pytest.raises(ValueError, match="min_face_px"):
        EstimatorConfig(min_face_px=-2.0)
