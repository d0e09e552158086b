"""A DataLoader with worker processes over a dataset, run in a fresh Python process."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_LOADER_CHILD = """
import json, sys
import torch
from torch.utils.data import DataLoader
from gldpose_train.datasets import build_dataset
kind, root, size, batch, workers, seed = json.loads(sys.argv[1])
torch.manual_seed(seed)
ds = build_dataset(kind, root, split=None, train=True, input_size_px=size)
shapes = [[list(images.shape), list(angles.shape)]
          for images, angles in DataLoader(ds, batch_size=batch, num_workers=workers)]
print(json.dumps(shapes))
"""


def batches_from_worker_processes(kind: str, root: Path, *, size_px: int, batch_size: int,
                                  workers: int = 2, seed: int = 0) -> list:
    """The ``[images.shape, angles.shape]`` of every batch of a DataLoader with ``workers``
    worker processes over ``build_dataset(kind, root)``, run in a fresh Python process.

    Not in pytest's own process: a DataLoader with workers forks that process, which by then
    has run OpenVINO and ONNX Runtime, and installs PyTorch's process-wide SIGCHLD handler; in
    this long-lived process that combination segfaulted the whole suite (several local runs,
    and once in CI even with the handler put back after the test).
    """
    arg = json.dumps([kind, str(root), size_px, batch_size, workers, seed])
    done = subprocess.run([sys.executable, "-c", _LOADER_CHILD, arg], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
