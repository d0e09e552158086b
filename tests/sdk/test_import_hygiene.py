"""``import gldpose_sdk`` loads no runtime, no training or export code."""
from __future__ import annotations

import json
import subprocess
import sys

BLOCKED = ("torch", "onnxruntime", "openvino", "tensorrt", "cuda")

SCRIPT = f"""
import json, sys
for name in {BLOCKED!r}:
    sys.modules[name] = None  # any import of it now raises ImportError
import gldpose_sdk
from gldpose_sdk import PoseEstimator, Pose
import gldpose_sdk.selection, gldpose_sdk.backends, gldpose_sdk.cli
runtime_modules = {"gldpose_sdk.model", "gldpose_sdk.backends.ort",
                   "gldpose_sdk.backends.openvino_ir", "gldpose_sdk.backends.tensorrt.runtime",
                   "gldpose_sdk.backends.torch_eager"}
loaded = sorted(m for m in sys.modules if m.split(".")[0] in
                ("gldpose_train", "gldpose_export") or m in runtime_modules)
print(json.dumps(loaded))
"""


def test_import_needs_no_runtime_and_loads_no_train_or_export() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         check=False, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_missing_runtime_is_reported_not_raised_on_import() -> None:
    script = SCRIPT.split("import gldpose_sdk\n")[0] + (
        "from gldpose_sdk.backends import missing_packages\n"
        "print(missing_packages('openvino'))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=False, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "openvino" in out.stdout
