"""Which kind of machine this is (DESIGN 7): Jetson, desktop NVIDIA GPU, or CPU only.

Detection reads files and runs ``nvidia-smi``; it never imports torch or a CUDA binding, so
``backend="auto"`` can decide before any runtime is loaded. The GPU names it finds only
classify the platform: the identity a TensorRT engine is built for and checked against (name
and compute capability) is read through CUDA, once, by
:func:`gldpose_sdk.backends.tensorrt.gpu.read_gpu`.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

PLATFORMS = ("cpu", "jetson", "nvidia_gpu")
_JETSON_RELEASE = "etc/nv_tegra_release"
_DEVICE_TREE_MODEL = "proc/device-tree/model"
_NVIDIA_GPUS = "proc/driver/nvidia/gpus"


@dataclass(frozen=True)
class PlatformInfo:
    """What :func:`detect_platform` found.

    Attributes:
        kind: one of :data:`PLATFORMS`.
        gpu_names: NVIDIA GPU names seen (empty on CPU-only machines), for messages only.
        evidence: the file or command that decided ``kind``.
    """

    kind: str
    gpu_names: tuple[str, ...] = ()
    evidence: str = ""


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "replace").replace("\x00", " ").strip()
    except OSError:
        return ""


def _is_jetson(root: Path) -> tuple[bool, str]:
    release = root / _JETSON_RELEASE
    if release.is_file():
        return True, f"/{_JETSON_RELEASE}"
    model = _read_text(root / _DEVICE_TREE_MODEL)
    if "NVIDIA Jetson" in model:
        return True, f"/{_DEVICE_TREE_MODEL}: {model}"
    return False, ""


def _gpus_from_proc(root: Path) -> tuple[str, ...]:
    folder = root / _NVIDIA_GPUS
    names = []
    for info in sorted(folder.glob("*/information")) if folder.is_dir() else ():
        for line in _read_text(info).splitlines():
            if line.startswith("Model:"):
                names.append(line.split(":", 1)[1].strip())
    return tuple(names)


def _gpus_from_smi(timeout_s: float = 5.0) -> tuple[str, ...]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return ()
    try:
        out = subprocess.run([exe, "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.SubprocessError):
        return ()
    if out.returncode != 0:
        return ()
    return tuple(line.strip() for line in out.stdout.splitlines() if line.strip())


def detect_platform(root: str | Path = "/", use_nvidia_smi: bool = True) -> PlatformInfo:
    """Classify this machine as ``"jetson"``, ``"nvidia_gpu"`` or ``"cpu"``.

    Args:
        root: file-system root to read (tests point it at a fake tree).
        use_nvidia_smi: also ask ``nvidia-smi`` when ``/proc`` lists no NVIDIA GPU.

    Returns:
        A :class:`PlatformInfo`; a GPU whose driver is not loaded counts as CPU only.
    """
    root = Path(root)
    is_jetson, evidence = _is_jetson(root)
    if is_jetson:
        return PlatformInfo("jetson", (), evidence)
    names = _gpus_from_proc(root)
    if names:
        return PlatformInfo("nvidia_gpu", names, f"/{_NVIDIA_GPUS}")
    names = _gpus_from_smi() if use_nvidia_smi else ()
    if names:
        return PlatformInfo("nvidia_gpu", names, "nvidia-smi")
    return PlatformInfo("cpu", (), "no NVIDIA driver found")
