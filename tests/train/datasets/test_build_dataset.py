"""The DATASETS registry and build_dataset."""
from __future__ import annotations

import importlib

import pytest

from gldpose_train import TrainError
from gldpose_train.datasets import DATASETS, DatasetOptions, build_dataset, dataset_class


def test_registry_sorted_and_resolvable() -> None:
    assert list(DATASETS) == sorted(DATASETS)
    for name in DATASETS:
        cls = dataset_class(name)
        assert hasattr(cls, "angles_deg") and hasattr(cls, "names"), name
        module, _ = DATASETS[name].split(":")
        assert importlib.import_module(module).__doc__, name


def test_unknown_name_lists_valid_names(tmp_path) -> None:
    with pytest.raises(TrainError, match=r"unknown dataset 'lfw'.*300wlp.*synthetic"):
        build_dataset("lfw", tmp_path)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_missing_folder_names_it(name: str, tmp_path) -> None:
    missing = tmp_path / "no_such_folder"
    with pytest.raises(TrainError, match="no_such_folder"):
        build_dataset(name, missing)


@pytest.mark.parametrize("kwargs,match", [({"max_samples": 0}, "max_samples"),
                                          ({"pad_frac": -0.1}, "pad_frac"),
                                          ({"label_columns": ("yaw", "pitch")}, "label_columns"),
                                          ({"range_deg": (10.0, -10.0)}, "range_deg")])
def test_options_validate(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DatasetOptions(**kwargs)
