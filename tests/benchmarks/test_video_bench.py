"""benchmarks/video.py --quick: rendered clips, both modes, stages, speed-up and MAE columns."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
pytest.importorskip("gldpose_train.synth.render", reason="gldpose_train not installed (renders "
                    "the clips)")
pytest.importorskip("tqdm", reason="tqdm not installed")


@pytest.fixture(scope="module")
def video() -> ModuleType:
    name = "gldpose_benchmarks_video"
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "video.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    yield module
    sys.modules.pop(name, None)


def test_quick_run(video: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
    out = tmp_path / "video.json"
    code = video.main(["--quick", "--backend", "onnxruntime", "--clips", str(tmp_path / "clips"),
                       "--json", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    rows = {(r["faces"], r["mode"]): r for r in report["rows"]}
    assert set(rows) == {(n, m) for n in (1, 3) for m in ("per-frame", "tracking")}
    for (faces, mode), row in rows.items():
        assert row["size"] == "320x240" and row["frames"] == 12 and row["fps"] > 0
        assert all(row[f"{s}_ms"] >= 0 for s in video.STAGES) and row["pose_ms"] > 0
        if mode == "per-frame":
            assert row["detect_frames"] == 12 and row["refine_ms"] == 0
            assert row["speedup_vs_per_frame"] is None
        else:
            assert row["detect_frames"] < 12 and row["refine_ms"] > 0
            assert row["speedup_vs_per_frame"] > 0 and row["mae_vs_per_frame_deg"] is not None
    assert rows[(1, "tracking")]["found_frac"] >= 0.9
    assert (tmp_path / "clips" / "heads1_320x240_12f.avi").is_file()
    truth = json.loads((tmp_path / "clips" / "heads3_320x240_12f.json").read_text())
    assert len(truth["frames"]) == 12 and len(truth["frames"][0]) == 3
    table = capsys.readouterr().out
    assert "per-frame" in table and "tracking" in table and "x pf" in table
    assert report["settings"]["quick"] and report["detector"] == "mtcnn"


def test_missing_model_is_exit_2(video: ModuleType, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert video.main(["--quick", "--model", str(tmp_path), "--json",
                       str(tmp_path / "x.json")]) == 2
    assert "video: error" in capsys.readouterr().err
