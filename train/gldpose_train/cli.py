"""The training package's subcommands (``gldpose train``, ``eval``, ``calibrate``, ``soup``,
``ablate``, ``import-hopenet``, ...), dispatched here by ``gldpose_cli``."""
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
    from gldpose_sdk.manifest import RESIZE_FILTERS
    from gldpose_sdk.model import BACKBONES
    from gldpose_train.config import AUTOCAST_MODES, KEEP_RULES, OPTIMIZERS, SCHEDULES
    from gldpose_train.labels import LABEL_FORMS
    from gldpose_train.losses import LOSSES
    from gldpose_train.recipes import recipe_names

    p = argparse.ArgumentParser(
        prog="gldpose train", description="Train a head-pose model. Flags left out take the "
        "recipe's value (--recipe), else TrainConfig's default (the paper's recipe).")
    p.add_argument("--recipe", default=None,
                   help=f"preset: {', '.join(recipe_names())}, or a .json file of TrainConfig "
                        "fields; the other flags override it")
    p.add_argument("--dataset", choices=_dataset_names())
    p.add_argument("--data", required=True, help="data folder (or annotation file)")
    p.add_argument("--out", required=True, help="run folder (model, manifest, checkpoint)")
    p.add_argument("--backbone", choices=sorted(BACKBONES))
    p.add_argument("--loss", choices=LOSSES)
    p.add_argument("--alpha", type=float, help="weight of the MSE term")
    p.add_argument("--sigma", type=float, help="GLD sigma in bins")
    p.add_argument("--label-form", choices=LABEL_FORMS)
    p.add_argument("--binned-centre", action="store_true", default=None,
                   help="centre the Gaussian on the hard bin (the paper's alpha)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--lr", type=float, help="learning rate (paper: Adam 1e-6)")
    p.add_argument("--head-lr-mult", type=float, help="Hopenet used 5")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--schedule", choices=SCHEDULES)
    p.add_argument("--warmup-epochs", type=float)
    p.add_argument("--ema-decay", type=float, help="EMA of the weights (0: off)")
    p.add_argument("--swa-epochs", type=int,
                   help="average the weights at the end of the last N epochs (SWA; 0: off)")
    p.add_argument("--swa-lr", type=float,
                   help="constant learning rate of those epochs; the cosine decays to it")
    p.add_argument("--time-budget-s", type=float, help="fit the schedule into this wall time")
    p.add_argument("--input-size", type=int, help="network input side, pixels")
    p.add_argument("--resize", choices=RESIZE_FILTERS,
                   help="filter shrinking crops to the input (recorded in the manifest)")
    p.add_argument("--max-steps", type=int)
    p.add_argument("--device", help="cpu, cuda or cuda:N")
    p.add_argument("--resume", action="store_true", default=None,
                   help="continue the run in --out from its checkpoint")
    p.add_argument("--checkpoint-every-steps", type=int,
                   help="checkpoint mid-epoch too (resume continues at that batch)")
    p.add_argument("--seed", type=int)
    p.add_argument("--workers", type=int)
    p.add_argument("--resident", action=argparse.BooleanOptionalAction, default=None,
                   help="preload crops on the device and augment there")
    p.add_argument("--rotate-deg", type=float,
                   help="resident: in-plane rotation up to this angle, labels composed exactly")
    p.add_argument("--val-dataset", choices=[""] + _dataset_names())
    p.add_argument("--val-data")
    p.add_argument("--val-fraction", type=float)
    p.add_argument("--val-every-steps", type=int)
    p.add_argument("--max-samples", type=int)
    p.add_argument("--imagenet-weights", help="local torchvision .pth (optional)")
    p.add_argument("--init-from", help="model folder whose weights start the run")
    p.add_argument("--distill-from", help="teacher model folder(s) or built-in model names "
                   "(e.g. large), comma-separated")
    p.add_argument("--distill-weight", type=float, help="weight of the distillation KL")
    p.add_argument("--crop-margin", type=float, help="Hopenet margin k (eval)")
    p.add_argument("--channels-last", action="store_true", default=None)
    p.add_argument("--autocast", choices=AUTOCAST_MODES,
                   help="bf16 forward pass: auto (on CUDA only), bf16 (also on the CPU: worth it "
                        "with AMX for ResNets, not for MobileNets), off")
    p.add_argument("--pad-frac", type=float,
                   help="crops: black border per side, fraction of the crop")
    p.add_argument("--label-columns",
                   help="crops: CSV columns for yaw,pitch,roll, e.g. "
                        "yaw_annotated,pitch_teacher,roll_teacher")
    p.add_argument("--file-list", help="text file of sample names to use")
    p.add_argument("--mix-data",
                   help="second training source mixed in: a folder (e.g. of `gldpose synth` "
                        "renders) or synth:COUNT[:SEED[:DIST]] to render it on first use")
    p.add_argument("--mix-dataset", choices=_dataset_names())
    p.add_argument("--mix-fraction", type=float, help="share of each epoch from --mix-data")
    p.add_argument("--yaw-balance", type=float,
                   help="0-1: draw the training crops weighted by their |yaw| band's count to "
                        "this negative power (1: every 10-degree band equally often)")
    p.add_argument("--save-half", action=argparse.BooleanOptionalAction, default=None,
                   help="store the kept weights as fp16")
    p.add_argument("--keep", choices=KEEP_RULES,
                   help="weights the run folder keeps: best (lowest validation MAE) or last")
    return p


