"""``gldpose train``, ``gldpose eval`` and ``gldpose import-hopenet``."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from gldpose_sdk.errors import GldposeError

_LOG = logging.getLogger("gldpose")


def _dataset_names() -> list[str]:
    from gldpose_train.datasets import DATASETS

    return sorted(DATASETS)


def _train_parser() -> argparse.ArgumentParser:
    from gldpose_sdk.model import BACKBONES
    from gldpose_train.labels import LABEL_FORMS
    from gldpose_train.losses import LOSSES

    p = argparse.ArgumentParser(prog="gldpose train", description="Train a head-pose model.")
    p.add_argument("--dataset", required=True, choices=_dataset_names())
    p.add_argument("--data", required=True, help="data folder (or annotation file)")
    p.add_argument("--out", required=True, help="run folder (model, manifest, checkpoint)")
    p.add_argument("--backbone", default="resnet50", choices=sorted(BACKBONES))
    p.add_argument("--loss", default="gld", choices=LOSSES)
    p.add_argument("--alpha", type=float, default=0.01, help="weight of the MSE term")
    p.add_argument("--sigma", type=float, default=4.0, help="GLD sigma in bins")
    p.add_argument("--label-form", default="gaussian", choices=LABEL_FORMS)
    p.add_argument("--binned-centre", action="store_true",
                   help="centre the Gaussian on the hard bin (the paper's alpha)")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-6, help="Adam learning rate (paper: 1e-6)")
    p.add_argument("--head-lr-mult", type=float, default=1.0, help="Hopenet used 5")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--input-size", type=int, default=224, help="network input side, pixels")
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--val-dataset", default="", choices=[""] + _dataset_names())
    p.add_argument("--val-data", default="")
    p.add_argument("--val-fraction", type=float, default=0.05)
    p.add_argument("--val-every-steps", type=int, default=0)
    p.add_argument("--max-samples", type=int, default=0)
    p.add_argument("--imagenet-weights", default="", help="local torchvision .pth (optional)")
    p.add_argument("--crop-margin", type=float, default=0.2, help="Hopenet margin k (eval)")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--pad-frac", type=float, default=0.0,
                   help="crops: black border per side, fraction of the crop")
    p.add_argument("--label-columns", default="",
                   help="crops: CSV columns for yaw,pitch,roll, e.g. "
                        "yaw_annotated,pitch_teacher,roll_teacher")
    p.add_argument("--file-list", default="", help="text file of sample names to use")
    p.add_argument("--mix-data", default="",
                   help="second training source mixed in, e.g. a folder of `gldpose synth` renders")
    p.add_argument("--mix-dataset", default="synthetic", choices=_dataset_names())
    p.add_argument("--mix-fraction", type=float, default=0.0,
                   help="share of each epoch drawn from --mix-data (0..1)")
    return p


def config_from_args(args: argparse.Namespace):
    """Map parsed ``gldpose train`` arguments to a :class:`TrainConfig` (the one place)."""
    from gldpose_train.config import TrainConfig
    from gldpose_train.losses import LossConfig

    loss = LossConfig(name=args.loss, alpha=args.alpha, sigma_bins=args.sigma,
                      label_form=args.label_form, binned_centre=args.binned_centre)
    return TrainConfig(
        dataset=args.dataset, data=args.data, out_dir=args.out, backbone=args.backbone,
        loss=loss, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        head_lr_mult=args.head_lr_mult, weight_decay=args.weight_decay,
        input_size_px=args.input_size, max_steps=args.max_steps, device=args.device,
        resume=args.resume, seed=args.seed, workers=args.workers,
        val_dataset=args.val_dataset, val_data=args.val_data, val_fraction=args.val_fraction,
        val_every_steps=args.val_every_steps, max_samples=args.max_samples,
        imagenet_weights=args.imagenet_weights, crop_margin_k=args.crop_margin,
        channels_last=args.channels_last, pad_frac=args.pad_frac,
        label_columns=tuple(c for c in args.label_columns.split(",") if c),
        file_list=args.file_list, mix_data=args.mix_data, mix_dataset=args.mix_dataset,
        mix_fraction=args.mix_fraction)


def _run(fn, argv) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        return fn(argv)
    except (GldposeError, ValueError) as exc:
        print(f"gldpose: error: {exc}", file=sys.stderr)
        return 2


def train_main(argv: list[str]) -> int:
    """``gldpose train``."""
    def go(argv: list[str]) -> int:
        from gldpose_train.loop import train

        summary = train(config_from_args(_train_parser().parse_args(argv)))
        print(f"trained {summary['epochs']} epochs, {summary['steps']} steps in "
              f"{summary['seconds']:.0f} s; best validation MAE {summary['best_val_mae']:.2f}")
        return 0
    return _run(go, argv)


def _eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gldpose eval", description="Evaluate a model folder.")
    p.add_argument("--checkpoint", required=True, help="model folder (manifest + safetensors)")
    p.add_argument("--dataset", required=True, choices=_dataset_names())
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="val", help="split for sets with a split column")
    p.add_argument("--json", default="", help="write {yaw, pitch, roll, mae, count, ...}")
    p.add_argument("--plot", default="", help="PNG of MAE by |yaw| band")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--max-samples", type=int, default=0)
    p.add_argument("--crop-margin", type=float, default=0.2, help="Hopenet margin k")
    p.add_argument("--workers", type=int, default=0)
    return p


def eval_main(argv: list[str]) -> int:
    """``gldpose eval``: prints the paper's table, writes JSON and a PNG."""
    def go(argv: list[str]) -> int:
        from gldpose_sdk.model import load_model
        from gldpose_train.datasets import DatasetOptions, build_dataset
        from gldpose_train.evaluate import format_table, predict_dataset, write_report

        args = _eval_parser().parse_args(argv)
        model, manifest = load_model(args.checkpoint, args.device)
        opts = DatasetOptions(crop_margin_k=args.crop_margin, max_samples=args.max_samples or None)
        data = build_dataset(args.dataset, args.data, split=args.split, train=False,
                             input_size_px=manifest.input.size_px, options=opts)
        if getattr(data, "crop_rule", manifest.crop) != manifest.crop:
            _LOG.warning("dataset crop %s differs from the model's training crop %s",
                         data.crop_rule, manifest.crop)
        pred, true = predict_dataset(model, data, manifest.bins, args.device, args.batch_size,
                                     args.workers)
        result = write_report(pred, true, Path(args.json) if args.json else None,
                              Path(args.plot) if args.plot else None,
                              f"{manifest.backbone} on {args.dataset}")
        print(format_table(result, args.dataset))
        return 0
    return _run(go, argv)


def import_hopenet_main(argv: list[str]) -> int:
    """``gldpose import-hopenet PKL OUT_DIR``."""
    def go(argv: list[str]) -> int:
        from gldpose_sdk.model import import_hopenet

        p = argparse.ArgumentParser(prog="gldpose import-hopenet",
                                    description="Convert a Hopenet .pkl state dict.")
        p.add_argument("pkl")
        p.add_argument("out")
        args = p.parse_args(argv)
        manifest = import_hopenet(args.pkl, args.out)
        print(f"wrote {args.out} ({manifest.backbone}, decode offset {manifest.bins.offset_deg})")
        return 0
    return _run(go, argv)
