"""Recipes are saved presets of the one trainer; the default recipe trains on a fixture."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch", reason="torch not installed")

import gldpose_cli  # noqa: E402
from gldpose_sdk.manifest import CropRule, read_manifest  # noqa: E402
from gldpose_train import TrainError  # noqa: E402
from gldpose_train.config import TrainConfig  # noqa: E402
from gldpose_train.recipes import config_from_recipe, recipe_names  # noqa: E402

HEADER = ["name", "yaw_annotated", "yaw_teacher", "pitch_teacher", "roll_teacher", "split"]


def write_aflw_like_crops(root: Path, count: int = 24, seed: int = 0) -> Path:
    """Crops in the shared AFLW package's layout: labels.csv + images/, a train/val split."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    with open(root / "labels.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(count):
            yaw, pitch, roll = rng.uniform([-80, -30, -30], [80, 30, 30])
            img = np.full((40, 40, 3), int(128 + yaw), np.uint8)
            img[10:30, 12:28] = rng.integers(0, 255, 3)
            cv2.imwrite(str(root / "images" / f"c{i:03d}.jpg"), img)
            writer.writerow([f"c{i:03d}.jpg", f"{yaw:.2f}", f"{yaw + 2:.2f}", f"{pitch:.2f}",
                             f"{roll:.2f}", "val" if i % 4 == 0 else "train"])
    return root


def test_built_in_recipes_are_valid_configs(tmp_path: Path) -> None:
    assert {"default", "large", "paper"} <= set(recipe_names())
    for name in recipe_names():
        cfg = config_from_recipe(name, data="d", out_dir=str(tmp_path))
        assert isinstance(cfg, TrainConfig) and cfg.recipe == name
    large = config_from_recipe("large", data="d", out_dir="o")
    assert (large.backbone, large.input_size_px, large.resident) == (
        "mobilenet_v3_large", 96, True)
    assert large.label_columns == ("yaw_annotated", "pitch_teacher", "roll_teacher")
    assert not large.distill_from and large.yaw_balance == 0

    def differs(recipe: TrainConfig) -> set[str]:
        return {f for f in TrainConfig.__dataclass_fields__
                if getattr(recipe, f) != getattr(large, f)}

    # the shipped default: the large recipe at width 0.75, taught by the built-in large model,
    # large poses drawn more often
    default = config_from_recipe("default", data="d", out_dir="o")
    assert differs(default) == {"backbone", "distill_from", "distill_weight", "yaw_balance",
                                "recipe"}
    assert (default.backbone, default.distill_from, default.distill_weight,
            default.yaw_balance) == ("mobilenet_v3_large_075", ("large",), 3.0, 0.5)
    # round 6's light run: the large recipe's augmentation without rotation, 40 epochs, best kept
    light = config_from_recipe("light", data="d", out_dir="o")
    assert differs(light) == {"resident_augment", "epochs", "keep", "recipe"}
    assert light.resident_augment.zoom_range == large.resident_augment.zoom_range == (0.95, 1.05)
    assert light.resident_augment.rotate_deg == 0.0 < large.resident_augment.rotate_deg
    assert (large.keep, light.keep) == ("last", "best")
    # round 2's default (rounds 2-6 shipped it): the heavier augmentation, rotation kept
    round2 = config_from_recipe("round2", data="d", out_dir="o")
    assert differs(round2) == {"resident_augment", "epochs", "keep", "recipe"}
    assert round2.resident_augment.zoom_range == (0.85, 1.15)
    assert round2.resident_augment.rotate_deg == large.resident_augment.rotate_deg == 20.0
    paper = config_from_recipe("paper", data="d", out_dir="o")
    assert (paper.lr, paper.loss.alpha, paper.optimizer) == (1e-6, 0.01, "adam")
    # the default's ResNet50 teacher: the large recipe on resnet50 at 128 px in bf16, 8 epochs
    resnet50 = config_from_recipe("resnet50", data="d", out_dir="o")
    assert differs(resnet50) == {"backbone", "input_size_px", "autocast", "epochs",
                                 "warmup_epochs", "checkpoint_every_steps", "recipe"}
    assert (resnet50.backbone, resnet50.input_size_px, resnet50.autocast) == (
        "resnet50", 128, "bf16")
    # the fine-tune that made session 20's default: the default recipe, short and gentle
    finetune = config_from_recipe("finetune", data="d", out_dir="o")
    assert {f for f in TrainConfig.__dataclass_fields__
            if getattr(finetune, f) != getattr(default, f)} == {
        "epochs", "lr", "warmup_epochs", "ema_decay", "checkpoint_every_steps", "recipe"}
    assert (finetune.epochs, finetune.lr, finetune.warmup_epochs, finetune.ema_decay) == (
        4, 3e-4, 0.2, 0.995)
    assert finetune.lr < default.lr and finetune.keep == "last"


