"""Train the default model (and the variants it was chosen from) on the AFLW crops.

Retrain the shipped default from scratch (GPU recommended; CPU works, slowly):

    python scripts/train_default_model.py --data ../shared/data/aflw-crops --variants default \
        --epochs 23 --out runs/default_model

(``default`` is ``mnv3l_gld_s4_a0``; the shipped weights ran 23 epochs on an H200 in 248 s.)

Run the whole comparison grid in parallel on one GPU, with a wall-clock budget per run:

    python scripts/train_default_model.py --data ../shared/data/aflw-crops --variants all \
        --parallel 10 --time-budget-s 300 --out runs/default_grid

``--data`` may also be a pack made earlier (``.npz`` from ``gldpose_train.crops_pack``).
Each variant writes ``OUT/NAME/`` (model.safetensors fp16 + manifest.json + history.json);
``OUT/results.json`` collects every variant's validation table.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

# (backbone, loss, alpha, sigma_bins, yaw label column)
VARIANTS: dict[str, tuple[str, str, float, float, str]] = {
    "effb0_gld_s4": ("efficientnet_b0", "gld", 0.01, 4.0, "yaw_annotated"),
    "mnv3l_gld_s2": ("mobilenet_v3_large", "gld", 0.01, 2.0, "yaw_annotated"),
    "mnv3l_gld_s4_a0": ("mobilenet_v3_large", "gld", 0.0, 4.0, "yaw_annotated"),
    "mnv3l_gld_s4_a0.01": ("mobilenet_v3_large", "gld", 0.01, 4.0, "yaw_annotated"),
    "mnv3l_gld_s4_teacher_yaw": ("mobilenet_v3_large", "gld", 0.01, 4.0, "yaw_teacher"),
    "mnv3l_gld_s6": ("mobilenet_v3_large", "gld", 0.01, 6.0, "yaw_annotated"),
    "mnv3l_hopenet_a1": ("mobilenet_v3_large", "hopenet", 1.0, 4.0, "yaw_annotated"),
    "mnv3s_gld_s4": ("mobilenet_v3_small", "gld", 0.01, 4.0, "yaw_annotated"),
    "resnet18_gld_s4": ("resnet18", "gld", 0.01, 4.0, "yaw_annotated"),
    "resnet50_gld_s4": ("resnet50", "gld", 0.01, 4.0, "yaw_annotated"),
}
DEFAULT_VARIANT = "mnv3l_gld_s4_a0"   # the shipped model, chosen on the validation split
INPUT_SIZE_PX = 96
# The AFLW crops are 3DDFA ROI boxes: a square of side sqrt(2) * max(w, h) of the landmark box,
# about the box centre. sqrt(2) = 1 + 2 * 0.2071.
LANDMARK_BOX_TO_CROP = dict(left_frac=0.2071, top_frac=0.2071, right_frac=0.2071,
                            bottom_frac=0.2071, square=True)


def _pack(data: Path, out_dir: Path) -> Path:
    from gldpose_train.crops_pack import pack_crops

    if data.suffix == ".npz":
        return data
    pack = out_dir / f"crops{INPUT_SIZE_PX}.npz"
    if not pack.is_file():
        pack_crops(data / "labels.csv", data / "images.tar", pack, INPUT_SIZE_PX, quality=90)
    return pack


def run_variant(name: str, pack: Path, out_dir: Path, epochs: int, budget_s: float,
                device: str, seed: int) -> dict:
    """Train one variant in this process and return its summary."""
    from gldpose_sdk.manifest import CropRule, InputSpec
    from gldpose_train.crops_pack import load_packed
    from gldpose_train.losses import LossConfig
    from gldpose_train.preloaded import PreloadedTrainConfig, train_preloaded

    backbone, loss, alpha, sigma, yaw_col = VARIANTS[name]
    train = load_packed(pack, "train", yaw_col)
    val = load_packed(pack, "val", yaw_col)
    cfg = PreloadedTrainConfig(
        out_dir=str(out_dir / name), backbone=backbone,
        loss=LossConfig(name=loss, alpha=alpha, sigma_bins=sigma), epochs=epochs,
        time_budget_s=budget_s, seed=seed, device=device,
        dataset_name=f"aflw-crops train split ({len(train.names)} crops; yaw {yaw_col}, "
                     "pitch/roll FSA-Net teacher)",
        notes=f"variant {name};")
    Path(cfg.out_dir).mkdir(parents=True, exist_ok=True)
    return train_preloaded(cfg, train, val, InputSpec(size_px=INPUT_SIZE_PX),
                           CropRule(**LANDMARK_BOX_TO_CROP))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="aflw-crops folder or a pack")
    parser.add_argument("--out", type=Path, default=Path("runs/default_model"))
    parser.add_argument("--variants", default="default", help=f"comma list or 'all': "
                        f"{', '.join(sorted(VARIANTS))}")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--time-budget-s", type=float, default=0.0)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    names = sorted(VARIANTS) if args.variants == "all" else [
        DEFAULT_VARIANT if n == "default" else n for n in args.variants.split(",")]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {sorted(VARIANTS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    pack = _pack(args.data, args.out)
    if len(names) == 1 or args.parallel <= 1:
        results = {n: run_variant(n, pack, args.out, args.epochs, args.time_budget_s,
                                  args.device, args.seed) for n in names}
    else:
        results = _run_parallel(names, pack, args)
    summary = {n: {"best": r["best"], "epochs_run": r["epochs_run"], "seconds": r["seconds"],
                   "train_images_per_s": r["train_images_per_s"],
                   "variant": dict(zip(("backbone", "loss", "alpha", "sigma_bins", "yaw_label"),
                                       VARIANTS[n]))}
               for n, r in results.items()}
    (args.out / "results.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    for n, s in sorted(summary.items(), key=lambda kv: kv[1]["best"]["mae"]):
        b = s["best"]
        print(f"{n:28s} MAE {b['mae']:.2f}  yaw {b['yaw']:.2f} pitch {b['pitch']:.2f} "
              f"roll {b['roll']:.2f}  epoch {b['epoch']}/{s['epochs_run']} {s['seconds']:.0f}s")
    return 0


def _run_parallel(names: list[str], pack: Path, args: argparse.Namespace) -> dict:
    """One subprocess per variant, at most ``--parallel`` at once, sharing the device."""
    pending, running, results = list(names), {}, {}
    while pending or running:
        while pending and len(running) < args.parallel:
            n = pending.pop(0)
            cmd = [sys.executable, __file__, "--data", str(pack), "--out", str(args.out),
                   "--variants", n, "--epochs", str(args.epochs), "--time-budget-s",
                   str(args.time_budget_s), "--device", args.device, "--seed", str(args.seed)]
            log = open(args.out / f"{n}.log", "w")
            running[n] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)
        for n, (proc, log) in list(running.items()):
            if proc.poll() is not None:
                log.close()
                del running[n]
                hist = args.out / n / "history.json"
                if proc.returncode == 0 and hist.is_file():
                    results[n] = json.loads(hist.read_text())
                else:
                    print(f"variant {n} failed (exit {proc.returncode}); see {n}.log")
        time.sleep(1.0)
    return results


if __name__ == "__main__":
    sys.exit(main())
