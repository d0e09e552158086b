"""OpenVINO IR export: FP32, FP16-compressed weights, and INT8 (NNCF post-training quantisation).

The IR is converted from ``model.onnx`` (the same graph every other runtime gets). On CPUs with
AVX512_BF16/AMX, OpenVINO infers in bf16 unless ``INFERENCE_PRECISION_HINT=f32`` is asked for, so
the verification measures both; the manifest records the IR's weight precision, and its notes say
which inference precision the parity figures were measured under.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import nncf
import numpy as np
import openvino as ov
import torch

from gldpose_export import ExportError
from gldpose_export.config import ExportConfig
from gldpose_export.formats.to_onnx import LOGITS_FILE
from gldpose_export.verify import list_images
from gldpose_sdk.inference import angles_from_logits
from gldpose_sdk.manifest import (
    NO_MARGIN, Artefact, InputSpec, Manifest, RuntimeVersions, make_artefact)
from gldpose_sdk.model import PoseNet
from gldpose_sdk.preprocess import normalise, prepare_crop

_LOG = logging.getLogger(__name__)

F32_HINT = {"INFERENCE_PRECISION_HINT": "f32"}


def ir_path(precision: str) -> str:
    """Relative path of the IR ``.xml`` of ``precision`` inside a model folder."""
    return f"openvino/{precision}/model.xml"


def preflight(config: ExportConfig) -> None:
    """Fail early on an unusable calibration folder (before ONNX is exported)."""
    if config.int8:
        calibration_paths(config.calib_dir)


def export_openvino(model: PoseNet, manifest: Manifest, out_dir: Path,
                    config: ExportConfig) -> tuple[Artefact, ...]:
    """Convert ``model.onnx`` to IR: FP32 always, FP16 if ``config.fp16``, INT8 if ``config.int8``.

    Raises:
        ExportError: ``model.onnx`` is missing, conversion fails, or calibration images are bad.
    """
    onnx_path = out_dir / LOGITS_FILE
    if not onnx_path.is_file():
        raise ExportError(f"{onnx_path} is missing: the OpenVINO IR is converted from it; "
                          "export the onnx format first")
    start = time.perf_counter()
    try:
        ov_model = ov.convert_model(str(onnx_path))
    except Exception as exc:  # OpenVINO raises its own RuntimeError subclasses
        raise ExportError(f"openvino.convert_model({onnx_path.name}) failed: {exc}") from exc
    # save_model may compress the model it is given in place: each save gets a clone.
    arts = [_save(ov_model.clone(), out_dir, "fp32", False, config, start, "")]
    if config.fp16:
        arts.append(_save(ov_model.clone(), out_dir, "fp16", True, config, time.perf_counter(), ""))
    if config.int8:
        arts.append(_export_int8(model, ov_model.clone(), manifest, out_dir, config))
    return tuple(arts)


def _save(ov_model: ov.Model, out_dir: Path, precision: str, compress: bool,
          config: ExportConfig, start: float, extra: str) -> Artefact:
    rel = ir_path(precision)
    xml = out_dir / rel
    xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov_model, str(xml), compress_to_fp16=compress)
    bin_rel = str(Path(rel).with_suffix(".bin"))
    seconds = time.perf_counter() - start
    _LOG.info("wrote %s (%s) in %.1f s", rel, precision, seconds)
    notes = f"converted from {LOGITS_FILE}; weights {precision}{extra}; {seconds:.1f} s"
    return make_artefact(out_dir, (rel, bin_rel), "openvino", precision=precision,
                         output="logits", versions=RuntimeVersions(openvino=ov.get_version()),
                         batch_min_opt_max=(1, config.batch_min_opt_max[1], 0), notes=notes)


def _export_int8(model: PoseNet, ov_model: ov.Model, manifest: Manifest, out_dir: Path,
                 config: ExportConfig) -> Artefact:
    start = time.perf_counter()
    images = load_calibration(config.calib_dir, manifest.input)
    n_hold = min(int(round(len(images) * config.calib_holdout_frac)), len(images) - 1)
    calib, held = images[:len(images) - n_hold], images[len(images) - n_hold:]
    dataset = nncf.Dataset(list(calib), lambda x: x[None])
    try:
        quantised = nncf.quantize(ov_model, dataset, subset_size=min(config.calib_subset,
                                                                     len(calib)))
    except Exception as exc:  # nncf wraps backend failures in many types
        raise ExportError(f"NNCF INT8 quantisation failed: {exc}") from exc
    report = ""
    if len(held):
        max_deg, mean_deg = int8_deltas(model, quantised, held, manifest)
        report = (f"; held-out {len(held)} calibration crops, f32 hint: max |d| "
                  f"y/p/r {_fmt(max_deg)} deg, mean {_fmt(mean_deg)} deg")
        _LOG.info("INT8 vs PyTorch on %d held-out crops: max %s deg, mean %s deg", len(held),
                  _fmt(max_deg), _fmt(mean_deg))
    extra = (f", NNCF {nncf.__version__} on {len(calib)} crops from {config.calib_dir}"
             f"{report}")
    return _save(quantised, out_dir, "int8", False, config, start, extra)


def int8_deltas(model: PoseNet, quantised: ov.Model, inputs: np.ndarray,
                manifest: Manifest) -> tuple[np.ndarray, np.ndarray]:
    """Max and mean |angle delta| ``[3]`` (deg) of the INT8 model vs PyTorch FP32 on ``inputs``."""
    with torch.no_grad():
        ref = angles_from_logits(model(torch.from_numpy(inputs)).numpy(), manifest)[0]
    compiled = ov.Core().compile_model(quantised, "CPU", F32_HINT)
    got = angles_from_logits(np.asarray(compiled(inputs)[0], dtype=np.float32), manifest)[0]
    delta = np.abs(got - ref)
    return delta.max(axis=0), delta.mean(axis=0)


def load_calibration(calib_dir: Path | None, spec: InputSpec) -> np.ndarray:
    """Read a folder of face crops into normalised float32 NCHW ``[N, 3, S, S]`` (sorted names).

    Each image is treated as a face crop: shorter side resized to ``spec.size_px``, centre-cropped.

    Raises:
        ExportError: the folder is missing, holds fewer than 2 images, or one cannot be read.
    """
    crops = []
    for path in calibration_paths(calib_dir):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ExportError(f"cannot read calibration image {path}")
        box = (0, 0, image.shape[1], image.shape[0])
        crops.append(prepare_crop(image, box, NO_MARGIN, spec.size_px, spec.resize))
    return normalise(np.stack(crops), spec)


def calibration_paths(calib_dir: Path | None) -> list[Path]:
    """Image files under ``calib_dir``, sorted; ExportError when missing or fewer than 2."""
    return list_images(calib_dir, "calibration", minimum=2)


def _fmt(values: np.ndarray) -> str:
    return "/".join(f"{v:.3f}" for v in values)
