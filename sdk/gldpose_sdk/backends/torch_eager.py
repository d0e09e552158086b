"""PyTorch backend: the safetensors weights in eager mode, CPU or CUDA (float16 on CUDA).

It takes the crops as they are cut (uint8 NHWC BGR) and converts them on the device, the same
arithmetic as :func:`gldpose_sdk.preprocess.to_network_input`. The weights file records the input
size the model was trained at (safetensors metadata), checked against the manifest. After
``fork()`` (Linux's default multiprocessing start method) PyTorch's CPU thread pool inherited
from the parent can hang the child, so a backend used in a forked child runs single-threaded.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gldpose_sdk.backends.base import Backend, pick_artefact
from gldpose_sdk.config import BackendOptions, parse_device
from gldpose_sdk.errors import BackendUnavailableError, ManifestMismatchError
from gldpose_sdk.manifest import InputSpec, Manifest
from gldpose_sdk.model import PoseNet, load_model, weights_metadata

_LOG = logging.getLogger(__name__)


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


class PyTorchBackend(Backend):
    """Runs :class:`~gldpose_sdk.model.PoseNet` under ``torch.inference_mode``."""

    name = "pytorch"

    def __init__(self, model: PoseNet, torch_device: torch.device, dtype: torch.dtype,
                 **common: Any) -> None:
        super().__init__(**common)
        self._model = model
        self._torch_device = torch_device
        self._dtype = dtype
        self._pid = os.getpid()
        spec: InputSpec = self.manifest.input
        # BGR channel order: mean/std reversed, so the channel flip happens after normalising.
        self._mean = torch.tensor([255.0 * m for m in spec.mean_rgb[::-1]]).view(1, 3, 1, 1)
        self._scale = torch.tensor([1.0 / (255.0 * s) for s in spec.std_rgb[::-1]]).view(
            1, 3, 1, 1)

    @classmethod
    def load(cls, model_dir: Path, manifest: Manifest,
             options: BackendOptions) -> "PyTorchBackend":
        """Load the safetensors weights (sha256-checked by ``load_model``); see Backend.load."""
        device = _torch_device(options.device)
        artefact = pick_artefact(manifest, "safetensors", options.artefact_precision,
                                 prefer=("fp32", "fp16", "bf16"))
        if options.num_threads:
            torch.set_num_threads(options.num_threads)  # process-wide in PyTorch
        model, _ = load_model(model_dir, device=str(device))
        trained_px = weights_metadata(model_dir).get("input_size_px")
        if trained_px is not None and int(trained_px) != manifest.input.size_px:
            raise ManifestMismatchError(
                f"{artefact.path} was trained at {trained_px} px but the manifest says "
                f"{manifest.input.size_px} px: the manifest does not belong to these weights")
        half = device.type == "cuda" and options.torch_half_on_cuda
        dtype = torch.float16 if half else torch.float32
        model = model.to(dtype)
        where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        return cls(model, device, dtype, manifest=manifest, artefact=artefact,
                   artefact_path=Path(model_dir) / artefact.path, options=options,
                   runtime_version=torch.__version__, device=f"{device} ({where})",
                   precision="fp16" if half else "fp32", input_layout="nhwc_uint8_bgr")

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if os.getpid() != self._pid:
            self._after_fork()
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self._torch_device, non_blocking=True)
            x = x.permute(0, 3, 1, 2).float()
            x = ((x - self._mean.to(x.device)) * self._scale.to(x.device)).flip(1)
            return self._model(x.to(self._dtype)).float().cpu().numpy()

    def _after_fork(self) -> None:
        if self._torch_device.type == "cuda":
            raise BackendUnavailableError(
                "this PyTorch CUDA backend was created in another process; CUDA cannot be used "
                "after fork(): create the estimator in the child, or use the 'spawn' start method",
                reason="CUDA after fork")
        torch.set_num_threads(1)
        self._pid = os.getpid()
        _LOG.info("pytorch backend used in a forked child: running single-threaded (the "
                  "parent's thread pool does not survive fork; 'spawn' avoids this)")

    def _close(self) -> None:
        self._model = None  # type: ignore[assignment]
        if self._torch_device.type == "cuda":
            torch.cuda.empty_cache()
