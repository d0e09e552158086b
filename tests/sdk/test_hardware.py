"""Platform detection from a fake file-system root and a fake nvidia-smi."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gldpose_sdk.hardware import PLATFORMS, PlatformInfo, detect_platform


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cpu_only(tmp_path: Path) -> None:
    info = detect_platform(tmp_path, use_nvidia_smi=False)
    assert info.kind == "cpu" and info.gpu_names == ()


def test_jetson_from_tegra_release(tmp_path: Path) -> None:
    _write(tmp_path, "etc/nv_tegra_release", "# R36 (release), REVISION: 3.0\n")
    assert detect_platform(tmp_path, use_nvidia_smi=False).kind == "jetson"


def test_jetson_from_device_tree(tmp_path: Path) -> None:
    _write(tmp_path, "proc/device-tree/model", "NVIDIA Jetson Orin Nano Developer Kit\x00")
    info = detect_platform(tmp_path, use_nvidia_smi=False)
    assert info.kind == "jetson" and "Orin" in info.evidence


def test_other_arm_board_is_cpu(tmp_path: Path) -> None:
    _write(tmp_path, "proc/device-tree/model", "Raspberry Pi 5 Model B\x00")
    assert detect_platform(tmp_path, use_nvidia_smi=False).kind == "cpu"


def test_desktop_gpu_from_proc(tmp_path: Path) -> None:
    _write(tmp_path, "proc/driver/nvidia/gpus/0000:01:00.0/information",
           "Model: \t\t NVIDIA GeForce RTX 4090\nIRQ: 150\n")
    info = detect_platform(tmp_path, use_nvidia_smi=False)
    assert info.kind == "nvidia_gpu" and info.gpu_names == ("NVIDIA GeForce RTX 4090",)
    assert info.kind in PLATFORMS


def _fake_smi(folder: Path, script: str) -> None:
    exe = folder / "nvidia-smi"
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(0o755)


def test_desktop_gpu_from_nvidia_smi(tmp_path: Path, monkeypatch) -> None:
    _fake_smi(tmp_path, 'printf "NVIDIA H200\\nNVIDIA H200\\n"\n')
    monkeypatch.setenv("PATH", str(tmp_path))
    info = detect_platform(tmp_path / "root")
    assert info == PlatformInfo("nvidia_gpu", ("NVIDIA H200", "NVIDIA H200"), "nvidia-smi")


def test_failing_nvidia_smi_means_cpu(tmp_path: Path, monkeypatch) -> None:
    _fake_smi(tmp_path, 'echo "NVIDIA-SMI has failed: driver not loaded"; exit 9\n')
    monkeypatch.setenv("PATH", str(tmp_path))
    assert detect_platform(tmp_path / "root").kind == "cpu"


def test_detection_imports_no_cuda_binding() -> None:
    code = ("import sys; from gldpose_sdk.hardware import detect_platform; detect_platform(); "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('cuda', 'tensorrt', 'torch', 'pycuda')]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.strip()
    assert out == "[]"
