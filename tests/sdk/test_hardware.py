"""Platform detection from a fake file-system root (no nvidia-smi)."""
from __future__ import annotations

from pathlib import Path

from gldpose_sdk.hardware import PLATFORMS, detect_platform


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
