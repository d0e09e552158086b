"""A 2-process DistributedDataParallel run on the gloo backend (CPU), through torchrun."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="torch not installed")

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import sys
    import torch
    from gldpose_train.config import TrainConfig
    from gldpose_train.loop import Trainer

    cfg = TrainConfig(dataset="300wlp", data=sys.argv[1], out_dir=sys.argv[2],
                      backbone="mobilenet_v3_small", input_size_px=32, batch_size=2, lr=1e-3,
                      workers=0, max_steps=2, epochs=1)
    trainer = Trainer(cfg)
    trainer.run()
    flat = torch.cat([p.detach().flatten() for p in trainer.model.parameters()]).double()
    print(f"RANK {trainer.dist.rank} WORLD {trainer.dist.world} STEPS {trainer.state.step} "
          f"SUM {flat.sum().item():.10e} SQ {flat.square().sum().item():.10e}", flush=True)
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_step_keeps_replicas_identical(tiny_300wlp, tmp_path):
    script = tmp_path / "ddp_step.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO / "sdk"), str(REPO / "train"), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           str(script), str(tiny_300wlp), str(tmp_path / "run")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = re.findall(r"RANK (\d) WORLD (\d) STEPS (\d+) SUM (\S+) SQ (\S+)", proc.stdout)
    assert sorted(r[0] for r in lines) == ["0", "1"]
    assert {r[1] for r in lines} == {"2"} and {r[2] for r in lines} == {"2"}
    # DDP averages gradients, so both replicas hold the same weights after the steps.
    assert lines[0][3:] == lines[1][3:]
    assert (tmp_path / "run" / "model.safetensors").is_file()
