"""Does mixing synthetic renders into training help the default model at large poses?

Fine-tunes the shipped default model twice from the same start for the same number of epochs
over the real crops: on the real training crops alone, and with renders (uniform pose
distribution, cropped like the AFLW crops) making up ``--mix-fraction`` of each epoch. Reports
validation MAE overall and by |yaw| band for the start model and both runs (CPU; ~20 min):

    python scripts/finetune_with_renders.py --data ../shared/data/aflw-crops --out runs/mix
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_default_model import INPUT_SIZE_PX, LANDMARK_BOX_TO_CROP  # noqa: E402

from gldpose_sdk.default_model import default_model_dir  # noqa: E402
from gldpose_sdk.manifest import CropRule, InputSpec  # noqa: E402
from gldpose_sdk.model import load_model  # noqa: E402
from gldpose_sdk.preprocess import prepare_crop  # noqa: E402
from gldpose_train.crops_pack import load_packed, pack_crops  # noqa: E402
from gldpose_train.datasets import DatasetOptions, build_dataset  # noqa: E402
from gldpose_train.evaluate import mae_by_yaw_band, mae_table  # noqa: E402
from gldpose_train.losses import LossConfig  # noqa: E402
from gldpose_train.preloaded import (  # noqa: E402
    CropArrays, PreloadedTrainConfig, predict_angles, train_preloaded)


def render_arrays(folder: Path, count: int, seed: int) -> CropArrays:
    """Uniform-pose renders, cropped from their landmark box like the AFLW (3DDFA) crops."""
    if not (folder / "files.txt").is_file():
        subprocess.run([sys.executable, "-m", "gldpose_cli", "synth", "--out", str(folder),
                        "--count", str(count), "--pose-dist", "uniform", "--seed", str(seed),
                        "--size", "160"], check=True)
    data = build_dataset("synthetic", folder, train=False, input_size_px=INPUT_SIZE_PX,
                         options=DatasetOptions())
    rule = CropRule(**LANDMARK_BOX_TO_CROP)
    crops = np.stack([prepare_crop(*data.sample(i), rule, INPUT_SIZE_PX)
                      for i in range(len(data))])
    angles = data.angles_deg().astype(np.float32)
    return CropArrays(crops, angles, angles, data.names)


def concat(a: CropArrays, b: CropArrays) -> CropArrays:
    return CropArrays(np.concatenate([a.images, b.images]),
                      np.concatenate([a.angles_deg, b.angles_deg]),
                      np.concatenate([a.eval_angles_deg, b.eval_angles_deg]), a.names + b.names)


def report(model_dir: Path, val: CropArrays) -> dict:
    model, manifest = load_model(model_dir)
    pred = predict_angles(model, torch.from_numpy(val.images), manifest.input, manifest.bins)
    return {**mae_table(pred, val.eval_angles_deg),
            "bands": mae_by_yaw_band(pred, val.eval_angles_deg)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="aflw-crops folder")
    parser.add_argument("--out", type=Path, default=Path("runs/mix"))
    parser.add_argument("--renders", type=int, default=4000)
    parser.add_argument("--mix-fraction", type=float, default=0.2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--json", type=Path, default=Path("docs/results/default_model/mix.json"))
    parser.add_argument("--start", type=Path, default=None,
                        help="model folder to start from (default: the shipped default model)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    pack = args.out / f"crops{INPUT_SIZE_PX}.npz"
    if not pack.is_file():
        pack_crops(args.data / "labels.csv", args.data / "images.tar", pack, INPUT_SIZE_PX)
    train, val = load_packed(pack, "train"), load_packed(pack, "val")
    renders = render_arrays(args.out / "renders", args.renders, seed=21)
    n_renders = int(round(len(train.names) * args.mix_fraction / (1 - args.mix_fraction)))
    pick = np.random.default_rng(0).choice(len(renders.names), min(n_renders,
                                                                   len(renders.names)), False)
    renders = CropArrays(renders.images[pick], renders.angles_deg[pick],
                         renders.eval_angles_deg[pick], [renders.names[i] for i in pick])
    start = args.start or default_model_dir()
    results = {"start (shipped model)": report(start, val)}
    base = PreloadedTrainConfig(out_dir="", backbone="mobilenet_v3_large", epochs=args.epochs,
                                dataset_name=f"aflw-crops train split ({len(train.names)} crops; "
                                "yaw annotated, pitch/roll FSA-Net teacher)",
                                lr=args.lr, warmup_epochs=0.2, device="cpu", batch_size=128,
                                loss=LossConfig(alpha=0.0), init_from=str(start))
    for name, data in (("real only", train), (f"real + {100 * args.mix_fraction:.0f}% renders",
                                              concat(train, renders))):
        run = args.out / name.replace(" ", "_").replace("%", "pct").replace("+", "plus")
        # both runs see every real crop `epochs` times; the second also sees the renders
        cfg = dataclasses.replace(base, out_dir=str(run), notes=name)
        run.mkdir(parents=True, exist_ok=True)
        if not (run / "history.json").is_file():
            train_preloaded(cfg, data, val, InputSpec(size_px=INPUT_SIZE_PX),
                            CropRule(**LANDMARK_BOX_TO_CROP))
        results[name] = report(run, val)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"command": " ".join(sys.argv), "renders": len(renders.names),
                                     "results": results}, indent=2, sort_keys=True))
    for name, r in results.items():
        b = r["bands"]
        print(f"{name:28s} MAE {r['mae']:.2f} yaw {r['yaw']:.2f} pitch {r['pitch']:.2f} "
              f"roll {r['roll']:.2f} | yaw by band {b['0-30']['yaw']:.2f} "
              f"{b['30-60']['yaw']:.2f} {b['60-99']['yaw']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
