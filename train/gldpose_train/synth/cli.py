"""``gldpose synth``: synthetic heads in the 300W-LP format, a contact sheet, or the samples."""
from __future__ import annotations

import argparse
import logging
import os

from gldpose_sdk.errors import GldposeError

from gldpose_train.synth.pose import POSE_DISTS
from gldpose_train.synth.render import SynthConfig

log = logging.getLogger("gldpose.synth")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``gldpose synth``."""
    p = argparse.ArgumentParser(
        prog="gldpose synth",
        description="Render synthetic heads with exact pose labels (300W-LP format: .jpg + .mat).")
    p.add_argument("--out", help="output folder of the .jpg/.mat pairs")
    p.add_argument("--count", type=int, default=1000, help="number of images (default 1000)")
    p.add_argument("--start", type=int, default=0, help="index of the first image (default 0)")
    p.add_argument("--pose-dist", choices=sorted(POSE_DISTS), default="imbalanced",
                   help="pose distribution (default imbalanced)")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.add_argument("--size", type=int, default=224, help="image side in pixels (default 224)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help="worker processes (default: 2 or the CPU count if lower)")
    p.add_argument("--contact-sheet", metavar="PNG", help="write a 6x6 contact sheet and exit")
    p.add_argument("--samples", metavar="DIR",
                   help="regenerate the SDK's built-in sample frames, clip and poses.json in DIR")
    return p


def config_from_args(args: argparse.Namespace) -> SynthConfig:
    """Map parsed arguments to a :class:`SynthConfig`."""
    return SynthConfig(size_px=args.size, pose_dist=args.pose_dist, seed=args.seed)


def main(argv: list[str]) -> int:
    """Entry point of ``gldpose synth``; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.contact_sheet:
            from gldpose_train.synth.writer import contact_sheet

            contact_sheet(args.contact_sheet)
            log.info("wrote %s", args.contact_sheet)
            return 0
        if args.samples:
            from gldpose_train.synth.samples import write_samples

            write_samples(args.samples)
            return 0
        if not args.out:
            log.error("--out is required (or use --contact-sheet / --samples)")
            return 2
        from gldpose_train.synth.writer import generate

        rate = generate(config_from_args(args), args.out, args.count, args.workers, args.start)
        log.info("%.1f images/s", rate)
        return 0
    except GldposeError as exc:
        log.error("%s", exc)
        return 1
