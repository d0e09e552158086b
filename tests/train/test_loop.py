"""Training loop: overfitting a fixed batch, CLI train -> eval -> resume, config round trip."""
from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch", reason="torch not installed")

import gldpose_cli  # noqa: E402
from gldpose_sdk.manifest import BinSpec, read_manifest  # noqa: E402
from gldpose_sdk.model import PoseNet  # noqa: E402
from gldpose_train import TrainError  # noqa: E402
from gldpose_train.config import TrainConfig  # noqa: E402
from gldpose_train.labels import target_expectation_map  # noqa: E402
from gldpose_train.losses import LossConfig, compute_loss  # noqa: E402


@pytest.mark.parametrize("loss", ["gld", "hopenet"])
def test_overfit_one_fixed_batch(loss):
    torch.manual_seed(0)
    model = PoseNet("resnet18")
    images = torch.randn(8, 3, 48, 48)
    angles = torch.empty(8, 3).uniform_(-60, 60)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    cfg = LossConfig(name=loss, alpha=0.01)
    losses = []
    for _ in range(60):
        value, _ = compute_loss(model(images), angles, BinSpec(), cfg)
        opt.zero_grad()
        value.backward()
        opt.step()
        losses.append(value.item())
    assert losses[-1] < losses[0] / 8, (losses[0], losses[-1])


