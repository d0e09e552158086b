"""Option dataclasses of the runtime: :class:`BackendOptions` and :class:`EstimatorConfig`.

Defaults live only here (STYLE d); variants are made with :func:`dataclasses.replace`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

DEVICES = ("auto", "cpu", "cuda", "gpu")
ARTEFACT_PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")
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
        artefact_precision: which artefact to load when the manifest lists several of the
            backend's format: ``"auto"`` (the backend's own preference; INT8 only when asked),
            or ``"fp32"``, ``"fp16"``, ``"bf16"``, ``"int8"`` (that artefact or an error).
    """

    device: str = "auto"
    max_batch: int = 32
    num_threads: int = 0
    openvino_precision: str = "default"
    torch_half_on_cuda: bool = True
    artefact_precision: str = "auto"

    def __post_init__(self) -> None:
        parse_device(self.device)
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {self.max_batch}")
        if self.num_threads < 0:
            raise ValueError(f"num_threads must be >= 0 (0 = runtime default), "
                             f"got {self.num_threads}")
        if self.artefact_precision not in ARTEFACT_PRECISIONS:
            raise ValueError(f"artefact_precision must be one of {ARTEFACT_PRECISIONS}, "
                             f"got {self.artefact_precision!r}")
        if self.openvino_precision not in OPENVINO_PRECISIONS:
            raise ValueError(f"openvino_precision must be one of {OPENVINO_PRECISIONS}, "
                             f"got {self.openvino_precision!r}")


@dataclass(frozen=True)
class QualityThresholds:
    """When a :class:`~gldpose_sdk.pose.Pose` is flagged unreliable (``pose.is_reliable``).

    Measured on the validation crops and degraded copies of them (dark, blurred, out of frame,
    non-face): docs/results/quality.md. A pose is unreliable when any check fails; its
    ``quality.reasons`` name the failed checks.

    Attributes:
        max_std_deg: calibrated std (yaw, pitch, roll) above which the angle is not trusted.
        min_inside_frac: share of the crop that must lie inside the frame.
        min_brightness: mean crop brightness (0..1) below which the face is too dark.
        min_contrast: standard deviation of the crop's pixels (0..1) below which it is flat.
    """

    max_std_deg: tuple[float, float, float] = (18.0, 18.0, 18.0)
    min_inside_frac: float = 0.7
    min_brightness: float = 0.03
    min_contrast: float = 0.02

    def __post_init__(self) -> None:
        if len(self.max_std_deg) != 3 or min(self.max_std_deg) <= 0:
            raise ValueError(f"max_std_deg needs three values > 0, got {self.max_std_deg}")
        for name in ("min_inside_frac", "min_brightness", "min_contrast"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


@dataclass(frozen=True)
class EstimatorConfig:
    """Options of :class:`gldpose_sdk.PoseEstimator` beyond model, backend, device and detector.

    Attributes:
        backend: options handed to the backend (its ``device`` is overridden by the
            estimator's ``device`` argument unless that is ``"auto"``).
        max_faces: keep at most this many detected faces per frame, highest score first
            (0 = all). Boxes given by the caller are never dropped.
        min_face_px: detected faces whose shorter box side is below this are ignored.
        flip_average: also run the mirrored crop and average (yaw and roll negated back); costs
            a second inference per face (docs/results/default_model.md has the measured gain).
        max_frame_pixels: frames (and crops) larger than this raise InputError.
        max_faces_per_call: more boxes or crops than this in one call raise InputError.
        max_crop_aspect: crops longer than this many times their width (or the reverse) raise
            InputError.
        max_box_frame_ratio: boxes reaching further from the frame than this many frame sizes
            raise InputError (a box must also overlap the frame).
        quality: thresholds of the ``is_reliable`` flag.
        measure_backends: ``backend="auto"`` times the candidates that load and keeps the
            fastest (cached per machine); False keeps the fixed preference order.
        cache_dir: folder of that cache ("" = ``$GLDPOSE_CACHE_DIR`` or ``~/.cache/gldpose``).
    """

    backend: BackendOptions = field(default_factory=BackendOptions)
    max_faces: int = 0
    min_face_px: float = 0.0
    flip_average: bool = False
    max_frame_pixels: int = 40_000_000
    max_faces_per_call: int = 256
    max_crop_aspect: float = 8.0
    max_box_frame_ratio: float = 4.0
    quality: QualityThresholds = field(default_factory=QualityThresholds)
    measure_backends: bool = True
    cache_dir: str = ""

    def __post_init__(self) -> None:
        if self.max_faces < 0:
            raise ValueError(f"max_faces must be >= 0 (0 = all), got {self.max_faces}")
        if self.min_face_px < 0:
            raise ValueError(f"min_face_px must be >= 0, got {self.min_face_px}")
        for name in ("max_frame_pixels", "max_faces_per_call"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_crop_aspect < 1 or self.max_box_frame_ratio <= 0:
            raise ValueError("max_crop_aspect must be >= 1 and max_box_frame_ratio > 0")
