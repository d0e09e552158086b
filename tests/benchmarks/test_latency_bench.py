"""benchmarks/latency.py --quick on the tiny model: rows, auto rows, stages, targets, peers, JSON."""
from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "latency.py"

pytest.importorskip("torch", reason="torch not installed (the missing ONNX form is exported)")
pytest.importorskip("gldpose_export", reason="gldpose_export not installed")
pytest.importorskip("onnxruntime", reason="onnxruntime not installed")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=900, cwd=REPO, check=False)


def test_quick_run(tiny_model_dir: Path, tmp_path: Path) -> None:
    peers = Path(os.environ.get("GLDPOSE_SHARED_DATA", REPO.parent / "shared" / "data")) / "peers"
    out = tmp_path / "latency.json"
    proc = _run("--model", str(tiny_model_dir), "--quick", "--exporter", "torchscript",
                "--json", str(out), "--peers", str(peers), "--machine-shared", "yes",
                "--variants", "onnxruntime-u8", "onnxruntime-f32", "openvino", "tensorrt",
                "--also", str(tiny_model_dir))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    cells = {(r["variant"], r["batch"]): r for r in report["rows"]}
    ours = {"onnxruntime-u8", "onnxruntime-f32"}
    assert {(v, b) for v in ours for b in (1, 4)} <= set(cells)
    assert cells[("onnxruntime-u8", 1)]["layout"] == "nhwc_uint8_bgr"
    assert cells[("onnxruntime-f32", 1)]["layout"] == "nchw_float"
    assert ("auto", 1) in cells and ("auto", 4) not in cells
    for (variant, batch), row in cells.items():
        assert row["net_ms"] > 0 and row["frame_ms"] > 0 and row["frame_min_ms"] > 0
        if not variant.startswith("peer:"):
            assert row["crops_ms"] > 0
            assert row["frame_over_net"] == pytest.approx(row["frame_ms"] / row["net_ms"])
    skipped = dict(map(tuple, report["skipped"]))
    assert "openvino" in skipped or ("openvino", 1) not in cells  # the tiny model has no IR
    assert "tensorrt" in skipped
    stages = {s["variant"]: s for s in report["stages"]}
    assert ours | {"auto"} <= set(stages)
    assert stages["onnxruntime-u8"]["crop_min_ms"] > 0
    sizes = {"64", "128", "256", "384", "512"}
    assert set(report["crop_min_ms_by_face_px"]) == set(report["crop_opencv_min_ms_by_face_px"])
    assert set(report["crop_min_ms_by_face_px"]) == sizes
    assert all(v > 0 for v in report["crop_opencv_min_ms_by_face_px"].values())
    # the in-sequence timeline: every stage of estimate's path, the pass checked against it
    sequence = {s["variant"]: s for s in report["in_sequence"]}
    assert ours | {"auto"} <= set(sequence)
    for row in sequence.values():
        stages = [row[f"{k}_min_ms"] for k in ("checks", "crop", "layout", "infer", "decode",
                                               "poses")]
        assert all(v > 0 for v in stages)
        assert row["outside_min_ms"] >= sum(stages) - row["infer_min_ms"] - 1e-9
        assert row["total_over_infer_min"] > 1.0
    assert "timed in sequence" in proc.stdout
    assert report["crop"] in ("compiled", "opencv")
    assert report["auto"]["auto"]["timing_source"] in ("measured", "")
    assert "auto" in report["targets"] and "median" in report["targets"]["auto"]
    # paired by round: each round's minima of the two calls, the median of their ratios
    auto = cells[("auto", 1)]
    frame_rounds = auto["timings_ms_per_face"]["frame"]["round_min_ms"]
    net_rounds = auto["timings_ms_per_face"]["net"]["round_min_ms"]
    assert len(frame_rounds) == len(net_rounds) >= 2
    assert auto["frame_over_net_paired"] == pytest.approx(
        statistics.median(f / n for f, n in zip(frame_rounds, net_rounds)))
    paired = report["targets"]["auto"]["paired"]
    assert paired["e2e_over_net"] == auto["frame_over_net_paired"]
    assert paired["met_e2e_over_net"] == (paired["e2e_over_net"] <= 1.15)
    also = f"auto:{tiny_model_dir}"  # --also: another model as an auto row, judged the same way
    assert (also, 1) in cells and also in report["targets"] and also in report["auto"]
    assert f"{also}: PoseEstimator('{tiny_model_dir}') chose" in proc.stdout
    machine = report["machine"]
    assert machine["machine_shared"] is True and machine["cpu"]["logical_cpus"] >= 1
    assert {"numpy", "onnxruntime"} <= set(machine["packages"])
    if (peers / "fsanet").is_dir() and importlib.util.find_spec("openvino"):
        assert {"peer:fsanet x2", "peer:omz-adas-0001"} <= {v for v, _ in cells}
        assert all(b == 1 for v, b in cells if v.startswith("peer:"))
    assert "SHARED with other work" in proc.stdout and "target auto" in proc.stdout
    assert report["settings"]["quick"] and report["input_size_px"] == 64


def test_missing_model_is_exit_2(tmp_path: Path) -> None:
    proc = _run("--model", str(tmp_path), "--quick", "--json", str(tmp_path / "x.json"))
    assert proc.returncode == 2
    assert "not a gldpose model folder" in proc.stderr
