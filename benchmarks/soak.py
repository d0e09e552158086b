"""Soak: resident memory over many calls, thread scaling, and create/close cycles.

What a robot app does for hours, condensed:

* ``estimate``: ``--frames`` calls of ``PoseEstimator.estimate(frame, boxes)`` on the shipped
  sample frames (synthetic renders) with the faces the built-in detector found in them once;
  the resident set size (RSS) is sampled along the way and its slope fitted (least squares,
  after the first 10% of calls as warm-up), in MB per 1,000 calls;
* ``track``: ``PoseEstimator.track`` over a generated stream of ``--frames`` frames (the sample
  frames in a loop, detector and refine step included), the same RSS slope per 1,000 frames;
* threads: 1, 2, 4 and 8 threads sharing one estimator, each running ``--thread-calls`` calls
  over the sample frames in its own order, in three rounds of rotating order (median kept):
  calls and faces per second, and whether every result is bit-identical to the serial one for
  the same input;
* create/close: ``--cycles`` cycles of ``PoseEstimator(...)`` and ``close()``: RSS growth per
  cycle and seconds per cycle.

A table goes to stdout and everything (with ``bench_common``'s machine block: CPU, packages,
load average, whether the machine was shared) to ``--json``. ``--quick``: 60 frames, 10 calls
per thread and round, 3 cycles. Linux only (RSS from ``/proc/self/status``).

    python benchmarks/soak.py --frames 5000 [--quick] [--model DIR] [--backend auto]
                              [--json runs/benchmarks/soak.json] [--machine-shared auto]
"""
from __future__ import annotations

import argparse
import gc
import itertools
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import bench_common as bc
import cv2
import numpy as np

from gldpose_sdk import PoseEstimator
from gldpose_sdk.pose import Box

SAMPLES = bc.REPO_ROOT / "sdk" / "gldpose_sdk" / "samples"
THREADS = (1, 2, 4, 8)
#: Samples of RSS taken over each soak (the slope is fitted through them).
RSS_SAMPLES = 50
WARMUP_FRAC = 0.1

Input = tuple[np.ndarray, list[Box]]


def rss_mb() -> float:
    """Resident set size of this process in MB (``VmRSS``)."""
    text = Path("/proc/self/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", text, re.M).group(1)) / 1024  # type: ignore