def test_overrides_merge_nested_fields_and_unknown_recipes_fail() -> None:
    cfg = config_from_recipe("default", data="d", out_dir="o", loss={"name": "hopenet"},
                             resident_augment={"rotate_deg": 0.0})
    assert cfg.loss.name == "hopenet" and cfg.loss.sigma_bins == 4.0   # kept from the recipe
    assert cfg.resident_augment.rotate_deg == 0.0
    assert cfg.resident_augment.rotate_prob == 0.5
    with pytest.raises(TrainError, match="unknown recipe 'nope'"):
        config_from_recipe("nope", data="d", out_dir="o")
    with pytest.raises(TrainError, match="unknown training option"):
        config_from_recipe("default", data="d", out_dir="o", colour="red")


@pytest.mark.slow
def test_default_recipe_trains_a_few_steps_and_records_itself(tmp_path: Path) -> None:
    """`gldpose train --recipe default` on a tiny fixture: renders mixed in, resident feed,
    rotation, EMA, mid-epoch checkpoint; the manifest names the recipe and the crop rule."""
    data = write_aflw_like_crops(tmp_path / "crops")
    out = tmp_path / "run"
    common = ["train", "--recipe", "default", "--data", str(data), "--out", str(out),
              "--mix-data", "synth:6:3", "--batch-size", "4", "--input-size", "32",
              "--workers", "1", "--checkpoint-every-steps", "2"]
    assert gldpose_cli.main([*common, "--max-steps", "3"]) == 0
    manifest = read_manifest(out)
    assert manifest.training.recipe == "default" and manifest.input.size_px == 32
    assert manifest.backbone == "mobilenet_v3_large_075"
    assert "distilled from large (weights sha256 " in manifest.training.notes
    assert manifest.crop == CropRule(0.2071, 0.2071, 0.2071, 0.2071, True)
    assert (out / "renders-uniform-6-seed3" / "files.txt").is_file()
    config = TrainConfig.from_json((out / "config.json").read_text())
    assert config.resident and config.ema_decay > 0 and config.mix_fraction == 0.2
    history = json.loads((out / "history.json").read_text())
    assert history["steps"] == 3
    # resume continues at the same batch: 2 more steps reach step 5
    assert gldpose_cli.main([*common, "--max-steps", "5", "--resume"]) == 0
    assert json.loads((out / "history.json").read_text())["steps"] == 5


@pytest.mark.slow
def test_finetune_recipe_continues_from_the_given_model_taught_by_the_given_teachers(
        tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture) -> None:
    """`gldpose train --recipe finetune --init-from RUN --distill-from ...` (how session 20's
    default was made): the run starts from RUN's weights, not from a fresh network, its teachers
    are the ones named, and a network of another architecture is refused as a start."""
    import torch
    from gldpose_sdk.model import PoseNet, load_model

    data = write_aflw_like_crops(tmp_path / "crops")
    out = tmp_path / "ft"
    args = ["train", "--recipe", "finetune", "--data", str(data), "--out", str(out),
            "--init-from", str(tiny_model_dir), "--distill-from", str(tiny_model_dir),
            "--backbone", "resnet18", "--input-size", "64", "--mix-data", "",
            "--batch-size", "4", "--workers", "1", "--max-steps", "2"]
    assert gldpose_cli.main(args) == 0
    manifest = read_manifest(out)
    assert manifest.training.recipe == "finetune"
    assert f"distilled from {tiny_model_dir} " in manifest.training.notes
    assert "distilled from large " not in manifest.training.notes
    start, tuned = load_model(tiny_model_dir)[0].state_dict(), load_model(out)[0].state_dict()
    torch.manual_seed(123)
    fresh = PoseNet("resnet18").state_dict()
    key = "layer1.0.conv1.weight"

    def gap(a: dict, b: dict) -> float:
        return float((a[key].float() - b[key].float()).norm() / b[key].float().norm())

    assert gap(tuned, start) < 0.05 < gap(fresh, start)   # two gentle steps from the start
    other = [a if a != "resnet18" else "mobilenet_v3_small" for a in args]
    other[other.index(str(out))] = str(tmp_path / "other")
    assert gldpose_cli.main(other) == 2
    assert "is a resnet18, not a mobilenet_v3_small" in capsys.readouterr().err


