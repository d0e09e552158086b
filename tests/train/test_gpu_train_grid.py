"""scripts/gpu_train_grid.sh, run on the CPU (``GRID_DEVICE=cpu``) on a fixture: the same
script a lent GPU runs, so a broken grid is found here and not after a device call."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="torch not installed")

from test_recipes import write_aflw_like_crops  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gpu_train_grid.sh"


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, GRID_DEVICE="cpu", GRID_RENDERS="6", PYTHON=sys.executable)
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_grid_trains_each_variant_with_the_renders_and_sums_up(tmp_path: Path) -> None:
    data = write_aflw_like_crops(tmp_path / "crops")
    grid = tmp_path / "grid.txt"
    grid.write_text("# comment lines and blank lines are skipped\n\n"
                    "with_renders  --max-steps 2 --epochs 1 --mix-data RENDERS "
                    "--batch-size 4 --input-size 32\n"
                    "no_renders    --max-steps 1 --epochs 1 --mix-fraction 0 --loss hopenet "
                    "--alpha 1 --batch-size 4 --input-size 32\n")
    out = tmp_path / "runs"
    done = _run(["--data", str(data), "--out", str(out), "--budget-s", "60", str(grid)],
                tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    renders = out / "renders-uniform-6-seed21"
    assert len((renders / "files.txt").read_text().split()) == 6
    summary = json.loads((out / "grid_summary.json").read_text())
    assert set(summary) == {"with_renders", "no_renders"}
    for name in summary:
        assert summary[name]["val"]["count"] > 0 and summary[name]["val"]["yaw"] >= 0
    with_r = json.loads((out / "with_renders" / "config.json").read_text())
    without = json.loads((out / "no_renders" / "config.json").read_text())
    assert with_r["mix_data"] == str(renders) and with_r["time_budget_s"] == 60
    assert without["mix_fraction"] == 0 and without["loss"]["name"] == "hopenet"
    assert (out / "with_renders.log").is_file() and (out / "smoke.log").is_file()


def test_a_broken_setup_stops_at_the_smoke_run(tmp_path: Path) -> None:
    grid = tmp_path / "grid.txt"
    grid.write_text("never_started --epochs 1\n")
    done = _run(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "runs"),
                 "--budget-s", "10", str(grid)], tmp_path)
    assert done.returncode == 1
    assert "smoke run failed" in done.stdout
    assert not (tmp_path / "runs" / "never_started").exists()


@pytest.mark.parametrize("args", [[], ["--budget-s", "ten", "g"], ["--bogus", "1", "g"]])
def test_bad_usage_is_refused(tmp_path: Path, args: list[str]) -> None:
    done = _run(args, tmp_path)
    assert done.returncode == 2
    assert "gpu_train_grid.sh" in done.stderr


@pytest.mark.slow
def test_a_failing_variant_is_named_and_fails_the_grid(tmp_path: Path) -> None:
    data = write_aflw_like_crops(tmp_path / "crops")
    grid = tmp_path / "grid.txt"
    grid.write_text("bad_backbone --backbone nope --max-steps 1\n")
    done = _run(["--data", str(data), "--out", str(tmp_path / "runs"), "--budget-s", "10",
                 str(grid)], tmp_path)
    assert done.returncode == 1
    assert "FAILED bad_backbone" in done.stdout and "nope" in done.stdout
    summary = json.loads((tmp_path / "runs" / "grid_summary.json").read_text())
    assert summary == {"bad_backbone": {"error": "no history.json"}}
