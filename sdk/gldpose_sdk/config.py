"""Option dataclasses of the runtime: :class:`BackendOptions` and :class:`EstimatorConfig`.

Defaults live only here (STYLE d); variants are made with :func:`dataclasses.replace`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

DEVICES = ("auto", "cpu", "cuda", "gpu")
OPENVINO_PRECISIONS = ("default", "bf16", "f16", "f32")


def parse_device(device: str) -> tuple[str, int]:
    """Split ``"cuda:1"`` into ``("cuda", 1)``; plain names get index 0.

    Raises:
        ValueError: unknown device kind or bad index.
    """
    kind, _, index = device.partition(":")
    bad_index = bool(index) and (not index.isdigit() or kind in ("auto", "cpu"))
    if kind not in DEVICES or bad_index:
        raise ValueError(f"device must be one of {DEVICES} (optionally 'cuda:N' / 'gpu:N'), "
                         f"got {device!r}")
    return kind, int(index or 0)


@dataclass(frozen=True)
class BackendOptions:
    """How a backend runs a model.

    Attributes:
        device: ``"auto"`` (the backend's best device here), ``"cpu"``, ``"cuda"``/``"cuda:N"``
            (NVIDIA GPU: TensorRT, ONNX Runtime CUDA, PyTorch), or ``"gpu"``/``"gpu:N"``
            (OpenVINO's GPU plugin, i.e. an Intel GPU).
        max_batch: largest batch handed to the runtime at once; bigger batches are split.
        num_threads: CPU threads for the runtime; 0 keeps the runtime's own default.
        openvino_precision: OpenVINO ``INFERENCE_PRECISION_HINT``: ``"f32"``, ``"bf16"``,
            ``"f16"``, or ``"default"`` (the plugin's choice: bf16 on CPUs with AMX/AVX512-BF16).
            Default ``"default"``: on the shipped model bf16 changed the validation MAE by
            < 0.01 deg (max per-face change 1.2 deg) and cut latency from 7.5 to 4.9 ms per face
            on this CPU (docs/results/default_model.md). Use ``"f32"`` for bit-level parity.
        torch_half_on_cuda: run the PyTorch backend in float16 on a CUDA device.
    """

    device: str = "auto"
    max_batch: int = 32
    num_threads: int = 0
    openvino_precision: str = "default"
    torch_half_on_cuda: bool = True

    def __post_init__(self) -> None:
        parse_device(self.device)
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {self.max_batch}")
        if self.num_threads < 0:
            raise ValueError(f"num_threads must be >= 0 (0 = runtime default), "
                             f"got {self.num_threads}")
        if self.openvino_precision not in OPENVINO_PRECISIONS:
            raise ValueError(f"openvino_precision must be one of {OPENVINO_PRECISIONS}, "
                             f"got {self.openvino_precision!r}")


@dataclass(frozen=True)
class EstimatorConfig:
    """Options of :class:`gldpose_sdk.PoseEstimator` beyond model, backend, device and detector.

    Attributes:
        backend: options handed to the backend (its ``device`` is overridden by the
            estimator's ``device`` argument unless that is ``"auto"``).
        max_faces: keep at most this many detected faces per frame, highest score first
            (0 = all). Boxes given by the caller are never dropped.
        min_face_px: detected faces whose shorter box side is below this are ignored.
    """

    backend: BackendOptions = field(default_factory=BackendOptions)
    max_faces: int = 0
    min_face_px: float = 0.0

    def __post_init__(self) -> None:
        if self.max_faces < 0:
            raise ValueError(f"max_faces must be >= 0 (0 = all), got {self.max_faces}")
        if self.min_face_px < 0:
            raise ValueError(f"min_face_px must be >= 0, got {self.min_face_px}")
