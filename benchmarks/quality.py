"""Quality flag (``Pose.is_reliable``): how often it fires on good and on bad inputs.

The model runs once per condition through :class:`gldpose_sdk.PoseEstimator` exactly as an
application calls it; every threshold setting is then evaluated on the recorded measures (the
std of each angle, the share of the crop inside the frame, brightness and contrast: the values
each ``Pose`` carries), with the same rule as ``gldpose_sdk.inference`` (a pose is unreliable
when any check fails; the script checks that its offline rule reproduces the SDK's own flags).

Conditions, on the 883 validation crops of ``../shared/data/aflw-crops`` (research use only;
nothing is copied into the repository):

* ``good``: the crops as they are (``estimate_crops``);
* ``box in frame``: each crop as a frame with the tight box whose crop is the whole frame
  (``estimate(frame, boxes)``; the control of the next one);
* ``partly out of frame``: the same box shifted off the frame edge (left, right, top, bottom in
  turn) by 10-50% of the crop's side (uniform), so 50-90% of the crop lies inside;
* ``mostly out of frame``: shifted by 60%, so 40% of the crop lies inside;
* ``dark``: ``255 * 0.35 * (x/255)^2.5`` (an underexposed face);
* ``blurred``: Gaussian blur, sigma 5 px on the 120 px crop;
* non-faces: ``tile-shuffled`` crops (4x4 tiles of each face in random order), smooth random
  ``textures`` and flat patches, and ``background`` patches of the shipped sample frames away
  from the heads.

Labels: yaw is the human AFLW annotation, pitch and roll the FSA-Net teacher's. A pose of a
labelled face is *wrong* when one of its angles is off by more than ``--wrong-deg`` (25). For
each setting of :class:`~gldpose_sdk.config.QualityThresholds` the report gives the share
flagged per condition, the share of wrong poses flagged and of right poses kept (over every
labelled condition), the share of non-faces flagged, and the mean absolute error of the poses
flagged reliable and unreliable. The suggested setting flags at most ``--max-good-flagged`` of
the good crops and, among those, has the lowest cost: ``--wrong-cost`` (4) for each wrong pose
or non-face left reliable, plus 1 for each right pose flagged (a robot that trusts a wrong
pose pays more than one that waits for the next frame); ties go to the more lenient setting.
A table goes to stdout, everything to ``--json``, and the summary to ``--doc``
(docs/results/quality.md). Re-run it in one command whenever the default model changes:

    python benchmarks/quality.py [--data ../shared/data/aflw-crops] [--model DIR] [--quick]
                                 [--json runs/benchmarks/quality.json] [--doc FILE]
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import bench_common as bc
import cv2
import numpy as np

from gldpose_sdk import PoseEstimator
from gldpose_sdk.config import EstimatorConfig, QualityThresholds
from gldpose_sdk.manifest import read_manifest
from gldpose_train.runtime_compare import load_val_crops

REPO = bc.REPO_ROOT
SAMPLES = REPO / "sdk" / "gldpose_sdk" / "samples"
SHIFT_FRAC = 0.6
PARTLY_SHIFT = (0.1, 0.5)
BATCH = 64
#: Threshold grid: max std (the same for yaw, pitch, roll), min inside share, min brightness,
#: min contrast.
GRID = {"max_std_deg": (14.0, 16.0, 18.0, 20.0, 22.0, 25.0, 30.0),
        "min_inside_frac": (0.5, 0.6, 0.7, 0.8, 0.9),
        "min_brightness": (0.03, 0.05, 0.08, 0.1, 0.12, 0.15),
        "min_contrast": (0.02, 0.04, 0.06, 0.08)}


@dataclass
class Measured:
    """What the SDK returned for one condition (N inputs)."""

    name: str
    is_face: bool
    angles: np.ndarray          # [N, 3] degrees
    std: np.ndarray             # [N, 3] degrees (calibrated when the manifest has one)
    inside: np.ndarray          # [N]
    brightness: np.ndarray      # [N]
    contrast: np.ndarray        # [N]
    sdk_reliable: np.ndarray    # [N] bool, under the estimator's own thresholds
    labels: np.ndarray | None   # [N, 3] or None (non-faces)


def _measured(name: str, is_face: bool, poses: list[Any],
              labels: np.ndarray | None) -> Measured:
    return Measured(
        name, is_face, np.array([p.angles_deg for p in poses]),
        np.array([p.std_deg for p in poses]),
        np.array([p.quality.inside_frame_frac for p in poses]),
        np.array([p.quality.brightness for p in poses]),
        np.array([p.quality.contrast for p in poses]),
        np.array([p.is_reliable for p in poses]), labels)


def run_crops(est: PoseEstimator, crops: list[np.ndarray]) -> list[Any]:
    """``estimate_crops`` in batches."""
    return [p for i in range(0, len(crops), BATCH) for p in est.estimate_crops(crops[i:i + BATCH])]


def whole_crop_box(est: PoseEstimator, side_px: int) -> tuple[float, float, float, float]:
    """The tight box whose crop (the manifest's crop rule) is the whole ``side_px`` square."""
    rule = est.manifest.crop
    w = side_px / (1 + rule.left_frac + rule.right_frac)
    h = side_px / (1 + rule.top_frac + rule.bottom_frac)
    x0, y0 = rule.left_frac * w, rule.top_frac * h
    return x0, y0, x0 + w, y0 + h


def run_boxes(est: PoseEstimator, crops: list[np.ndarray],
              shift_frac: Callable[[], float]) -> list[Any]:
    """Each crop as a frame, its whole-crop box shifted off an edge by ``shift_frac()``."""
    poses = []
    for i, crop in enumerate(crops):
        x0, y0, x1, y1 = whole_crop_box(est, crop.shape[0])
        d = shift_frac() * crop.shape[0]
        dx, dy = ((-d, 0), (d, 0), (0, -d), (0, d))[i % 4]
        poses += est.estimate(crop, boxes=[(x0 + dx, y0 + dy, x1 + dx, y1 + dy)])
    return poses


def darken(crop: np.ndarray) -> np.ndarray:
    """An underexposed face: gamma 2.5 and gain 0.35."""
    lut = (255.0 * 0.35 * (np.arange(256) / 255.0) ** 2.5).astype(np.uint8)
    return cv2.LUT(crop, lut)


def blur(crop: np.ndarray) -> np.ndarray:
    """Heavy Gaussian blur (sigma 5 px on a 120 px crop)."""
    return cv2.GaussianBlur(crop, (0, 0), 5.0)


def tile_shuffle(crop: np.ndarray, rng: np.random.Generator, tiles: int = 4) -> np.ndarray:
    """The crop's 4x4 tiles in random order: a face's colours without its structure."""
    side = crop.shape[0] // tiles * tiles
    t = side // tiles
    blocks = [crop[r * t:(r + 1) * t, c * t:(c + 1) * t] for r in range(tiles)
              for c in range(tiles)]
    order = rng.permutation(len(blocks))
    rows = [np.concatenate([blocks[order[r * tiles + c]] for c in range(tiles)], axis=1)
            for r in range(tiles)]
    return np.concatenate(rows, axis=0)


def textures(n: int, rng: np.random.Generator, side: int = 120) -> list[np.ndarray]:
    """Smooth random colour noise at several scales, with every fifth patch nearly flat."""
    out = []
    for i in range(n):
        cells = int(rng.choice([2, 4, 8, 16, 32]))
        small = rng.uniform(0, 255, (cells, cells, 3))
        image = cv2.resize(small, (side, side), interpolation=cv2.INTER_CUBIC)
        if i % 5 == 4:  # a plain wall: almost no contrast
            image = np.full((side, side, 3), rng.uniform(20, 235, 3)) \
                + rng.normal(0, 2, image.shape)
        out.append(np.clip(image, 0, 255).astype(np.uint8))
    return out


def background_patches(est: PoseEstimator, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Square patches of the sample frames that do not touch a head (from poses.json)."""
    heads = json.loads((SAMPLES / "poses.json").read_text())
    frames = []
    for path in sorted(SAMPLES.glob("frame_*.jpg")):
        boxes = [h["box"] for f in heads.get("frames", []) if f.get("file") == path.name
                 for h in f["heads"]]
        boxes += [p.box for p in est.estimate(cv2.imread(str(path)))]
        frames.append((cv2.imread(str(path)), boxes))
    out, tries = [], 0
    while len(out) < n and tries < 100 * n:
        tries += 1
        frame, boxes = frames[int(rng.integers(len(frames)))]
        side = int(rng.integers(48, 160))
        x = int(rng.integers(0, frame.shape[1] - side))
        y = int(rng.integers(0, frame.shape[0] - side))
        margin = 0.5 * side
        if all(x + side + margin < b[0] or x - margin > b[2] or y + side + margin < b[1]
               or y - margin > b[3] for b in boxes):
            out.append(frame[y:y + side, x:x + side].copy())
    return out


def measure_all(est: PoseEstimator, crops: list[np.ndarray], labels: np.ndarray,
                n_nonface: int, seed: int) -> list[Measured]:
    """Run every condition once."""
    rng = np.random.default_rng(seed)
    runs: list[tuple[str, bool, Callable[[], list[Any]]]] = [
        ("good", True, lambda: run_crops(est, crops)),
        ("box in frame", True, lambda: run_boxes(est, crops, lambda: 0.0)),
        ("partly out of frame", True,
         lambda: run_boxes(est, crops, lambda: float(rng.uniform(*PARTLY_SHIFT)))),
        ("mostly out of frame", True, lambda: run_boxes(est, crops, lambda: SHIFT_FRAC)),
        ("dark", True, lambda: run_crops(est, [darken(c) for c in crops])),
        ("blurred", True, lambda: run_crops(est, [blur(c) for c in crops])),
        ("tile-shuffled", False, lambda: run_crops(est, [tile_shuffle(c, rng) for c in crops])),
        ("textures", False, lambda: run_crops(est, textures(n_nonface, rng))),
        ("background", False, lambda: run_crops(est, background_patches(est, n_nonface, rng))),
    ]
    out = []
    for name, is_face, run in runs:
        start = time.perf_counter()
        m = _measured(name, is_face, run(), labels if is_face else None)
        bc.log_to_stderr(f"  {name:<20} {len(m.angles):>5} inputs  "
                         f"{time.perf_counter() - start:5.1f} s")
        out.append(m)
    return out


def unreliable(m: Measured, t: QualityThresholds) -> np.ndarray:
    """The SDK's rule (``gldpose_sdk.inference.infer_poses``) on recorded measures."""
    return ((m.std > np.asarray(t.max_std_deg)).any(axis=1) | (m.inside < t.min_inside_frac)
            | (m.brightness < t.min_brightness) | (m.contrast < t.min_contrast))


def check_rule(measured: list[Measured], sdk_thresholds: QualityThresholds) -> None:
    """The offline rule must give the SDK's own flags under the SDK's thresholds."""
    for m in measured:
        if not np.array_equal(~unreliable(m, sdk_thresholds), m.sdk_reliable):
            raise SystemExit(f"the offline rule disagrees with Pose.is_reliable on {m.name}: "
                             "update unreliable() to match gldpose_sdk.inference")


def mae(m: Measured, rows: np.ndarray) -> list[float] | None:
    """Yaw, pitch, roll MAE over the selected rows (None when there are none or no labels)."""
    if m.labels is None or not rows.any():
        return None
    return [float(v) for v in np.abs(m.angles[rows] - m.labels[rows]).mean(axis=0)]


def evaluate(measured: list[Measured], t: QualityThresholds, wrong_deg: float,
             wrong_cost: float) -> dict[str, Any]:
    """Share flagged per condition; wrong poses and non-faces caught, right poses kept; cost."""
    per: dict[str, dict[str, Any]] = {}
    wrong_all, flagged_all, nonface_flags = [], [], []
    for m in measured:
        flagged = unreliable(m, t)
        per[m.name] = {"n": int(len(flagged)), "flagged": float(flagged.mean()),
                       "mae_reliable": mae(m, ~flagged), "mae_unreliable": mae(m, flagged)}
        if m.labels is None:
            nonface_flags.append(flagged)
            continue
        wrong = (np.abs(m.angles - m.labels) > wrong_deg).any(axis=1)
        per[m.name].update(wrong=int(wrong.sum()), wrong_flagged=int((wrong & flagged).sum()))
        if m.name != "box in frame":  # the same pixels as "good": counted once
            wrong_all.append(wrong)
            flagged_all.append(flagged)
    wrong, flagged = np.concatenate(wrong_all), np.concatenate(flagged_all)
    nonface = np.concatenate(nonface_flags) if nonface_flags else np.ones(0, bool)
    trusted_bad = int((wrong & ~flagged).sum() + (~nonface).sum())
    right_flagged = int((~wrong & flagged).sum())
    return {"thresholds": dataclasses.asdict(t), "conditions": per,
            "good_flagged": per["good"]["flagged"], "wrong_poses": int(wrong.sum()),
            "wrong_caught": float(flagged[wrong].mean()) if wrong.any() else 1.0,
            "right_kept": float((~flagged[~wrong]).mean()) if (~wrong).any() else 1.0,
            "nonface_flagged": float(nonface.mean()) if nonface.size else 1.0,
            "trusted_bad": trusted_bad, "right_flagged": right_flagged,
            "cost": wrong_cost * trusted_bad + right_flagged}


def grid_settings() -> list[QualityThresholds]:
    """Every setting of :data:`GRID`."""
    return [QualityThresholds(max_std_deg=(s, s, s), min_inside_frac=i, min_brightness=b,
                              min_contrast=c)
            for s, i, b, c in itertools.product(*GRID.values())]


def _leniency(r: dict[str, Any]) -> tuple[float, ...]:
    t = r["thresholds"]
    return (r["good_flagged"], -t["max_std_deg"][0], t["min_inside_frac"], t["min_brightness"],
            t["min_contrast"])


def suggest(results: list[dict[str, Any]], max_good: float) -> dict[str, Any]:
    """Among settings flagging at most ``max_good`` of the good crops, the lowest ``cost``;
    ties go to the setting flagging fewer good crops, then to the more lenient."""
    ok = [r for r in results if r["good_flagged"] <= max_good] or results
    return min(ok, key=lambda r: (r["cost"], *_leniency(r)))


def variants(results: list[dict[str, Any]], best: dict[str, Any]) -> list[dict[str, Any]]:
    """The suggested setting with one threshold moved to each other grid value."""
    key = json.dumps(best["thresholds"], sort_keys=True)
    out = []
    for r in results:
        t, b = r["thresholds"], best["thresholds"]
        differing = [k for k in t if t[k] != b[k]]
        if len(differing) == 1 and json.dumps(t, sort_keys=True) != key:
            out.append(r)
    return out


#: Bins of each measure for the error table (upper edges exclusive).
BINS = {"max_std_deg": (0, 14, 16, 18, 20, 22, 25, 30, 1e9),
        "inside_frac": (0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01),
        "brightness": (0, 0.03, 0.05, 0.08, 0.1, 0.15, 0.2, 1.01),
        "contrast": (0, 0.02, 0.04, 0.06, 0.08, 0.12, 1.01)}


def _values(m: Measured, measure: str) -> np.ndarray:
    return {"max_std_deg": lambda: m.std.max(axis=1), "inside_frac": lambda: m.inside,
            "brightness": lambda: m.brightness, "contrast": lambda: m.contrast}[measure]()


def error_by_bins(measured: list[Measured], wrong_deg: float) -> dict[str, list[dict[str, Any]]]:
    """Per measure and bin, over every labelled condition: poses, share wrong, yaw MAE."""
    labelled = [m for m in measured if m.labels is not None and m.name != "box in frame"]
    out: dict[str, list[dict[str, Any]]] = {}
    for measure, edges in BINS.items():
        values = np.concatenate([_values(m, measure) for m in labelled])
        errors = np.concatenate([np.abs(m.angles - m.labels) for m in labelled])
        rows = []
        for lo, hi in zip(edges[:-1], edges[1:]):
            sel = (values >= lo) & (values < hi)
            if sel.any():
                rows.append({"low": lo, "high": hi, "n": int(sel.sum()),
                             "wrong": float((errors[sel] > wrong_deg).any(axis=1).mean()),
                             "yaw_mae": float(errors[sel, 0].mean())})
        out[measure] = rows
    return out


def percentiles(measured: list[Measured]) -> dict[str, dict[str, list[float]]]:
    """5th, 50th, 95th percentiles of each measure per condition."""
    out = {}
    for m in measured:
        values = {"max_std_deg": m.std.max(axis=1), "inside_frac": m.inside,
                  "brightness": m.brightness, "contrast": m.contrast}
        out[m.name] = {k: [float(np.percentile(v, q)) for q in (5, 50, 95)]
                       for k, v in values.items()}
    return out


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _mae_text(v: list[float] | None) -> str:
    return "-" if v is None else "/".join(f"{x:.1f}" for x in v)


def _setting_text(t: dict[str, Any]) -> str:
    return (f"std<={t['max_std_deg'][0]:g} inside>={t['min_inside_frac']:g} "
            f"bright>={t['min_brightness']:g} contrast>={t['min_contrast']:g}")


def format_tables(report: dict[str, Any]) -> str:
    """The settings table (share flagged per condition) and the chosen setting's MAE table."""
    names = list(report["suggested"]["conditions"])
    head = ("| setting | " + " | ".join(names)
            + " | wrong poses flagged | right poses kept | non-faces flagged | cost |")
    lines = [head, "|" + "---|" * (len(names) + 5)]
    for row in report["shown"]:
        label = _setting_text(row["thresholds"])
        label += " **(suggested)**" if row["thresholds"] == report["suggested"]["thresholds"] \
            else ""
        label += " (SDK now)" if row["thresholds"] == report["sdk_thresholds"] else ""
        lines.append(f"| {label} | " + " | ".join(
            _pct(row["conditions"][n]["flagged"]) for n in names)
            + f" | {_pct(row['wrong_caught'])} | {_pct(row['right_kept'])} | "
            f"{_pct(row['nonface_flagged'])} | {row['cost']:.0f} |")
    lines += ["", "| condition | inputs | flagged | wrong poses (flagged) | "
                  "MAE reliable (yaw/pitch/roll) | MAE unreliable |", "|---|---|---|---|---|---|"]
    for name, c in report["suggested"]["conditions"].items():
        wrong = f"{c['wrong']} ({c['wrong_flagged']})" if "wrong" in c else "-"
        lines.append(f"| {name} | {c['n']} | {_pct(c['flagged'])} | {wrong} | "
                     f"{_mae_text(c['mae_reliable'])} | {_mae_text(c['mae_unreliable'])} |")
    lines += ["", "| condition | max std (deg) | inside share | brightness | contrast |",
              "|---|---|---|---|---|"]
    for name, p in report["percentiles"].items():
        lines.append(f"| {name} | " + " | ".join(
            "{:.2f} / {:.2f} / {:.2f}".format(*p[k])
            for k in ("max_std_deg", "inside_frac", "brightness", "contrast")) + " |")
    lines += ["", "| measure | bin | poses | wrong | yaw MAE |", "|---|---|---|---|---|"]
    for measure, rows in report["error_by_bins"].items():
        for r in rows:
            high = "inf" if r["high"] > 1e8 else f"{r['high']:g}"
            lines.append(f"| {measure} | [{r['low']:g}, {high}) | {r['n']} | "
                         f"{_pct(r['wrong'])} | {r['yaw_mae']:.1f} |")
    return "\n".join(lines)


def summary_text(report: dict[str, Any]) -> str:
    """One paragraph: what the suggested setting does."""
    s = report["suggested"]
    c = s["conditions"]
    degraded = [(n, v) for n, v in c.items() if n not in ("good", "box in frame")
                and v.get("mae_reliable") is not None]
    worst = max(degraded, key=lambda nv: nv[1]["mae_reliable"][0], default=None)
    text = (f"With the suggested thresholds ({_setting_text(s['thresholds'])}), "
            f"{_pct(c['good']['flagged'])} of the good crops are flagged unreliable, and "
            f"{_pct(s['wrong_caught'])} of the wrong poses and {_pct(s['nonface_flagged'])} of "
            f"the non-faces are; {_pct(s['right_kept'])} of the right poses stay reliable. The "
            f"poses left reliable have a yaw MAE of {c['good']['mae_reliable'][0]:.1f} degrees "
            "on the good crops")
    if worst is not None:
        text += (f" and at most {worst[1]['mae_reliable'][0]:.1f} in a degraded condition "
                 f"({worst[0]})")
    return textwrap.fill(text + ".", 100)


def write_doc(path: Path, report: dict[str, Any]) -> None:
    """docs/results/quality.md: what was measured, the tables, the command."""
    s = report["suggested"]
    std_note = ("the calibrated std: this model's manifest has a calibration"
                if report["calibrated"] else "the raw std of the predicted distribution: this "
                "model's manifest has no calibration")
    doc = f"""# Quality flag: `Pose.is_reliable` on good and bad inputs

Generated by `python benchmarks/quality.py` ({report['date']}, model `{report['model']}`,
backend {report['backend']}). **Re-run it whenever the default model changes** (one command;
it rewrites this file and `{report['json']}`); the thresholds it suggests are the defaults
of `QualityThresholds` in `sdk/gldpose_sdk/config.py` when the model was last measured.

A pose is unreliable when any check fails: the std of an angle above `max_std_deg`
({std_note}), less than `min_inside_frac` of the crop inside the frame, mean brightness below
`min_brightness`, or pixel standard deviation below `min_contrast` (both 0..1). Inputs: the
{s['conditions']['good']['n']} validation crops of the AFLW crops package (research use only),
the same crops degraded, and non-faces; see the script's docstring for each condition. Yaw
errors are against the human annotation, pitch and roll against the FSA-Net teacher.

{summary_text(report)}

## Share flagged unreliable, per threshold setting

A labelled pose is *wrong* when an angle is off by more than {report['wrong_deg']:g} degrees.
The suggested setting flags at most {_pct(report['max_good_flagged'])} of the good crops and,
among the {report['settings_evaluated']} settings of the grid that do, has the lowest cost:
{report['wrong_cost']:g} for each wrong pose or non-face left reliable, 1 for each right pose
flagged (poses counted over every labelled condition, `box in frame` left out as it repeats
`good`); ties go to the more lenient setting. The first table shows the
SDK's defaults when the script ran, the suggested setting, and the suggested setting with one
threshold moved to each other value of the grid.

{format_tables(report)}

The third table gives the 5th / 50th / 95th percentiles of each measure per condition (max
std: the largest of the three angles' std); the last one, over every labelled condition
(`box in frame` left out), the share of wrong poses and the yaw MAE in bins of each measure:
where the error starts to grow is where a threshold pays.

Command: `python benchmarks/quality.py --data ../shared/data/aflw-crops` (about
{report['seconds'] / 60:.0f} min on a 2-core CPU).
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, encoding="utf-8")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "aflw-crops")
    p.add_argument("--model", default=None,
                   help="model folder or built-in model name (default: the default model)")
    p.add_argument("--backend", default="auto")
    p.add_argument("--nonface", type=int, default=300, help="textures and background patches")
    p.add_argument("--max-good-flagged", type=float, default=0.05,
                   help="largest share of good crops the suggested setting may flag")
    p.add_argument("--wrong-deg", type=float, default=25.0,
                   help="a labelled pose with an angle off by more than this is wrong")
    p.add_argument("--wrong-cost", type=float, default=4.0,
                   help="cost of trusting a wrong pose or a non-face, against 1 for flagging "
                        "a right pose")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--doc", type=Path, default=None,
                   help="markdown summary to write (default: docs/results/quality.md, none "
                        "with --quick)")
    bc.add_common_arguments(p, REPO / "runs" / "benchmarks" / "quality.json")
    args = p.parse_args(argv)
    if args.doc is None and not args.quick:
        args.doc = REPO / "docs" / "results" / "quality.md"
    args.limit = 40 if args.quick else 0
    if args.quick:
        args.nonface = min(args.nonface, 20)
    return args


def main(argv: list[str] | None = None) -> int:
    """Measure every condition, evaluate the grid, print and write the report."""
    args = parse_args(argv)
    load_at_start = bc.load_average()
    start = time.perf_counter()
    crops, labels = load_val_crops(args.data, args.limit)
    est = PoseEstimator(args.model, backend=args.backend, config=EstimatorConfig())
    try:
        measured = measure_all(est, crops, labels, args.nonface, args.seed)
        backend = est.describe().backend.name
        model_dir = est.model_dir
    finally:
        est.close()
    sdk_thresholds = EstimatorConfig().quality
    check_rule(measured, sdk_thresholds)
    results = [evaluate(measured, t, args.wrong_deg, args.wrong_cost) for t in grid_settings()]
    current = evaluate(measured, sdk_thresholds, args.wrong_deg, args.wrong_cost)
    best = suggest(results, args.max_good_flagged)
    shown = ([current] if current["thresholds"] != best["thresholds"] else []) + [best] \
        + variants(results, best)
    report = {
        "date": time.strftime("%Y-%m-%d"), "model": str(model_dir.relative_to(REPO)
                                                        if model_dir.is_relative_to(REPO)
                                                        else model_dir),
        "backend": backend, "calibrated": read_manifest(model_dir).calibration is not None,
        "json": str(args.json.relative_to(REPO) if args.json.is_relative_to(REPO)
                    else args.json),
        "max_good_flagged": args.max_good_flagged, "settings_evaluated": len(results),
        "wrong_deg": args.wrong_deg, "wrong_cost": args.wrong_cost,
        "sdk_thresholds": dataclasses.asdict(sdk_thresholds), "current": current,
        "suggested": best, "shown": shown, "percentiles": percentiles(measured),
        "error_by_bins": error_by_bins(measured, args.wrong_deg),
        "grid": GRID, "machine": bc.machine_info(args.machine_shared, load_at_start),
        "seconds": time.perf_counter() - start}
    print(format_tables(report))
    print(bc.shared_note(report["machine"]))
    t = best["thresholds"]
    print(f"\nsuggested QualityThresholds: max_std_deg={tuple(t['max_std_deg'])}, "
          f"min_inside_frac={t['min_inside_frac']}, min_brightness={t['min_brightness']}, "
          f"min_contrast={t['min_contrast']}")
    bc.write_json(args.json, {**report, "shown": None, "all_settings": results})
    print(f"written: {args.json}")
    if args.doc is not None:
        write_doc(args.doc, report)
        print(f"written: {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
