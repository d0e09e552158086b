"""Smoke run of benchmarks/decode.py --quick: the table, the JSON, and agreement with numpy."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_decode_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "decode.json"
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks/decode.py"), "--quick", "--json", str(out),
         "--machine-shared", "no"],
        capture_output=True, text=True, timeout=300, check=True)
    data = json.loads(out.read_text())
    rows = data["results"]
    impls = {r["impl"] for r in rows}
    expected = {"numpy"}
    if importlib.util.find_spec("gldpose_sdk._decode") is not None:
        expected |= {"compiled", "sdk"}
    if importlib.util.find_spec("torch") is not None:
        expected.add("torch")
    assert impls == expected
    assert data["meta"]["quick"] is True
    assert data["machine"]["machine_shared"] is False
    assert data["machine"]["cpu"]["logical_cpus"] >= 1
    assert {r["n"] for r in rows} == {1, 64, 4096}
    assert len(rows) == 3 * len(impls)
    for row in rows:
        assert 0 < row["us_per_call_best"] <= row["us_per_call"]
        assert row["max_abs_diff_deg"] < 1e-3  # torch decodes in float32; the others to 1e-4
        if row["impl"] == "numpy":
            assert row["ratio_vs_numpy"] == 1.0
        elif row["impl"] in ("compiled", "sdk"):
            assert row["max_abs_diff_deg"] < 1e-4
    lines = proc.stdout.splitlines()
    assert all(f"{name} us" in lines[0] for name in impls)
    assert len(lines) == 2 + 3 + 1 and lines[-1].startswith("machine: ")
    assert "not marked as shared" in lines[-1]