# flag name -> TrainConfig field, where they differ
_RENAMED = {"out": "out_dir", "input_size": "input_size_px", "crop_margin": "crop_margin_k"}
_LOSS_FLAGS = {"loss": "name", "alpha": "alpha", "sigma": "sigma_bins",
               "label_form": "label_form", "binned_centre": "binned_centre"}


def config_from_args(args: argparse.Namespace):
    """Map parsed ``gldpose train`` arguments to a :class:`TrainConfig` (the one place).

    Start from ``--recipe`` (or TrainConfig's defaults) and override each field given.
    """
    from gldpose_train.config import TrainConfig
    from gldpose_train.recipes import config_from_recipe

    given = {k: v for k, v in vars(args).items() if v is not None and k != "recipe"}
    fields: dict = {}
    loss = {_LOSS_FLAGS[k]: given.pop(k) for k in list(given) if k in _LOSS_FLAGS}
    if loss:
        fields["loss"] = loss
    if "rotate_deg" in given:
        fields["resident_augment"] = {"rotate_deg": given.pop("rotate_deg")}
    for key in ("label_columns", "distill_from"):
        if key in given:
            given[key] = tuple(c for c in given[key].split(",") if c)
    for key, value in given.items():
        fields[_RENAMED.get(key, key)] = value
    if args.recipe:
        return config_from_recipe(args.recipe, **fields)
    if "dataset" not in fields:
        raise ValueError("give --dataset (or a --recipe that sets it)")
    return TrainConfig.from_dict(fields)


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
    p = argparse.ArgumentParser(prog="gldpose eval", description="Evaluate a model folder: the "
                                "paper's protocol (--dataset/--data, Hopenet's crop), or as "
                                "deployed (--on: the model's own crop rule, std coverage).")
    p.add_argument("--checkpoint", required=True, help="model folder (manifest + safetensors)")
    p.add_argument("--dataset", choices=_dataset_names())
    p.add_argument("--data")
    p.add_argument("--on", action="append", default=[], type=_eval_set_arg,
                   help="NAME=DATASET:PATH[:SPLIT], repeatable: evaluate as deployed")
    p.add_argument("--flip", action="store_true", help="--on: also flip-averaged rows")
    p.add_argument("--against", default="", help="--on: another model (folder or built-in "
                   "name) on the same faces: A - B per angle with 95%% paired bootstrap "
                   "intervals, all faces and |yaw| >= 60")
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

        from gldpose_sdk.builtin_models import resolve_model

        args = _eval_parser().parse_args(argv)
        model, manifest = load_model(resolve_model(args.checkpoint), args.device)
        if args.against and not args.on:
            raise ValueError("--against compares on the --on sets: give --on too")
        if args.on:
            return _eval_deployed(model, manifest, args)
        if not (args.dataset and args.data):
            raise ValueError("give --dataset and --data, or --on NAME=DATASET:PATH[:SPLIT]")
        opts = DatasetOptions(crop_margin_k=args.crop_margin, max_samples=args.max_samples or None)
        data = build_dataset(args.dataset, args.data, split=args.split, train=False,
                             input_size_px=manifest.input.size_px, options=opts)
        if getattr(data, "crop_rule", manifest.crop) != manifest.crop:
            _LOG.warning("dataset crop %s differs from the model's training crop %s",
                         data.crop_rule, manifest.crop)
        pred, true = predict_dataset(model, data, manifest.bins, args.device, args.batch_size,
                                     args.workers, expectation_map=manifest.expectation_map)
        result = write_report(pred, true, Path(args.json) if args.json else None,
                              Path(args.plot) if args.plot else None,
                              f"{manifest.backbone} on {args.dataset}")
        print(format_table(result, args.dataset))
        return 0
    return _run(go, argv)


