"""Stochastic weight averaging in the one trainer: schedule, the average kept, resume."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch not installed")

from gldpose_sdk.model import load_model  # noqa: E402
from gldpose_train.config import TrainConfig  # noqa: E402
from gldpose_train.loop import Trainer, swa_lr_at, train  # noqa: E402
from gldpose_train.recipes import config_from_recipe  # noqa: E402
from test_recipes import write_aflw_like_crops  # noqa: E402


def _cfg(**fields) -> TrainConfig:
    base = dict(dataset="crops", data="d", out_dir="o", lr=1e-3, schedule="cosine",
                epochs=10, swa_epochs=4, swa_lr=1e-4)
    base.update(fields)
    return TrainConfig(**base)


def test_the_cosine_ends_at_the_swa_rate_which_then_holds() -> None:
    cfg = _cfg()
    total, warmup, swa_steps = 100, 10, 40
    rates = [swa_lr_at(s, total, warmup, cfg, swa_steps) for s in range(total)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)   # warm-up
    cosine = rates[10:60]
    assert all(a >= b for a, b in zip(cosine, cosine[1:]))
    assert cosine[-1] == pytest.approx(1e-4, rel=0.01) and min(cosine) >= 1e-4
    assert rates[60:] == [pytest.approx(1e-4)] * 40
    # all averaging (a fine-tune): warm up to the SWA rate, then hold it
    whole = [swa_lr_at(s, 50, 5, cfg, 50) for s in range(50)]
    assert whole[0] == pytest.approx(2e-5) and whole[4:] == [pytest.approx(1e-4)] * 46
    # off: the plain schedule, decaying to 0
    assert swa_lr_at(99, total, warmup, cfg, 0) < 1e-6


@pytest.mark.parametrize("fields, message", [
    ({"swa_epochs": 11}, "swa_epochs"), ({"swa_lr": 0.0}, "swa_lr"),
    ({"swa_lr": 2e-3}, "swa_lr")])
def test_bad_swa_settings_are_named(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _cfg(**fields)


@pytest.mark.slow
def test_the_kept_model_is_the_mean_of_the_last_epochs_weights(tmp_path: Path,
                                                                monkeypatch) -> None:
    data = write_aflw_like_crops(tmp_path / "crops")
    seen: list[dict] = []
    original = Trainer._average_weights

    def record(self) -> None:
        if self.state.epoch > self.state.planned_epochs - self._swa_epochs():
            seen.append({k: v.detach().clone() for k, v in self.model.state_dict().items()})
        original(self)

    monkeypatch.setattr(Trainer, "_average_weights", record)
    cfg = config_from_recipe("large", data=str(data), out_dir=str(tmp_path / "run"),
                             mix_data="", mix_fraction=0.0, batch_size=4, input_size_px=32,
                             epochs=3, swa_epochs=2, swa_lr=5e-4, save_half=False,
                             backbone="mobilenet_v3_small")
    train(cfg)
    assert len(seen) == 2                            # epochs 2 and 3, not 1
    kept, manifest = load_model(tmp_path / "run")
    assert "last 2 epochs averaged (SWA)" in manifest.training.notes
    state = kept.state_dict()
    weights = [k for k, v in state.items() if v.is_floating_point() and "running" not in k]
    for key in weights:
        torch.testing.assert_close(state[key], (seen[0][key] + seen[1][key]) / 2)
    # batch-norm statistics were re-estimated for the averaged weights, not copied
    running = [k for k in state if k.endswith("running_mean")]
    assert running and any(not torch.allclose(state[k], seen[1][k]) for k in running)


@pytest.mark.slow
def test_a_run_stopped_in_the_averaging_phase_resumes_its_average(tmp_path: Path) -> None:
    data = write_aflw_like_crops(tmp_path / "crops")

    def run(out: Path, steps: int, resume: bool = False) -> None:
        train(config_from_recipe("large", data=str(data), out_dir=str(out), mix_data="",
                                 mix_fraction=0.0, batch_size=4, input_size_px=32, epochs=3,
                                 swa_epochs=2, swa_lr=5e-4, max_steps=steps, resume=resume,
                                 checkpoint_every_steps=1, save_half=False,
                                 backbone="mobilenet_v3_small"))

    run(tmp_path / "whole", 0)
    run(tmp_path / "split", 10)              # 4 batches per epoch: stopped inside epoch 3
    ckpt = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=True)
    assert int(ckpt["swa"]["n_averaged"]) == 1
    run(tmp_path / "split", 0, resume=True)
    whole, _ = load_model(tmp_path / "whole")
    split, _ = load_model(tmp_path / "split")
    for key, value in whole.state_dict().items():
        torch.testing.assert_close(split.state_dict()[key], value, atol=1e-5, rtol=1e-4)
    assert json.loads((tmp_path / "split" / "history.json").read_text())["steps"] == 12
