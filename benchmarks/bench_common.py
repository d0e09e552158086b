"""What every benchmark shares: one timer, one machine-metadata block, one JSON writer.

Benchmarks are run as scripts (``python benchmarks/NAME.py``); Python puts this folder on the
import path for them, so ``import bench_common`` needs no path edits. They import the installed
packages (``gldpose_sdk``, ``gldpose_export``), never the source tree.

Timing on a machine that also runs other work (a training job, other people's tests) is noisy
in absolute terms, so:

* :func:`time_interleaved` times several callables round-robin (a rotating order in every
  round), so a slow spell of the other work hits all of them alike and their *ratios* stay
  meaningful;
* :class:`Timing` keeps the median, the 10th and 90th percentiles, the minimum and the mean,
  and the minimum of each round's block, so that :func:`paired_ratio` can compare two callables
  round by round (a machine whose speed swings between runs, or within one, moves both alike);
* :func:`machine_info` records the CPU (model, flags such as AVX2 / AVX-512 / AMX / bf16), the
  cores, the load average before and after, package versions, the git commit, and whether the
  machine was shared with other work (``--machine-shared``, or the load average when ``auto``);
  :func:`shared_note` turns that into the line every benchmark prints under its table.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
#: CPU flags that decide which runtime and precision is fastest (``/proc/cpuinfo`` names).
CPU_FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16",
             "avx_vnni", "amx_tile", "amx_bf16", "amx_int8")
#: Distributions whose versions go into every report (absent ones are recorded as None).
PACKAGES = ("gldpose", "numpy", "opencv-python-headless", "onnxruntime", "openvino", "nncf",
            "torch", "torchvision", "pillow")
#: ``auto``: the machine counts as shared when the 1-minute load average exceeds this share of
#: the logical CPUs before the benchmark starts.
SHARED_LOAD_PER_CPU = 0.5


@dataclass(frozen=True)
class Timing:
    """Statistics of repeated wall-clock measurements, in milliseconds.

    ``cpu_median_ms`` / ``cpu_min_ms``: the process's CPU time per call (all its threads), when
    measured. It does not grow while the process waits behind other work, so on a shared
    machine it shows the work done, where the wall time shows the work plus the waiting (a
    runtime's threads spinning while they wait count as work).
    """

    runs: int
    median_ms: float
    p10_ms: float
    p90_ms: float
    min_ms: float
    mean_ms: float
    cpu_median_ms: float | None = None
    cpu_min_ms: float | None = None
    round_min_ms: tuple[float, ...] = ()   # each round's fastest call, in round order

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float],
                     cpu_samples_ms: Sequence[float] | None = None,
                     round_min_ms: Sequence[float] = ()) -> Timing:
        """Summarise raw wall samples (ms), and optionally CPU-time samples and the minimum of
        each round (:func:`time_interleaved`); one wall sample at least."""
        if not samples_ms:
            raise ValueError("no timing samples")
        ordered = sorted(samples_ms)
        cpu = sorted(cpu_samples_ms) if cpu_samples_ms else None
        return cls(len(ordered), statistics.median(ordered), _percentile(ordered, 10),
                   _percentile(ordered, 90), ordered[0], statistics.fmean(ordered),
                   statistics.median(cpu) if cpu else None, cpu[0] if cpu else None,
                   tuple(round_min_ms))

    def scaled(self, factor: float) -> Timing:
        """Every figure multiplied by ``factor`` (e.g. 1/batch for ms per face)."""
        values = [None if v is None else v * factor
                  for v in (self.median_ms, self.p10_ms, self.p90_ms, self.min_ms, self.mean_ms,
                            self.cpu_median_ms, self.cpu_min_ms)]
        return Timing(self.runs, *values,  # type: ignore[arg-type]
                      tuple(v * factor for v in self.round_min_ms))

    def to_dict(self) -> dict[str, float | None]:
        """Plain JSON-able dict."""
        return asdict(self)


def _percentile(ordered: Sequence[float], q: float) -> float:
    """Linear-interpolated ``q``-th percentile of sorted values."""
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def time_ms(fn: Callable[[], object], runs: int, warmup: int = 3) -> Timing:
    """Wall time of ``fn()`` over ``runs`` calls after ``warmup`` untimed calls."""
    return time_interleaved({"fn": fn}, runs, warmup)["fn"]


def time_interleaved(fns: Mapping[str, Callable[[], object]], runs: int, warmup: int = 3,
                     block: int = 1) -> dict[str, Timing]:
    """Time several callables side by side: round after round, each one ``block`` times.

    The order rotates from round to round, so neither position nor a burst of load on a shared
    machine favours one of them. With ``block`` > 1 each callable runs ``block`` times in a row
    after one untimed call, so threads that one runtime leaves spinning after its call (ONNX
    Runtime's and OpenVINO's pools, OpenMP) do not slow the next callable's timed calls: a
    program calls the same thing again and again, and that is what is measured. Each callable
    is also warmed up ``warmup`` times first.

    Returns:
        name -> :class:`Timing` of one call over ``runs`` calls, ms (wall and process CPU).
    """
    if runs < 1 or warmup < 0 or block < 1:
        raise ValueError(f"runs and block must be >= 1 and warmup >= 0, got {runs}, {block}, "
                         f"{warmup}")
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    round_min: dict[str, list[float]] = {name: [] for name in names}
    for r in range(math.ceil(runs / block)):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            fn = fns[name]
            if block > 1:
                fn()  # settle: the previous callable's threads may still be spinning
            first = len(samples[name])
            for _ in range(min(block, runs - len(samples[name]))):
                cpu_start, start = time.process_time(), time.perf_counter()
                fn()
                samples[name].append((time.perf_counter() - start) * 1e3)
                cpu[name].append((time.process_time() - cpu_start) * 1e3)
            round_min[name].append(min(samples[name][first:]))
    return {name: Timing.from_samples(samples[name], cpu[name], round_min[name])
            for name in names}


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Median over rounds of ``a[r] / b[r]``: two callables' per-round minima (``Timing.
    round_min_ms`` of one :func:`time_interleaved` call) compared round by round.

    Rounds of one call interleave every callable, so a slow spell of the machine slows both
    members of a pair; the median of the ratios is then steadier than the ratio of the overall
    minima or medians. None when the two are not paired (no rounds, or different counts).
    """
    if not a or len(a) != len(b) or min(b) <= 0:
        return None
    return statistics.median(x / y for x, y in zip(a, b))


def time_per_call(fn: Callable[[], object], rounds: int, min_round_s: float) -> Timing:
    """For calls far below a millisecond: the mean time per call over rounds of many calls.

    The number of calls per round doubles until one round lasts ``min_round_s``; the
    :class:`Timing` has one sample per round (ms per call), so its minimum is the best round.
    """
    fn()  # warm-up (first-call allocations, dispatch caches)
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - start >= min_round_s or calls >= 1 << 16:
            break
        calls *= 2
    per_call, cpu = [], []
    for _ in range(rounds):
        cpu_start, start = time.process_time(), time.perf_counter()
        for _ in range(calls):
            fn()
        per_call.append((time.perf_counter() - start) / calls * 1e3)
        cpu.append((time.process_time() - cpu_start) / calls * 1e3)
    return Timing.from_samples(per_call, cpu)


def cpu_info() -> dict[str, Any]:
    """CPU model, logical CPUs, which of :data:`CPU_FLAGS` it has, and the architecture."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.machine(),
                                                         platform.processor()):
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:  # not Linux: flags unknown
        pass
    return {"model": model, "logical_cpus": os.cpu_count(), "arch": platform.machine(),
            "flags": {f: f in flags for f in CPU_FLAGS} if flags else None,
            "bf16": bool(flags & {"avx512_bf16", "amx_bf16"}) if flags else None}


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution, None when it is not installed."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state(repo: Path = REPO_ROOT) -> dict[str, Any]:
    """Commit and whether tracked files differ from it (None when git or the repo is absent)."""
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=10, check=True)
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def load_average() -> float | None:
    """1-minute load average (None where the OS has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def is_machine_shared(choice: str, load_at_start: float | None) -> bool:
    """``choice`` ``"yes"``/``"no"``, or ``"auto"``: judged from the load before the run."""
    if choice in ("yes", "no"):
        return choice == "yes"
    if load_at_start is None:
        return False
    return load_at_start > SHARED_LOAD_PER_CPU * (os.cpu_count() or 1)


def machine_info(shared: str = "auto", load_at_start: float | None = None) -> dict[str, Any]:
    """Where and with what a benchmark ran: CPU, packages, git, load, shared-machine flag.

    Args:
        shared: ``"auto"``, ``"yes"`` or ``"no"`` (the ``--machine-shared`` option).
        load_at_start: the load average taken before the benchmark (:func:`load_average`).
    """
    return {
        "cpu": cpu_info(), "python": platform.python_version(), "os": platform.platform(),
        "packages": package_versions(), "git": git_state(),
        "load_average_1min_start": load_at_start, "load_average_1min_end": load_average(),
        "machine_shared": is_machine_shared(shared, load_at_start),
        "machine_shared_source": shared,
    }


def shared_note(machine: Mapping[str, Any]) -> str:
    """The line printed under a table: the machine, and whether it was shared."""
    cpu = machine["cpu"]
    flags = cpu.get("flags") or {}
    have = ", ".join(f for f, on in flags.items() if on) or "flags unknown"
    loads = [f"{machine[k]:.1f} at {k.rsplit('_', 1)[1]}"
             for k in ("load_average_1min_start", "load_average_1min_end")
             if machine.get(k) is not None]
    load_text = f"load average {', '.join(loads)}" if loads else "load average unknown"
    state = ("SHARED with other work: absolute times are inflated and noisy; compare the ratios "
             "measured side by side in this run" if machine["machine_shared"]
             else "not marked as shared")
    return (f"machine: {cpu['model']}, {cpu['logical_cpus']} logical CPUs ({have}); "
            f"{load_text}; {state}")


def add_common_arguments(parser: argparse.ArgumentParser, default_json: Path) -> None:
    """``--json``, ``--quick`` and ``--machine-shared``, the same in every benchmark."""
    parser.add_argument("--json", type=Path, default=default_json,
                        help="where to write the results (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="smoke run: few, short repeats")
    parser.add_argument("--machine-shared", choices=("auto", "yes", "no"), default="auto",
                        help="is other work running on this machine? auto: judged from the "
                        "load average before the run (recorded in the JSON and printed)")


def run_and_report(name: str, args: argparse.Namespace,
                   run: Callable[[argparse.Namespace], dict[str, Any]],
                   format_report: Callable[[dict[str, Any]], str]) -> int:
    """A benchmark's ``main`` after parsing: run, print the table, write ``args.json``.

    Returns 0, or 2 (with one line on stderr) when the run raises a gldpose error.
    """
    from gldpose_sdk import GldposeError

    try:
        report = run(args)
    except GldposeError as exc:
        print(f"{name}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    write_json(args.json, report)
    log_to_stderr(f"wrote {args.json}")
    return 0


def write_json(path: Path, report: Mapping[str, Any]) -> None:
    """Write ``report`` as indented JSON with sorted keys (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, sort_keys=True, default=_jsonable) + "\n",
                    encoding="utf-8")


def _jsonable(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()  # type: ignore[no-any-return]
    if hasattr(value, "item"):  # numpy scalars
        return value.item()  # type: ignore[no-any-return]
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def format_table(columns: Sequence[tuple[str, ...]], rows: Sequence[Mapping[str, Any]]) -> str:
    """Fixed-width text table.

    Args:
        columns: ``(key, format)`` or ``(key, format, header)`` per column; the format is a
            ``str.format`` spec such as ``"<20"`` or ``">8.2f"`` (``<`` aligns left), whose
            width is the column's least width. None and missing values print blank.
        rows: dicts holding the keys.
    """
    def width(spec: str) -> int:
        digits = "".join(c for c in spec.split(".")[0] if c.isdigit())
        return int(digits) if digits else 0

    def cell(value: Any, spec: str, w: int) -> str:
        if value is None:
            return " " * w
        if isinstance(value, str):
            return f"{value[:w]:<{w}}" if spec.startswith("<") else f"{value[:w]:>{w}}"
        return f"{format(value, spec):>{w}}"

    heads = [col[2] if len(col) > 2 else col[0] for col in columns]
    widths = [max(width(col[1]), len(head)) for col, head in zip(columns, heads)]
    head = " ".join(f"{h:<{w}}" if col[1].startswith("<") else f"{h:>{w}}"
                    for col, h, w in zip(columns, heads, widths))
    lines = [head, "-" * len(head)]
    for row in rows:
        lines.append(" ".join(cell(row.get(col[0]), col[1], w)
                              for col, w in zip(columns, widths)).rstrip())
    return "\n".join(lines)


def log_to_stderr(message: str) -> None:
    """Progress for a person watching (stderr, so stdout keeps only the table)."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