def _eval_deployed(model, manifest, args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from gldpose_sdk.builtin_models import resolve_model
    from gldpose_sdk.model import load_model
    from gldpose_train.model_eval import (format_paired, format_results, paired_difference,
                                          prediction_report, predictions)

    other = load_model(resolve_model(args.against), args.device) if args.against else None
    results, paired = {}, {}
    for evalset in args.on:
        for flip in ((False, True) if args.flip else (False,)):
            mode = "flip" if flip else "plain"
            key = f"{Path(args.checkpoint).name}|{evalset.name}|{mode}"
            pred, raw_std, true = predictions(model, manifest, evalset, flip, args.device)
            results[key] = prediction_report(pred, raw_std, true, manifest, evalset.name, flip)
            if other is not None:
                pred_b, _, true_b = predictions(*other, evalset, flip, args.device)
                if not np.array_equal(true, true_b):
                    raise ValueError(f"{evalset.name}: the two models read different labels "
                                     "(not the same faces); cannot pair them")
                pair = f"{Path(args.checkpoint).name} - {Path(args.against).name}"
                paired[f"{pair}|{evalset.name}{' +flip' if flip else ''}"] = \
                    paired_difference(pred, pred_b, true)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {**results, **({"paired": paired} if paired else {})}, indent=2, sort_keys=True))
    print(format_results(results))
    if paired:
        print(format_paired(paired))
    for key, r in results.items():
        raw = [r["raw_std"][a]["within_1std"] for a in ("yaw", "pitch", "roll")]
        lines = [f"raw {'/'.join(f'{v:.0%}' for v in raw)}"]
        if "calibrated_std" in r:
            lines.append("calibrated " + "/".join(
                f"{v:.0%}" for v in r["calibrated_std"]["within_1std"]))
        print(f"{key}: errors within 1 std (yaw/pitch/roll): {', '.join(lines)}")
    return 0


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


