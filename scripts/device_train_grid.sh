#!/usr/bin/env bash
# One call on a lent GPU machine: train the default-model grid in parallel and bring back the
# results and the best small models. Expects the crop pack at .device/crops96.npz (carried).
set -u
export PYTHONPATH=sdk:train:export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, torch.cuda.get_device_name(0))"
BUDGET=${BUDGET:-300}
python3 scripts/train_default_model.py --data .device/crops96.npz --variants all --parallel 10 --epochs 80 \
    --time-budget-s "$BUDGET" --out /tmp/grid --device cuda > /tmp/grid_stdout.txt 2>&1
cat /tmp/grid_stdout.txt | tail -15
python3 - <<'PY'
import json, os, tarfile, pathlib
out = pathlib.Path(os.environ.get("OUT", "/tmp/out")); grid = pathlib.Path("/tmp/grid")
res = json.loads((grid / "results.json").read_text())
hist = {n: json.loads((grid / n / "history.json").read_text()) for n in res}
(out / "results.json").write_text(json.dumps({"summary": res, "histories": hist}, indent=1))
with tarfile.open(out / "logs.tar.gz", "w:gz") as t:
    for f in grid.glob("*.log"): t.add(f, arcname=f.name)
small = [n for n in res if res[n]["variant"]["backbone"] in
         ("mobilenet_v3_large", "mobilenet_v3_small", "efficientnet_b0")]
for n in sorted(small, key=lambda n: res[n]["best"]["mae"])[:6]:
    with tarfile.open(out / f"model_{n}.tar", "w") as t:
        for f in ("model.safetensors", "manifest.json"):
            t.add(grid / n / f, arcname=f"{n}/{f}")
print(sorted(p.name for p in out.iterdir()))
PY
