"""PyTorch backend: the safetensors weights in eager mode, CPU or CUDA (float16 on CUDA)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from gldpose_sdk.backends.base import Backend, pick_artefact
from gldpose_sdk.config import BackendOptions, parse_device
from gldpose_sdk.errors import BackendUnavailableError
from gldpose_sdk.manifest import Manifest
from gldpose_sdk.model import PoseNet, load_model


def _torch_device(device: str) -> torch.device:
    kind, index = parse_device(device)
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "gpu":
        raise BackendUnavailableError("the PyTorch backend runs NVIDIA GPUs as device 'cuda'",
                                      reason="device 'gpu' is OpenVINO's; use 'cuda'")
    if kind == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailableError(
            f"torch {torch.__version__} sees no CUDA device", reason="torch without CUDA device")
    return torch.device("cpu") if kind == "cpu" else torch.device("cuda", index)


class TorchBackend(Backend):
    """Runs :class:`~gldpose_sdk.model.PoseNet` under ``torch.inference_mode``."""

    name = "pytorch"

    def __init__(self, model: PoseNet, torch_device: torch.device, dtype: torch.dtype,
                 **common: Any) -> None:
        super().__init__(**common)
        self._model = model
        self._torch_device = torch_device
        self._dtype = dtype

    @classmethod
    def load(cls, model_dir: Path, manifest: Manifest, options: BackendOptions) -> "TorchBackend":
        """Load the safetensors weights (sha256-checked by ``load_model``); see Backend.load."""
        device = _torch_device(options.device)
        artefact = pick_artefact(manifest, "safetensors")
        if options.num_threads:
            torch.set_num_threads(options.num_threads)  # process-wide in PyTorch
        model, _ = load_model(model_dir, device=str(device))
        half = device.type == "cuda" and options.torch_half_on_cuda
        dtype = torch.float16 if half else torch.float32
        model = model.to(dtype)
        where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        return cls(model, device, dtype, manifest=manifest, artefact=artefact,
                   artefact_path=Path(model_dir) / artefact.path, options=options,
                   runtime_version=torch.__version__, device=f"{device} ({where})",
                   precision="fp16" if half else "fp32")

    def _run(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self._torch_device, self._dtype, non_blocking=True)
            return self._model(x).float().cpu().numpy()

    def _close(self) -> None:
        self._model = None  # type: ignore[assignment]
        if self._torch_device.type == "cuda":
            torch.cuda.empty_cache()
