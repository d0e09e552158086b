"""Export options (STYLE d): the one place that holds their defaults and checks them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gldpose_export import ExportError

ONNX_EXPORTERS = ("dynamo", "torchscript")


@dataclass(frozen=True)
class ExportConfig:
    """What ``gldpose export`` writes and how.

    Attributes:
        checkpoint: model folder with ``model.safetensors`` + ``manifest.json``.
        out_dir: model folder to write (created; may be the checkpoint folder itself).
        formats: export formats, names of ``gldpose_export.formats.FORMATS``.
        fp16: also write FP16 variants (OpenVINO IR with FP16 weights; TensorRT FP16 engine).
        int8: also write an INT8 OpenVINO IR (NNCF post-training quantisation on ``calib_dir``).
        calib_dir: folder of face-crop images (jpg/png) for INT8 calibration.
        calib_subset: most calibration images NNCF uses.
        calib_holdout_frac: share of the calibration images held out to report INT8's deltas.
        batch_min_opt_max: TensorRT optimisation profile over the batch size.
        onnx_exporter: ``"dynamo"`` (torch.export; opset 18) or ``"torchscript"`` (legacy).
        opset: ONNX opset asked for; the dynamo exporter writes at least 18.
        angles_onnx: also write ``model_angles.onnx`` with the decode in the graph.
        uint8_onnx: also write ``model_u8.onnx``, taking uint8 NHWC BGR crops with the
            normalisation in the graph (what ONNX Runtime runs in the SDK when present).
        simplify: simplify the ONNX graphs with onnxslim when it is installed.
        workspace_mib: TensorRT builder workspace limit, MiB.
        timing_cache: TensorRT timing cache file (read if present, written after the build);
            ``None`` means ``out_dir/tensorrt_timing.<gpu>.sm<CC>.trt<VERSION>.cache`` (per GPU and
            TensorRT version, as caches are not portable).
        verify: run :func:`gldpose_export.verify.verify_model_dir` after exporting.
        verify_random: random normalised inputs used by the verification.
        verify_crops: real-looking synthetic crops used by the verification.
        verify_images: optional folder of real face crops added to the verification inputs.
    """

    checkpoint: Path
    out_dir: Path
    formats: tuple[str, ...] = ("onnx",)
    fp16: bool = False
    int8: bool = False
    calib_dir: Path | None = None
    calib_subset: int = 300
    calib_holdout_frac: float = 0.2
    batch_min_opt_max: tuple[int, int, int] = (1, 8, 32)
    onnx_exporter: str = "dynamo"
    opset: int = 18
    angles_onnx: bool = True
    uint8_onnx: bool = True
    simplify: bool = True
    workspace_mib: int = 1024
    timing_cache: Path | None = None
    verify: bool = False
    verify_random: int = 8
    verify_crops: int = 8
    verify_images: Path | None = None

    def __post_init__(self) -> None:
        from gldpose_export.formats import FORMATS  # no cycle: formats imports only the errors

        object.__setattr__(self, "checkpoint", Path(self.checkpoint))
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown or not self.formats:
            raise ExportError(f"unknown or no export format(s) {unknown or list(self.formats)}; "
                              f"choose from {sorted(FORMATS)}")
        b_min, b_opt, b_max = self.batch_min_opt_max
        if not 1 <= b_min <= b_opt <= b_max:
            raise ExportError(f"batch MIN:OPT:MAX must satisfy 1 <= MIN <= OPT <= MAX, got "
                              f"{b_min}:{b_opt}:{b_max}")
        if self.onnx_exporter not in ONNX_EXPORTERS:
            raise ExportError(f"onnx_exporter must be one of {ONNX_EXPORTERS}, "
                              f"got {self.onnx_exporter!r}")
        if self.opset < 17:
            raise ExportError(f"opset must be >= 17, got {self.opset}")
        if self.int8 and self.calib_dir is None:
            raise ExportError("--int8 needs --calib DIR: a folder of face-crop images for "
                              "calibration (e.g. synthetic renders from `gldpose synth`)")
        if self.int8 and "openvino" not in self.formats:
            raise ExportError("--int8 quantises the OpenVINO IR: add openvino to --formats")
        if self.calib_subset < 1 or not 0.0 <= self.calib_holdout_frac < 1.0:
            raise ExportError("calib_subset must be >= 1 and calib_holdout_frac in [0, 1)")
        if self.workspace_mib < 16:
            raise ExportError(f"workspace_mib must be >= 16, got {self.workspace_mib}")

