"""`gldpose eval --against`: two models on the same faces, A - B with paired bootstrap intervals."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="torch not installed")

import gldpose_cli  # noqa: E402
from gldpose_train import TrainError  # noqa: E402
from gldpose_train.model_eval import paired_difference  # noqa: E402


def _faces(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform([-90, -40, -40], [90, 40, 40], (n, 3))


def test_a_constant_gap_is_measured_exactly_in_every_band() -> None:
    true = _faces(200)
    out = paired_difference(true + 1.0, true - 2.5, true, resamples=300)
    assert out["all"]["count"] == 200
    assert out["60-99"]["count"] == int((np.abs(true[:, 0]) >= 60).sum()) > 0
    for band in ("all", "60-99"):
        for angle in ("yaw", "pitch", "roll"):
            r = out[band][angle]
            assert r["diff"] == pytest.approx(-1.5) and r["low"] == pytest.approx(-1.5)
            assert r["high"] == pytest.approx(-1.5)


def test_the_interval_brackets_the_gap_and_excludes_zero_only_when_it_should() -> None:
    rng = np.random.default_rng(3)
    true = _faces(400, seed=1)
    noise = rng.normal(0, 5, true.shape)
    better = true + 0.5 * noise                          # half the error on every face
    same = true + rng.normal(0, 5, true.shape)            # as good, other faces wrong
    clear = paired_difference(better, true + noise, true, resamples=1000)["all"]["yaw"]
    assert clear["high"] < 0 and clear["low"] < clear["diff"] < clear["high"]
    tie = paired_difference(same, true + noise, true, resamples=1000)["all"]["yaw"]
    assert tie["low"] < 0 < tie["high"]
    # resampling is seeded: the same call gives the same interval
    again = paired_difference(same, true + noise, true, resamples=1000)["all"]["yaw"]
    assert again == tie


def test_faces_that_do_not_pair_and_an_empty_band() -> None:
    true = _faces(10)
    with pytest.raises(TrainError, match="same faces"):
        paired_difference(true[:9], true, true)
    calm = true * [0.5, 1, 1]                             # no |yaw| >= 60
    out = paired_difference(calm, calm, calm, resamples=50)
    assert out["60-99"] == {"count": 0}
    assert out["all"]["yaw"]["diff"] == 0.0


def test_cli_pairs_two_models_on_the_same_faces(tiny_model_dir: Path, tiny_300wlp: Path,
                                                tmp_path: Path, capsys) -> None:
    """A model against a copy of itself differs by exactly 0; the table and the JSON say so;
    --against without --on is refused with the reason."""
    twin = tmp_path / "twin"
    shutil.copytree(tiny_model_dir, twin)
    out_json = tmp_path / "paired.json"
    argv = ["eval", "--checkpoint", str(tiny_model_dir), "--against", str(twin), "--on",
            f"set=300wlp:{tiny_300wlp}", "--json", str(out_json)]
    assert gldpose_cli.main(argv) == 0
    paired = json.loads(out_json.read_text())["paired"]
    (key, bands), = paired.items()
    assert key == f"{tiny_model_dir.name} - twin|set" and bands["all"]["count"] == 16
    assert all(bands["all"][a] == {"diff": 0.0, "low": 0.0, "high": 0.0}
               for a in ("yaw", "pitch", "roll"))
    assert "| A - B | set | band |" in capsys.readouterr().out
    assert gldpose_cli.main(["eval", "--checkpoint", str(tiny_model_dir), "--against",
                             str(twin)]) == 2
    assert "--against compares on the --on sets" in capsys.readouterr().err
