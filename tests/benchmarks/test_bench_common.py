"""benchmarks/bench_common.py: interleaved timing keeps each round's minimum; paired ratios."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bc() -> ModuleType:
    name = "gldpose_benchmarks_bench_common"
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "bench_common.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    yield module
    sys.modules.pop(name, None)


def test_interleaved_rounds_keep_each_block_minimum(bc: ModuleType) -> None:
    calls = {"a": 0, "b": 0}

    def make(name: str):  # type: ignore[no-untyped-def]
        def fn() -> None:
            calls[name] += 1
        return fn

    timings = bc.time_interleaved({"a": make("a"), "b": make("b")}, runs=7, warmup=0, block=3)
    for t in timings.values():
        assert t.runs == 7 and len(t.round_min_ms) == 3   # blocks of 3, 3 and 1 timed calls
        assert min(t.round_min_ms) == t.min_ms
    assert calls == {"a": 7 + 3, "b": 7 + 3}               # plus one settling call per round
    half = timings["a"].scaled(0.5)
    assert half.round_min_ms == pytest.approx([v / 2 for v in timings["a"].round_min_ms])


def test_paired_ratio_is_the_median_of_per_round_ratios(bc: ModuleType) -> None:
    # the machine slows down 3x in the middle rounds: each round's ratio stays 1.2, where
    # the ratio of the overall minima or medians would not be
    net = [1.0, 3.0, 3.0, 1.0, 3.0]
    e2e = [1.2 * v for v in net]
    e2e[0] = 5.0                                            # one outlier round
    assert bc.paired_ratio(e2e, net) == pytest.approx(1.2)
    assert bc.paired_ratio([], []) is None
    assert bc.paired_ratio([1.0, 2.0], [1.0]) is None       # not from the same rounds
    assert bc.paired_ratio([1.0], [0.0]) is None
