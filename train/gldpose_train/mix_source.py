"""Where a mixed-in training source comes from: a folder, or renders made on first use.

``mix_data`` is either a folder readable by ``mix_dataset``, or ``synth:COUNT[:SEED[:DIST]]``:
COUNT synthetic heads (``gldpose synth``, 160 px, pose distribution DIST, default ``uniform``,
seed SEED, default 21), rendered once into the run folder and reused on resume, so that a recipe
that mixes renders in is one command.
"""
from __future__ import annotations

import logging
from pathlib import Path

from gldpose_train import TrainError
from gldpose_train.config import TrainConfig

_LOG = logging.getLogger(__name__)
SYNTH_PREFIX = "synth:"
RENDER_SIZE_PX = 160


def parse_synth_spec(spec: str) -> tuple[int, int, str]:
    """``synth:COUNT[:SEED[:DIST]]`` -> ``(count, seed, dist)``.

    Raises:
        TrainError: malformed spec.
    """
    parts = spec[len(SYNTH_PREFIX):].split(":")
    try:
        count = int(parts[0])
        seed = int(parts[1]) if len(parts) > 1 and parts[1] else 21
    except ValueError as exc:
        raise TrainError(f"mix data {spec!r}: expected synth:COUNT[:SEED[:DIST]]") from exc
    dist = parts[2] if len(parts) > 2 else "uniform"
    if count < 1 or len(parts) > 3:
        raise TrainError(f"mix data {spec!r}: expected synth:COUNT[:SEED[:DIST]], COUNT >= 1")
    return count, seed, dist


def resolve_mix_data(cfg: TrainConfig) -> str:
    """The folder of the mixed-in source (rendering it first for a ``synth:`` spec), or ''.

    '' also when ``mix_fraction`` is 0: nothing is mixed in, so nothing is rendered.
    """
    if cfg.mix_fraction <= 0:
        return ""
    if not cfg.mix_data.startswith(SYNTH_PREFIX):
        return cfg.mix_data
    from gldpose_train.synth.render import SynthConfig
    from gldpose_train.synth.writer import generate

    count, seed, dist = parse_synth_spec(cfg.mix_data)
    folder = Path(cfg.out_dir) / f"renders-{dist}-{count}-seed{seed}"
    listing = folder / "files.txt"
    have = len(listing.read_text().split()) if listing.is_file() else 0
    if have < count:
        _LOG.info("rendering %d %s synthetic heads into %s (once; reused on resume)", count,
                  dist, folder)
        generate(SynthConfig(size_px=RENDER_SIZE_PX, pose_dist=dist, seed=seed), folder, count,
                 workers=max(1, cfg.workers))
    return str(folder)
