"""`gldpose ablate`: variants of a recipe trained (one after the other or side by side) and
compared on evaluation sets, on a fixture."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

pytest.importorskip("torch", reason="torch not installed")

import gldpose_cli  # noqa: E402
from gldpose_train import TrainError  # noqa: E402
from gldpose_train.ablation import (  # noqa: E402
    DONE_NAME,
    parse_assignments,
    parse_variant,
    run_ablation,
)
from test_recipes import write_aflw_like_crops  # noqa: E402

TINY = "max_steps=2,batch_size=4,input_size_px=32,backbone=mobilenet_v3_small,workers=1"


def test_assignments_nest_dotted_keys_and_parse_json_values() -> None:
    assert parse_assignments("epochs=3,loss.name=hopenet,loss.alpha=1,mix_data=synth:6") == {
        "epochs": 3, "loss": {"name": "hopenet", "alpha": 1}, "mix_data": "synth:6"}
    assert parse_variant("base") == ("base", {})
    assert parse_variant("r:resident_augment.rotate_deg=0.0") == (
        "r", {"resident_augment": {"rotate_deg": 0.0}})
    for bad in ("noequals", "=1"):
        with pytest.raises(TrainError, match="KEY=VALUE"):
            parse_assignments(bad)
    for bad in ("", "a/b:epochs=1"):
        with pytest.raises(TrainError, match="NAME"):
            parse_variant(bad)


@pytest.mark.slow
def test_variants_side_by_side_share_one_render_set_and_are_compared(tmp_path: Path) -> None:
    data = write_aflw_like_crops(tmp_path / "crops")
    out = tmp_path / "ablation"
    argv = ["ablate", "--recipe", "large", "--data", str(data), "--out", str(out),
            "--set", f"{TINY},mix_data=synth:6:3", "--variant", "gld",
            "--variant", "hopenet:loss.name=hopenet,loss.alpha=1",
            "--eval", f"val=crops:{data}:val", "--no-flip", "--parallel", "2"]
    assert gldpose_cli.main(argv) == 0
    renders = out / "renders-uniform-6-seed3"
    assert len((renders / "files.txt").read_text().split()) == 6
    for name, loss in (("gld", "gld"), ("hopenet", "hopenet")):
        assert (out / name / DONE_NAME).is_file()
        config = json.loads((out / name / "config.json").read_text())
        assert config["mix_data"] == str(renders) and config["loss"]["name"] == loss
        assert not list((out / name).glob("renders-*"))       # nobody rendered their own
        assert "validation MAE" in (out / f"{name}.log").read_text()   # its own log
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"gld|val|plain", "hopenet|val|plain"}
    assert all(r["count"] > 0 and r["yaw"] >= 0 for r in results.values())
    assert "| gld | val |" in (out / "results.md").read_text()
    plot = cv2.imread(str(out / "results_yaw_bands.png"))
    assert plot is not None and plot.shape[0] > 100
    # a second run keeps finished variants: nothing is trained again
    stamp = (out / "gld" / DONE_NAME).stat().st_mtime_ns
    assert gldpose_cli.main(argv) == 0
    assert (out / "gld" / DONE_NAME).stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_a_variant_failing_side_by_side_is_named_after_the_others_are_evaluated(
        tmp_path: Path) -> None:
    from gldpose_train.model_eval import parse_eval_set

    data = write_aflw_like_crops(tmp_path / "crops")
    out = tmp_path / "ablation"
    with pytest.raises(TrainError, match=r"variants failed to train: broken \(") as info:
        run_ablation("large", str(data), out,
                     [parse_variant("ok"), parse_variant("broken:backbone=nope")],
                     {**parse_assignments(TINY), "mix_fraction": 0.0},
                     [parse_eval_set(f"val=crops:{data}:val")], flip=False, parallel=2)
    assert "broken.log" in str(info.value)
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"ok|val|plain"}
    assert not (out / "broken" / DONE_NAME).exists()
    assert not list(out.glob("renders-*"))                   # mix_fraction 0: nothing rendered
    assert (out / "results_yaw_bands.png").is_file()
    with pytest.raises(TrainError, match="parallel"):
        run_ablation("large", str(data), out, [parse_variant("ok")], {}, [], parallel=0)


def test_no_band_rows_make_no_plot(tmp_path: Path) -> None:
    from gldpose_train.ablation import plot_yaw_bands_by_variant

    assert plot_yaw_bands_by_variant({}, tmp_path / "p.png") is None
    assert plot_yaw_bands_by_variant({"a|val|flip": {"bands": {"0-30": {"yaw": 1.0}}}},
                                     tmp_path / "p.png") is None
    assert not (tmp_path / "p.png").exists()