def _eval_set_arg(text: str):
    from gldpose_train.model_eval import parse_eval_set

    try:
        return parse_eval_set(text)
    except GldposeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def calibrate_main(argv: list[str]) -> int:
    """``gldpose calibrate``: fit the std calibration on held-out data, store it in the manifest."""
    def go(argv: list[str]) -> int:
        import dataclasses

        import numpy as np

        from gldpose_sdk.manifest import write_manifest
        from gldpose_sdk.model import load_model
        from gldpose_train.calibration import coverage, describe, fit_calibration
        from gldpose_train.losses import decode_map, loss_of_training
        from gldpose_train.model_eval import predictions

        p = argparse.ArgumentParser(
            prog="gldpose calibrate", description="Fit a per-angle map from the raw predicted "
            "std to a 1-sigma band (68% of errors) on held-out data and store it in the model's "
            "manifest.")
        p.add_argument("--model", required=True, help="model folder (manifest + safetensors)")
        p.add_argument("--on", required=True, type=_eval_set_arg,
                       help="held-out set NAME=DATASET:PATH[:SPLIT], e.g. "
                            "val=crops:../shared/data/aflw-crops:val")
        p.add_argument("--check", type=_eval_set_arg, action="append", default=[],
                       help="further sets to report coverage on (repeatable)")
        p.add_argument("--expectation-map", choices=("keep", "training", "none"),
                       default="keep",
                       help="the decode's expectation map first: keep the manifest's, derive "
                            "it from the manifest's training loss (GLD's cut-off target; "
                            "none for Hopenet's), or drop it; the std is then fitted on the "
                            "angles that map gives")
        args = p.parse_args(argv)
        model, manifest = load_model(args.model)
        if args.expectation_map != "keep":
            angle_map = (decode_map(loss_of_training(manifest.training), manifest.bins)
                         if args.expectation_map == "training" else None)
            manifest = dataclasses.replace(manifest, expectation_map=angle_map)
            print(f"expectation map: {angle_map.source if angle_map else 'none'}")
        pred, raw_std, true = predictions(model, manifest, args.on)
        err = np.abs(pred.astype(np.float64) - true)
        cal = fit_calibration(raw_std, err, fitted_on=f"{args.on.name}: {args.on.dataset} "
                              f"{args.on.data} {args.on.split or ''}".strip())
        write_manifest(args.model, dataclasses.replace(manifest, calibration=cal))
        print(describe(cal))
        for evalset in [args.on, *args.check]:
            p2, s2, t2 = ((pred, raw_std, true) if evalset is args.on
                          else predictions(model, manifest, evalset))   # the fit set once
            cov = coverage(cal, s2, np.abs(p2.astype(np.float64) - t2))
            one = "/".join(f"{v:.1%}" for v in cov["within_1std"])
            two = "/".join(f"{v:.1%}" for v in cov["within_2std"])
            where = " (in-sample)" if evalset is args.on else ""
            print(f"{evalset.name}{where}: yaw/pitch/roll within 1 std {one}, within 2 {two}")
        return 0
    return _run(go, argv)


def soup_main(argv: list[str]) -> int:
    """``gldpose soup``: the uniform weight average of model folders fine-tuned from one start."""
    def go(argv: list[str]) -> int:
        from gldpose_train.soup import average_model_folders

        p = argparse.ArgumentParser(
            prog="gldpose soup", description="Average the weights of model folders fine-tuned "
            "from the same start into one model folder (no calibration: run `gldpose calibrate` "
            "on it).")
        p.add_argument("--out", required=True, type=Path, help="model folder to write")
        p.add_argument("members", nargs="+", type=Path, help="model folders to average")
        args = p.parse_args(argv)
        manifest = average_model_folders(args.members, args.out)
        print(f"{args.out}: {manifest.training.notes}; calibrate it before use "
              f"(gldpose calibrate --model {args.out} --on NAME=DATASET:PATH[:SPLIT])")
        return 0
    return _run(go, argv)


def ablate_main(argv: list[str]) -> int:
    """``gldpose ablate``: train variants of a recipe and compare them on evaluation sets."""
    def go(argv: list[str]) -> int:
        from gldpose_train.ablation import parse_assignments, parse_variant, run_ablation
        from gldpose_train.model_eval import format_results

        p = argparse.ArgumentParser(prog="gldpose ablate", description=(
            "Train variants of a recipe under the same settings and compare them."))
        p.add_argument("--recipe", required=True)
        p.add_argument("--data", required=True)
        p.add_argument("--out", required=True, type=Path)
        p.add_argument("--set", action="append", default=[],
                       help="KEY=VALUE[,...] applied to every variant (dotted keys for nested)")
        p.add_argument("--variant", action="append", required=True,
                       help="NAME[:KEY=VALUE,...] (repeatable)")
        p.add_argument("--eval", action="append", required=True, type=_eval_set_arg,
                       help="NAME=DATASET:PATH[:SPLIT] (repeatable)")
        p.add_argument("--no-flip", action="store_true", help="skip the flip-averaged rows")
        p.add_argument("--parallel", type=int, default=1,
                       help="train up to N variants at once, each in its own process logging "
                            "to OUT/NAME.log (several small runs on one GPU)")
        args = p.parse_args(argv)
        common: dict = {}
        for text in args.set:
            for key, value in parse_assignments(text).items():
                common[key] = value
        results = run_ablation(args.recipe, args.data, args.out,
                               [parse_variant(v) for v in args.variant], common, args.eval,
                               flip=not args.no_flip, parallel=args.parallel)
        print(format_results(results))
        return 0
    return _run(go, argv)