def test_a_zero_mix_fraction_renders_nothing(tmp_path: Path) -> None:
    """The default recipe's ``synth:8000`` with ``mix_fraction`` 0 (the renders switched off)
    resolves to no source and writes no renders; with a share it names the run's render folder."""
    from gldpose_train.mix_source import resolve_mix_data

    off = config_from_recipe("default", data="d", out_dir=str(tmp_path), mix_fraction=0.0)
    assert off.mix_data.startswith("synth:")
    assert resolve_mix_data(off) == ""
    assert list(tmp_path.iterdir()) == []
    folder = tmp_path / "renders"
    folder.mkdir()
    on = config_from_recipe("default", data="d", out_dir=str(tmp_path), mix_data=str(folder))
    assert on.mix_fraction > 0 and resolve_mix_data(on) == str(folder)


@pytest.mark.slow
def test_mid_epoch_resume_sees_the_same_batches_as_an_unbroken_run(tmp_path: Path) -> None:
    from gldpose_train.loop import train

    data = write_aflw_like_crops(tmp_path / "crops")

    def cfg(out: Path, steps: int, resume: bool = False) -> TrainConfig:
        return config_from_recipe("default", data=str(data), out_dir=str(out), mix_data="",
                                  mix_fraction=0.0, batch_size=4, input_size_px=32,
                                  max_steps=steps, checkpoint_every_steps=1, resume=resume,
                                  epochs=3, backbone="mobilenet_v3_small")
    train(cfg(tmp_path / "whole", 6))
    train(cfg(tmp_path / "split", 2))
    train(cfg(tmp_path / "split", 6, resume=True))
    import torch

    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)


@pytest.mark.slow
@pytest.mark.parametrize("keep", ["best", "last"])
def test_keep_saves_the_best_or_the_last_validated_weights(tmp_path: Path, keep: str) -> None:
    """``keep="best"`` leaves the lowest validation MAE in the run folder, ``keep="last"`` the
    final weights (the shipped recipe's rule); the manifest's notes name the step saved."""
    from gldpose_train.loop import train

    data = write_aflw_like_crops(tmp_path / "crops")
    cfg = config_from_recipe("large", data=str(data), out_dir=str(tmp_path / keep),
                             mix_data="", mix_fraction=0.0, batch_size=4, input_size_px=32,
                             epochs=5, lr=0.05, warmup_epochs=0.0, ema_decay=0.0,
                             backbone="mobilenet_v3_small", keep=keep)
    train(cfg)
    history = [h for h in json.loads((tmp_path / keep / "history.json").read_text())["history"]
               if "val" in h]
    steps = [h["step"] for h in history]
    best = min(history, key=lambda h: h["val"]["mae"])["step"]
    assert best != steps[-1], "fixture run must end off its best epoch for this test to mean much"
    saved = read_manifest(tmp_path / keep).training.notes
    assert saved.startswith(f"step {best if keep == 'best' else steps[-1]},")


def test_distillation_from_a_teacher_folder_adds_its_term(tmp_path: Path,
                                                          tiny_model_dir: Path) -> None:
    """A teacher's soft labels enter the loss (`distill` part logged) and training runs."""
    from gldpose_train.loop import Trainer, distill_loss

    import torch

    teacher_manifest = read_manifest(tiny_model_dir)
    data = write_aflw_like_crops(tmp_path / "crops")
    cfg = config_from_recipe(
        "large", data=str(data), out_dir=str(tmp_path / "run"), mix_data="", mix_fraction=0.0,
        batch_size=4, input_size_px=teacher_manifest.input.size_px, max_steps=2,
        backbone="mobilenet_v3_small", distill_from=(str(tiny_model_dir),), distill_weight=0.5,
        log_every_steps=1)
    trainer = Trainer(cfg)
    trainer.run()
    steps = [h for h in trainer.history if "distill" in h]
    assert len(steps) == 2 and all(h["distill"] > 0 for h in steps)
    # the saved model names its teacher and the teacher's weights
    digest = teacher_manifest.find("safetensors").files[0].sha256
    assert (f"distilled from {tiny_model_dir} (weights sha256 {digest[:16]}) at weight 0.5"
            in read_manifest(tmp_path / "run").training.notes)
    # the KL is zero exactly when student and teacher agree, positive otherwise
    logits = torch.randn(3, 3, 66)
    assert float(distill_loss(logits, torch.softmax(logits, -1))) == pytest.approx(0, abs=1e-5)
    assert float(distill_loss(logits, torch.softmax(torch.randn(3, 3, 66), -1))) > 0.1