def test_train_eval_resume_through_the_cli(tiny_300wlp, tmp_path):
    run = tmp_path / "run"
    common = ["--dataset", "300wlp", "--data", str(tiny_300wlp), "--out", str(run),
              "--backbone", "resnet18", "--input-size", "48", "--batch-size", "4",
              "--lr", "1e-3", "--workers", "0", "--val-fraction", "0.25", "--seed", "3"]
    assert gldpose_cli.main(["train", *common, "--epochs", "1"]) == 0
    for name in ("model.safetensors", "manifest.json", "checkpoint.pt", "config.json",
                 "history.json", "history.png"):
        assert (run / name).is_file(), name
    assert (run / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = read_manifest(run)
    assert manifest.input.size_px == 48 and manifest.training.loss == "gld"
    # GLD's cut-off target gets its decode map; the trainer's validation used it too
    assert manifest.expectation_map == target_expectation_map(BinSpec(), 4.0)
    assert TrainConfig.from_json((run / "config.json").read_text()).input_size_px == 48

    assert gldpose_cli.main(["train", *common, "--epochs", "2", "--resume"]) == 0
    history = json.loads((run / "history.json").read_text())
    assert history["epochs"] == 2 and history["steps"] == 6   # 12 train samples / 4 per batch x2

    out_json, out_png = tmp_path / "eval.json", tmp_path / "eval.png"
    assert gldpose_cli.main(["eval", "--checkpoint", str(run), "--dataset", "300wlp",
                             "--data", str(tiny_300wlp), "--json", str(out_json),
                             "--plot", str(out_png)]) == 0
    result = json.loads(out_json.read_text())
    assert result["count"] == 16
    assert set(result) >= {"yaw", "pitch", "roll", "mae", "by_yaw_band"}
    assert result["mae"] == pytest.approx((result["yaw"] + result["pitch"] + result["roll"]) / 3)
    assert out_png.read_bytes()[:4] == b"\x89PNG"


def test_max_steps_stops_early_and_bad_resume_is_an_error(tiny_300wlp, tmp_path, capsys):
    from gldpose_train.loop import train

    cfg = TrainConfig(dataset="300wlp", data=str(tiny_300wlp), out_dir=str(tmp_path / "r"),
                      backbone="mobilenet_v3_small", input_size_px=32, batch_size=4, lr=1e-3,
                      workers=0, max_steps=2, epochs=5)
    assert train(cfg)["steps"] == 2
    with pytest.raises(TrainError, match="does not exist"):
        train(TrainConfig(**{**cfg.__dict__, "out_dir": str(tmp_path / "none"), "resume": True}))
    assert gldpose_cli.main(["train", "--dataset", "300wlp", "--data", str(tmp_path / "empty"),
                             "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_lists_train_and_eval(capsys):
    assert gldpose_cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "train" in out and "eval" in out and "export" in out


def test_mixing_a_second_source_at_a_chosen_fraction(tiny_300wlp, make_300wlp, tmp_path):
    from gldpose_train.datasets.mixed import MixedDataset
    from gldpose_train.loop import build_datasets

    renders = make_300wlp(tmp_path / "renders", 8, seed=5)
    cfg = TrainConfig(dataset="300wlp", data=str(tiny_300wlp), out_dir=str(tmp_path / "r"),
                      backbone="resnet18", input_size_px=32, mix_data=str(renders),
                      mix_fraction=0.25, val_fraction=0.25)
    train, val, _ = build_datasets(cfg)
    assert isinstance(train, MixedDataset) and len(val) == 4
    assert len(train) == 16 and list(train.counts) == [12, 4]   # 12 real + 4 renders
    with pytest.raises(ValueError, match="mix_fraction"):
        TrainConfig(dataset="300wlp", data=".", out_dir=".", mix_fraction=1.0)


def test_eval_as_deployed_with_flip_and_std_coverage(tiny_model_dir, tiny_300wlp, tmp_path):
    out_json = tmp_path / "deployed.json"
    assert gldpose_cli.main(["eval", "--checkpoint", str(tiny_model_dir), "--on",
                             f"set=300wlp:{tiny_300wlp}", "--flip", "--json",
                             str(out_json)]) == 0
    results = json.loads(out_json.read_text())
    plain = results[f"{tiny_model_dir.name}|set|plain"]
    flipped = results[f"{tiny_model_dir.name}|set|flip"]
    assert plain["count"] == flipped["count"] == 16
    assert plain["mae"] != flipped["mae"]          # the mirrored pass changes the answers
    assert 0.0 <= plain["raw_std"]["yaw"]["within_1std"] <= 1.0
    assert gldpose_cli.main(["eval", "--checkpoint", str(tiny_model_dir)]) == 2


def test_calibrate_sets_or_drops_the_expectation_map_then_fits_the_std(tiny_model_dir, tmp_path,
                                                                        make_300wlp):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    data = make_300wlp(tmp_path / "held_out", 60, seed=4, size_px=64)
    base = ["calibrate", "--model", str(model), "--on", f"val=300wlp:{data}"]
    assert read_manifest(model).expectation_map is None
    assert gldpose_cli.main([*base, "--expectation-map", "training"]) == 0
    manifest = read_manifest(model)
    assert manifest.training.loss == "gld" and manifest.calibration is not None
    assert manifest.expectation_map == target_expectation_map(manifest.bins, 4.0)
    assert gldpose_cli.main(base) == 0                                 # keep: stays
    assert read_manifest(model).expectation_map == manifest.expectation_map
    assert gldpose_cli.main([*base, "--expectation-map", "none"]) == 0
    assert read_manifest(model).expectation_map is None


@pytest.mark.parametrize("mode, want", [("off", torch.float32), ("bf16", torch.bfloat16),
                                        ("auto", torch.float32)])   # auto: bf16 on CUDA only
def test_autocast_sets_the_training_forward_precision_on_the_cpu(tiny_300wlp, tmp_path, mode,
                                                                 want):
    from gldpose_train.loop import Trainer

    cfg = TrainConfig(dataset="300wlp", data=str(tiny_300wlp), out_dir=str(tmp_path / "r"),
                      backbone="resnet18", input_size_px=32, batch_size=4, lr=1e-3, workers=0,
                      val_fraction=0.25, max_steps=2, epochs=1, autocast=mode)
    trainer = Trainer(cfg)
    seen = []
    trainer.model.fc_yaw.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    summary = trainer.run()
    assert summary["steps"] == 2 and seen[:2] == [want, want]
    losses = [h["loss"] for h in summary["history"] if "loss" in h]
    assert losses and all(map(math.isfinite, losses))
    with pytest.raises(ValueError, match="autocast"):
        TrainConfig(dataset="300wlp", data=".", out_dir=".", autocast="fp8")
