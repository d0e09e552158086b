"""Decode benchmark: compiled extension vs numpy vs torch, side by side, in one run.

Each implementation turns logits ``[N, 3, 66]`` float32 into angles and std ``[N, 3]``
(softmax-expectation, DESIGN 1) for N = 1, 64, 4096:

- ``compiled``: ``gldpose_sdk._decode.decode`` called directly (C++; threads above 8192 rows);
- ``sdk``: ``gldpose_sdk.decode.decode_logits`` (the compiled decode plus the SDK's input checks:
  what a backend user pays);
- ``numpy``: ``decode_logits_numpy`` (float64 inside; the fallback and the reference);
- ``torch``: ``softmax`` + matmul on CPU tensors (float32), when torch is installed.

Timing is ``bench_common.time_per_call`` (rounds of many calls, the mean per call of each
round). Prints a table (median microseconds per call over the rounds, and time relative to
numpy) and the machine line, and writes a JSON file that also holds the best round (less
sensitive to other load on the machine) and the machine metadata of ``bench_common``.

Usage:
    python benchmarks/decode.py [--json runs/benchmarks/decode.json] [--quick] [--torch-threads K]
        [--machine-shared auto|yes|no]
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
from collections.abc import Callable

import bench_common as bc
import numpy as np
from gldpose_sdk import decode as sdk_decode
from gldpose_sdk.manifest import BinSpec

LOG = logging.getLogger("benchmarks.decode")
BATCH_SIZES = (1, 64, 4096)
NUM_ANGLES = 3
LOGIT_SCALE = 5.0  # spread of the random logits: peaked but not one-hot, like a trained head

DecodeFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def make_implementations(centres_deg: np.ndarray) -> dict[str, DecodeFn]:
    """Available decodes by name; each maps logits ``[N, A, B]`` to (angles, std) ``[N, A]``."""
    impls: dict[str, DecodeFn] = {}
    if sdk_decode.decode_implementation() == "compiled":
        from gldpose_sdk import _decode

        impls["compiled"] = lambda x: _decode.decode(x, centres_deg)
        impls["sdk"] = lambda x: sdk_decode.decode_logits(x, centres_deg)
    else:
        LOG.warning("compiled decode not built: skipping it (pip install . builds it)")
    impls["numpy"] = lambda x: sdk_decode.decode_logits_numpy(x, centres_deg)
    if importlib.util.find_spec("torch") is not None:
        impls["torch"] = make_torch_decode(centres_deg)
    else:
        LOG.warning("torch not installed: skipping the torch column")
    return impls


def make_torch_decode(centres_deg: np.ndarray) -> DecodeFn:
    """Softmax + matmul in torch (CPU, float32); input and output stay numpy (zero copy)."""
    import torch

    c = torch.from_numpy(np.ascontiguousarray(centres_deg, dtype=np.float32))

    def decode(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            p = torch.softmax(torch.from_numpy(x), dim=2)
            mean = p @ c
            var = (p * (c - mean[..., None]) ** 2).sum(dim=2)
            return mean.numpy(), var.clamp_min(0).sqrt().numpy()

    return decode


def run(batch_sizes: tuple[int, ...], rounds: int, min_round_s: float) -> list[dict]:
    """Time every implementation at every batch size; rows of the result table."""
    centres_deg = BinSpec().centres_deg()
    impls = make_implementations(centres_deg)
    rng = np.random.default_rng(0)
    rows = []
    for n in batch_sizes:
        x = (rng.standard_normal((n, NUM_ANGLES, centres_deg.size)) * LOGIT_SCALE)
        x = x.astype(np.float32)
        ref_angles, ref_std = sdk_decode.decode_logits_numpy(x, centres_deg)
        timings = {name: bc.time_per_call(lambda f=fn, x=x: f(x), rounds, min_round_s)
                   for name, fn in impls.items()}
        for name, fn in impls.items():
            angles, std = fn(x)
            rows.append({
                "n": n, "impl": name, "us_per_call": timings[name].median_ms * 1e3,
                "us_per_call_best": timings[name].min_ms * 1e3,
                "ratio_vs_numpy": timings[name].median_ms / timings["numpy"].median_ms,
                "max_abs_diff_deg": float(max(np.abs(angles - ref_angles).max(),
                                              np.abs(std - ref_std).max())),
            })
    return rows


def format_table(rows: list[dict]) -> str:
    """Microseconds per call and time relative to numpy; one line per batch size."""
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    by_key = {(r["n"], r["impl"]): r for r in rows}
    head = f"{'N':>6} " + " ".join(f"{name + ' us':>12} {'x numpy':>8}" for name in impls)
    lines = [head, "-" * len(head)]
    for n in dict.fromkeys(r["n"] for r in rows):
        cells = [f"{by_key[n, i]['us_per_call']:12.1f} {by_key[n, i]['ratio_vs_numpy']:8.3f}"
                 for i in impls]
        lines.append(f"{n:>6} " + " ".join(cells))
    return "\n".join(lines) + "\n"


def settings() -> dict:
    """What was decoded and with which implementation (the machine is ``bench_common``'s)."""
    meta = {"decode_implementation": sdk_decode.decode_implementation(),
            "num_angles": NUM_ANGLES, "num_bins": BinSpec().count, "logit_scale": LOGIT_SCALE}
    if importlib.util.find_spec("torch") is not None:
        import torch

        meta["torch_threads"] = torch.get_num_threads()
    return meta


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table and write the JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bc.add_common_arguments(parser, bc.REPO_ROOT / "runs" / "benchmarks" / "decode.json")
    parser.add_argument("--torch-threads", type=int, default=0,
                        help="torch.set_num_threads for the torch column (0: torch's default)")
    args = parser.parse_args(argv)
    load_at_start = bc.load_average()
    if args.torch_threads > 0 and importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(args.torch_threads)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    rounds, min_round_s = (3, 0.002) if args.quick else (15, 0.05)
    rows = run(BATCH_SIZES, rounds, min_round_s)
    machine = bc.machine_info(args.machine_shared, load_at_start)
    sys.stdout.write(format_table(rows) + bc.shared_note(machine) + "\n")
    meta = dict(settings(), quick=args.quick, rounds=rounds, min_round_s=min_round_s)
    bc.write_json(args.json, {"meta": meta, "machine": machine, "results": rows})
    LOG.info("wrote %s", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
