#!/usr/bin/env bash
# Train a grid of `gldpose train` variants side by side on one lent GPU, in one call.
# The repo is used as a copied working tree (not installed), like scripts/gpu_check.sh.
#
# Usage: scripts/gpu_train_grid.sh --data CROPS_DIR --out RUN_DIR --budget-s S GRID_FILE
#
# GRID_FILE holds one variant per line, `NAME  FLAGS...` (extra `gldpose train` flags on top of
# `--recipe default --device cuda`); blank lines and lines starting with '#' are skipped. The word
# RENDERS in FLAGS becomes the folder of the recipe's 8,000 uniform renders (seed 21, 160 px,
# what `mix_data: synth:8000` makes), rendered once here before any run starts.
#
# Order: a 3-step smoke run on the GPU (a broken environment fails in seconds, not after the
# budget), the renders, then every variant at once, each with `--time-budget-s S` (the trainer
# fits its epochs into S after its second epoch), each logging to RUN_DIR/NAME.log. At the end
# RUN_DIR/grid_summary.json holds each variant's best epoch and its validation figures (MAE,
# per angle, per |yaw| band), read from its history.json.
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="sdk:train:export${PYTHONPATH:+:$PYTHONPATH}"
# Two threads per trainer. GNU nproc obeys OMP_NUM_THREADS: the renderers count cores by getconf.
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
PYTHON="${PYTHON:-python3}"
DEVICE="${GRID_DEVICE:-cuda}"            # GRID_DEVICE=cpu: a dry run of the script itself
RENDER_COUNT="${GRID_RENDERS:-8000}"
DATA="" RUN_DIR="" BUDGET=""
while [ $# -gt 1 ]; do
    case "$1" in
        --data) DATA="$2"; shift 2 ;;
        --out) RUN_DIR="$2"; shift 2 ;;
        --budget-s) BUDGET="$2"; shift 2 ;;
        *) echo "gpu_train_grid.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
GRID="${1:-}"
if [ -z "$DATA" ] || [ -z "$RUN_DIR" ] || [ -z "$BUDGET" ] || [ ! -f "$GRID" ]; then
    echo "usage: scripts/gpu_train_grid.sh --data CROPS --out RUN_DIR --budget-s S GRID_FILE" >&2
    exit 2
fi
case "$BUDGET" in
    ''|*[!0-9]*) echo "gpu_train_grid.sh: --budget-s takes whole seconds, got '$BUDGET'" >&2
                 exit 2 ;;
esac
mkdir -p "$RUN_DIR"
train() { "$PYTHON" -m gldpose_cli train --recipe default --data "$DATA" --device "$DEVICE" "$@"; }

nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
echo "== smoke: 3 steps on the GPU"
if ! timeout 300 "$PYTHON" -m gldpose_cli train --recipe default --data "$DATA" \
        --device "$DEVICE" --mix-data "" --mix-fraction 0 --max-steps 3 --out "$RUN_DIR/smoke" \
        > "$RUN_DIR/smoke.log" 2>&1; then
    echo "smoke run failed; its log:"; tr '\r' '\n' < "$RUN_DIR/smoke.log" | tail -40
    exit 1
fi
RENDERS="$RUN_DIR/renders-uniform-$RENDER_COUNT-seed21"
if grep -v '^\s*#' "$GRID" | grep -qw RENDERS; then
    echo "== renders -> $RENDERS"
    "$PYTHON" -m gldpose_cli synth --out "$RENDERS" --count "$RENDER_COUNT" --pose-dist uniform \
        --seed 21 --size 160 --workers "$(getconf _NPROCESSORS_ONLN)" \
        > "$RUN_DIR/renders.log" 2>&1 \
        || { echo "rendering failed"; tail -20 "$RUN_DIR/renders.log"; exit 1; }
fi
echo "== training, budget ${BUDGET} s each"
pids=()
names=()
while read -r name flags; do
    case "$name" in ''|'#'*) continue ;; esac
    # shellcheck disable=SC2086  # the grid's flags are words
    train --out "$RUN_DIR/$name" --time-budget-s "$BUDGET" ${flags//RENDERS/$RENDERS} \
        > "$RUN_DIR/$name.log" 2>&1 &
    pids+=($!)
    names+=("$name")
    echo "started $name: $flags"
done < "$GRID"
status=0
for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then echo "done ${names[$i]}"
    else
        status=1
        echo "FAILED ${names[$i]}:"; tr '\r' '\n' < "$RUN_DIR/${names[$i]}.log" | tail -15
    fi
done
"$PYTHON" - "$RUN_DIR" "${names[@]}" <<'EOF'
import json
import sys
from pathlib import Path

run_dir, names = Path(sys.argv[1]), sys.argv[2:]
summary = {}
for name in names:
    path = run_dir / name / "history.json"
    if not path.is_file():
        summary[name] = {"error": "no history.json"}
        continue
    hist = json.loads(path.read_text())
    validated = [h for h in hist["history"] if "val" in h]
    if not validated:
        summary[name] = {"error": "never validated"}
        continue
    best = min(validated, key=lambda h: h["val"]["mae"])
    summary[name] = {"epochs": hist["epochs"], "planned_epochs": hist["planned_epochs"],
                     "seconds": round(hist["seconds"]), "best_epoch": best["epoch"],
                     "val": best["val"], "val_bands": best.get("val_bands", {})}
    v, b = best["val"], best.get("val_bands", {}).get("60-99", {})
    print(f"{name:14s} epochs {hist['epochs']:3d}/{hist['planned_epochs']:3d} "
          f"best {best['epoch']:3d} "
          f"val yaw {v['yaw']:.2f} pitch {v['pitch']:.2f} roll {v['roll']:.2f} "
          f"yaw>60 {b.get('yaw', float('nan')):.2f} ({hist['seconds']:.0f} s)")
(run_dir / "grid_summary.json").write_text(json.dumps(summary, indent=2))
EOF
exit $status
