"""benchmarks/soak.py --quick: RSS slopes, thread scaling with identical results, cycles."""
from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not Path("/proc/self/status").is_file(),
                                reason="soak reads RSS from /proc (Linux)")


@pytest.fixture(scope="module")
def soak() -> ModuleType:
    name = "gldpose_benchmarks_soak"
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    with pytest.MonkeyPatch.context() as mp:  # as when run as a script: bench_common beside it
        mp.syspath_prepend(str(REPO / "benchmarks"))
        sys.modules[name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        yield module
    sys.modules.pop(name, None)


def test_slope_is_the_least_squares_fit_after_warm_up(soak: ModuleType) -> None:
    points = [(0, 500.0)] + [(i, 100.0 + 0.002 * i) for i in range(100, 1001, 100)]
    assert soak.slope_per_1000(points) == pytest.approx(2.0)  # the warm-up jump is left out
    assert soak.slope_per_1000([(0, 1.0)]) == 0.0


def test_quick_run(soak: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "soak.json"
    assert soak.main(["--quick", "--json", str(out), "--machine-shared", "yes"]) == 0
    report = json.loads(out.read_text())
    for name in ("estimate", "track"):
        row = report[name]
        assert row["calls"] == 60 and row["seconds"] > 0
        assert row["rss_start_mb"] > 0 and row["rss_end_mb"] > 0
        assert math.isfinite(row["slope_mb_per_1000"])
        assert len(row["rss_points"]) >= 2 and row["rss_points"][-1][0] == 60
    assert report["track"]["faces_per_frame"] > 0
    assert [r["threads"] for r in report["threads"]] == [1, 2, 4, 8]
    for row in report["threads"]:
        assert row["calls"] == 3 * 10 * row["threads"] and row["calls_per_s"] > 0
        assert len(row["calls_per_s_rounds"]) == 3
        assert row["identical_to_serial"], row
    assert report["cycles"]["cycles"] == 3 and report["cycles"]["seconds_per_cycle"] > 0
    assert report["machine"]["machine_shared"] is True and report["config"]["quick"] is True
    printed = capsys.readouterr().out
    assert "slope MB/1000" in printed and "identical" in printed and "create/close" in printed
    assert "SHARED with other work" in printed