def test_each_teacher_sees_the_batch_at_its_own_input_size(tmp_path: Path,
                                                           tiny_model_dir: Path) -> None:
    """A 64 px teacher of a 48 px student gets the student's batch resized to 64 px, and its
    soft labels are those of the resized batch."""
    from gldpose_train.loop import Trainer

    import torch
    import torch.nn.functional as F

    assert read_manifest(tiny_model_dir).input.size_px == 64
    data = write_aflw_like_crops(tmp_path / "crops")
    cfg = config_from_recipe(
        "large", data=str(data), out_dir=str(tmp_path / "run"), mix_data="", mix_fraction=0.0,
        batch_size=4, input_size_px=48, max_steps=1, backbone="mobilenet_v3_small",
        distill_from=(str(tiny_model_dir),), distill_weight=0.5, log_every_steps=1)
    trainer = Trainer(cfg)
    assert trainer.teacher_sizes == [64]
    seen = []
    trainer.teachers[0].register_forward_pre_hook(lambda _m, args: seen.append(args[0].shape))
    trainer.run()
    assert seen and all(tuple(shape[-2:]) == (64, 64) for shape in seen)
    batch = torch.rand(2, 3, 48, 48)
    want = torch.softmax(trainer.teachers[0](F.interpolate(
        batch, size=(64, 64), mode="bilinear", align_corners=False)).float(), -1)
    assert torch.allclose(trainer._teacher_probs(batch), want, atol=1e-6)
    assert not torch.allclose(trainer._teacher_probs(batch),
                              torch.softmax(trainer.teachers[0](batch).float(), -1), atol=1e-3)


def test_a_built_in_teacher_is_named_and_a_teacher_with_other_bins_is_refused(
        tmp_path: Path) -> None:
    """``distill_from`` takes a built-in model's name (the default recipe's teacher is one), and
    a teacher whose bins differ from the student's is refused before any step, not misread."""
    from gldpose_sdk.builtin_models import builtin_model_dir
    from gldpose_sdk.manifest import BinSpec, Manifest
    from gldpose_sdk.model import PoseNet, save_model
    from gldpose_train.loop import Trainer

    data = write_aflw_like_crops(tmp_path / "crops")
    common = dict(data=str(data), mix_data="", mix_fraction=0.0, batch_size=4, input_size_px=32,
                  max_steps=1, backbone="mobilenet_v3_small", distill_weight=1.0)
    trainer = Trainer(config_from_recipe("large", out_dir=str(tmp_path / "fast"),
                                         distill_from=("fast",), **common))
    fast = read_manifest(builtin_model_dir("fast")).find("safetensors").files[0].sha256
    assert trainer.teacher_notes == [f"fast (weights sha256 {fast[:16]})"]
    # the default recipe with its teacher's weight set to 0 does not load (or run) the teacher
    plain = Trainer(config_from_recipe("default", out_dir=str(tmp_path / "plain"),
                                       **{**common, "distill_weight": 0.0}))
    assert plain.teachers == [] and plain.cfg.distill_from == ("large",)
    other = tmp_path / "other-bins"
    save_model(other, PoseNet("mobilenet_v3_small", 33),
               Manifest(backbone="mobilenet_v3_small", bins=BinSpec(count=33, width_deg=6.0,
                                                                    offset_deg=-96.0)))
    with pytest.raises(TrainError, match="teacher .*other-bins: its bins"):
        Trainer(config_from_recipe("large", out_dir=str(tmp_path / "other"),
                                   distill_from=(str(other),), **common))