def label_noise_main(argv: list[str]) -> int:
    """``gldpose label-noise``: annotation noise from near-duplicate entries, and a model beside it."""
    def go(argv: list[str]) -> int:
        import json

        from gldpose_train.label_noise import (dataset_thumbnails, near_duplicate_pairs,
                                               pair_label_noise)
        from gldpose_train.model_eval import load_eval_dataset, predictions

        p = argparse.ArgumentParser(prog="gldpose label-noise", description=(
            "How noisy a set's labels are: entries that show the same photo (32x32 grey "
            "cosine >= --threshold) were labelled twice; their label difference is annotation "
            "noise. With --model, the model's error on the same pairs beside it."))
        p.add_argument("--on", required=True, type=_eval_set_arg,
                       help="NAME=DATASET:PATH[:SPLIT], e.g. val=crops:../shared/data/aflw-crops:train")
        p.add_argument("--model", default="", help="model folder to score on the same pairs")
        p.add_argument("--threshold", type=float, default=0.99)
        p.add_argument("--json", default="", help="write the figures per angle")
        args = p.parse_args(argv)
        manifest = pred = None
        if args.model:
            from gldpose_sdk.model import load_model

            model, manifest = load_model(args.model)
            pred, _, _ = predictions(model, manifest, args.on)
        dataset = load_eval_dataset(args.on, manifest)
        pairs = near_duplicate_pairs(dataset_thumbnails(dataset), args.threshold)
        labels = dataset.angles_deg()
        report = {angle: pair_label_noise(labels[:, k], pairs,
                                          None if pred is None else pred[:, k].astype(float))
                  for k, angle in enumerate(("yaw", "pitch", "roll"))}
        print(f"{args.on.name}: {len(pairs)} near-duplicate pairs among {len(dataset)} entries "
              f"(cosine >= {args.threshold})")
        for angle, r in report.items():
            line = (f"  {angle}: labels differ by {r['label_diff_mae']:.2f} (median "
                    f"{r['label_diff_median']:.2f}), noise std {r['noise_std']:.2f}")
            if "model_mae" in r:
                line += (f"; model {r['model_mae']:.2f} against one label, "
                         f"{r['model_mae_pair_mean']:.2f} against the pair's mean, its two "
                         f"predictions differ by {r['model_pair_diff_mae']:.2f}")
            print(line)
        if args.json:
            Path(args.json).write_text(json.dumps(
                {"set": args.on.__dict__, "threshold": args.threshold, "model": args.model,
                 "angles": report}, indent=2, sort_keys=True))
        return 0
    return _run(go, argv)


def compare_main(argv: list[str]) -> int:
    """``gldpose compare``: the model on every runtime/precision beside the peers."""
    def go(argv: list[str]) -> int:
        import json

        from gldpose_train.runtime_compare import compare, format_comparison

        p = argparse.ArgumentParser(prog="gldpose compare", description=(
            "Validation accuracy and speed of a model folder on every runtime and precision "
            "the SDK has here, beside the FSA-Net and OMZ peers, on the AFLW crops."))
        p.add_argument("--model", required=True, type=Path)
        p.add_argument("--data", required=True, type=Path, help="the aflw-crops folder")
        p.add_argument("--peers", type=Path, help="the peers folder (default: DATA/../peers)")
        p.add_argument("--no-peers", action="store_true")
        p.add_argument("--limit", type=int, default=0, help="use only the first N val crops")
        p.add_argument("--json", type=Path, help="write the results here")
        args = p.parse_args(argv)
        peers = None if args.no_peers else (args.peers or args.data.parent / "peers")
        results = compare(args.model, args.data, peers, args.limit)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=2, sort_keys=True))
        print(format_comparison(results))
        return 0
    return _run(go, argv)