def slope_per_1000(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of (calls, MB) after the warm-up share, in MB per 1,000 calls."""
    start = points[0][0] + WARMUP_FRAC * (points[-1][0] - points[0][0])
    kept = [(x, y) for x, y in points if x >= start]
    if len(kept) < 2:
        return 0.0
    xs, ys = np.array(kept, dtype=np.float64).T
    return float(np.polyfit(xs, ys, 1)[0] * 1000.0)


def load_inputs(est: PoseEstimator) -> list[Input]:
    """The sample frames with the tight boxes of the faces the detector finds in them."""
    inputs = []
    for path in sorted(SAMPLES.glob("frame_*.jpg")):
        frame = cv2.imread(str(path))
        boxes = [p.box for p in est.estimate(frame)]
        if boxes:
            inputs.append((frame, boxes))
    if not inputs:
        raise SystemExit(f"the detector found no face in {SAMPLES}; nothing to soak")
    return inputs


def _soak(n: int, step: Callable[[int], None]) -> dict[str, Any]:
    """Run ``step(i)`` for i < n, sampling RSS; the soak's figures."""
    every = max(1, n // RSS_SAMPLES)
    gc.collect()
    points = [(0, rss_mb())]
    start = time.perf_counter()
    for i in range(n):
        step(i)
        if (i + 1) % every == 0 or i + 1 == n:
            points.append((i + 1, rss_mb()))
    seconds = time.perf_counter() - start
    gc.collect()
    return {"calls": n, "seconds": seconds, "rss_start_mb": points[0][1],
            "rss_end_mb": rss_mb(), "rss_peak_sampled_mb": max(y for _, y in points),
            "slope_mb_per_1000": slope_per_1000(points), "rss_points": points}


def soak_estimate(est: PoseEstimator, inputs: list[Input], n: int) -> dict[str, Any]:
    """``n`` calls of ``estimate(frame, boxes)`` over the inputs in turn."""
    for frame, boxes in inputs * 5:  # warm-up: the runtime's first calls allocate its arenas
        est.estimate(frame, boxes=boxes)
    return _soak(n, lambda i: est.estimate(inputs[i % len(inputs)][0],
                                           boxes=inputs[i % len(inputs)][1]))


def soak_track(est: PoseEstimator, inputs: list[Input], n: int) -> dict[str, Any]:
    """``track()`` over a generated stream of ``n`` frames (the inputs' frames in a loop)."""
    frames = [frame for frame, _ in inputs]
    stream = (frames[i % len(frames)] for i in itertools.count())
    results = est.track(stream, fps=30.0)
    faces = [0]

    def step(_: int) -> None:
        faces[0] += len(next(results).poses)
    out = _soak(n, step)
    out["faces_per_frame"] = faces[0] / n
    return out


def _poses_key(poses: list[Any]) -> bytes:
    return np.array([[*p.angles_deg, *p.std_deg] for p in poses], np.float64).tobytes()


def _threaded_run(est: PoseEstimator, inputs: list[Input], serial: list[bytes], n_threads: int,
                  calls: int) -> dict[str, Any]:
    """``n_threads`` threads, ``calls`` calls each, every thread in its own input order."""
    mismatches, errors = [0] * n_threads, []

    def work(k: int) -> None:
        try:
            for i in range(calls):
                j = (i * (k + 1) + k) % len(inputs)
                frame, boxes = inputs[j]
                if _poses_key(est.estimate(frame, boxes=boxes)) != serial[j]:
                    mismatches[k] += 1
        except Exception as exc:  # noqa: BLE001  (reported in the table)
            errors.append(f"{type(exc).__name__}: {exc}")
    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    return {"calls": calls * n_threads, "seconds": seconds, "mismatches": sum(mismatches),
            "errors": errors}


def thread_scaling(est: PoseEstimator, inputs: list[Input], calls: int,
                   rounds: int = 3) -> list[dict[str, Any]]:
    """Throughput of 1/2/4/8 threads sharing ``est``; results compared with serial ones.

    The thread counts are measured in ``rounds`` rounds, each in a rotated order, and the
    median throughput is kept, so that a slow spell of other work on the machine does not
    land on one thread count only. Each thread makes ``calls`` calls per round.
    """
    serial = [_poses_key(est.estimate(frame, boxes=boxes)) for frame, boxes in inputs]
    faces_per_call = sum(len(b) for _, b in inputs) / len(inputs)
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in THREADS}
    for r in range(rounds):
        for n_threads in THREADS[r % len(THREADS):] + THREADS[:r % len(THREADS)]:
            runs[n_threads].append(_threaded_run(est, inputs, serial, n_threads, calls))
    rows = []
    for n_threads, done in runs.items():
        rates = [d["calls"] / d["seconds"] for d in done]
        errors = [e for d in done for e in d["errors"]]
        mismatches = sum(d["mismatches"] for d in done)
        rate = float(np.median(rates))
        rows.append({"threads": n_threads, "calls": sum(d["calls"] for d in done),
                     "rounds": rounds, "calls_per_s": rate, "calls_per_s_rounds": rates,
                     "faces_per_s": rate * faces_per_call, "mismatches": mismatches,
                     "errors": errors[:5], "identical_to_serial": not errors and mismatches == 0})
    base = rows[0]["calls_per_s"]
    for row in rows:
        row["speedup"] = row["calls_per_s"] / base
    return rows


def create_close(make: Callable[[], PoseEstimator], cycles: int) -> dict[str, Any]:
    """RSS and time over ``cycles`` create/estimate/close cycles (after two warm-up cycles)."""
    frame = np.zeros((64, 64, 3), np.uint8)

    def cycle() -> None:
        est = make()
        est.estimate(frame, boxes=[(8.0, 8.0, 56.0, 56.0)])
        est.close()
    for _ in range(2):
        cycle()
    gc.collect()
    before = rss_mb()
    start = time.perf_counter()
    for _ in range(cycles):
        cycle()
    seconds = time.perf_counter() - start
    gc.collect()
    after = rss_mb()
    return {"cycles": cycles, "rss_before_mb": before, "rss_after_mb": after,
            "kb_per_cycle": (after - before) * 1024 / max(cycles, 1),
            "seconds_per_cycle": seconds / max(cycles, 1)}


def format_report(report: dict[str, Any]) -> str:
    """The three tables of the report, as text."""
    lines = [f"backend: {report['backend']}", "",
             f"{'soak':<10} {'calls':>7} {'s':>7} {'RSS start MB':>13} {'RSS end MB':>11} "
             f"{'slope MB/1000':>14}"]
    for name in ("estimate", "track"):
        s = report[name]
        lines.append(f"{name:<10} {s['calls']:>7} {s['seconds']:>7.1f} {s['rss_start_mb']:>13.1f} "
                     f"{s['rss_end_mb']:>11.1f} {s['slope_mb_per_1000']:>14.3f}")
    lines += ["", f"{'threads':>7} {'calls':>7} {'calls/s':>9} {'faces/s':>9} {'speed-up':>9} "
                  f"{'identical':>10}"]
    for r in report["threads"]:
        lines.append(f"{r['threads']:>7} {r['calls']:>7} {r['calls_per_s']:>9.1f} "
                     f"{r['faces_per_s']:>9.1f} {r['speedup']:>9.2f} "
                     f"{'yes' if r['identical_to_serial'] else 'NO':>10}")
    c = report["cycles"]
    lines += ["", f"create/close: {c['cycles']} cycles, RSS {c['rss_before_mb']:.1f} -> "
                  f"{c['rss_after_mb']:.1f} MB ({c['kb_per_cycle']:.1f} KB per cycle), "
                  f"{c['seconds_per_cycle']:.2f} s per cycle", bc.shared_note(report["machine"])]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=5000,
                   help="calls of estimate, and frames of track (default 5000)")
    p.add_argument("--thread-calls", type=int, default=100, help="calls per thread and round")
    p.add_argument("--cycles", type=int, default=50, help="create/close cycles")
    p.add_argument("--model", default=None,
                   help="model folder or built-in model name (default: the default model)")
    p.add_argument("--backend", default="auto")
    bc.add_common_arguments(p, bc.REPO_ROOT / "runs" / "benchmarks" / "soak.json")
    args = p.parse_args(argv)
    if args.quick:
        args.frames, args.thread_calls, args.cycles = 60, 10, 3
    if min(args.frames, args.thread_calls) < 1 or args.cycles < 0:
        p.error("--frames and --thread-calls must be >= 1, --cycles >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the soak; print the tables; write the JSON report."""
    args = parse_args(argv)
    load_at_start = bc.load_average()

    def make() -> PoseEstimator:
        return PoseEstimator(args.model, backend=args.backend)
    est = make()
    try:
        inputs = load_inputs(est)
        report = {"config": {k: str(v) if isinstance(v, Path) else v
                             for k, v in vars(args).items()},
                  "backend": est.describe().backend.name,
                  "inputs": {"frames": len(inputs), "faces": sum(len(b) for _, b in inputs)},
                  "estimate": soak_estimate(est, inputs, args.frames),
                  "track": soak_track(est, inputs, args.frames),
                  "threads": thread_scaling(est, inputs, args.thread_calls)}
    finally:
        est.close()
    report["cycles"] = create_close(make, args.cycles)
    report["machine"] = bc.machine_info(args.machine_shared, load_at_start)
    print(format_report(report))
    bc.write_json(args.json, report)
    print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
