"""GPU parity check (run through scripts/gpu_check.sh): PyTorch CUDA, onnxruntime CUDA, TensorRT.

Every run is compared with PyTorch FP32 on the CPU on the same inputs (random tensors and
synthetic crops), decoded with the manifest's bins; rows report max and mean |delta| in degrees
per angle and, where timed, the median latency of one batch. Missing pieces are skipped.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gldpose_export.config import ExportConfig
from gldpose_export.verify import FP16_TOL_DEG, FP32_TOL_DEG, make_inputs, verify_model_dir
from gldpose_sdk.decode import decode_logits
from gldpose_sdk.manifest import Manifest, TrainingInfo
from gldpose_sdk.model import PoseNet, load_model, save_model

_LOG = logging.getLogger("gpu_check")
ANGLES = ("yaw", "pitch", "roll")


def build_model(work: Path) -> Path:
    """A seeded resnet50 PoseNet at 224 px whose heads give logits of std ~2 over the bins.

    Random heads either give near-uniform softmaxes or (scaled up) saturated ones; both hide
    precision effects. Zero biases and a head scale fitted on a few inputs avoid that.
    """
    torch.manual_seed(0)
    model = PoseNet("resnet50").eval()
    manifest = Manifest(backbone="resnet50",
                        training=TrainingInfo(dataset="none (gpu_check random model)"))
    heads = (model.fc_yaw, model.fc_pitch, model.fc_roll)
    with torch.no_grad():
        for head in heads:
            head.bias.zero_()
        probe = torch.from_numpy(make_inputs(manifest.input, n_random=2, n_crops=2, seed=99))
        scale = 2.0 / float(model(probe).std(dim=2).mean())
        for head in heads:
            head.weight.mul_(scale)
    save_model(work / "model", model, manifest)
    return work / "model"


def row(name: str, precision: str, angles: np.ndarray | None, ref: np.ndarray,
        tol: float | None, latency_ms: float | None = None, skipped: str = "") -> dict:
    """One result row (dict, JSON-able)."""
    out = {"run": name, "precision": precision, "tolerance_deg": tol, "skipped": skipped,
           "latency_ms": latency_ms}
    if angles is not None:
        delta = np.abs(angles.astype(np.float64) - ref)
        out.update(max_deg=[float(v) for v in delta.max(0)],
                   mean_deg=[float(v) for v in delta.mean(0)])
        out["passed"] = tol is None or max(out["max_deg"]) <= tol
    return out


def timed(fn, *args, repeats: int = 20) -> tuple[object, float]:
    """Result of ``fn(*args)`` and its median wall time in ms (CUDA synchronised)."""
    result = fn(*args)
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn(*args)
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return result, float(np.median(times))


def torch_rows(model: PoseNet, manifest: Manifest, inputs: np.ndarray, ref: np.ndarray) -> list:
    """PyTorch CUDA FP32 (TF32 off / on), BF16 (autocast) and FP16 (.half()) rows."""
    centres = manifest.bins.centres_deg()
    x32 = torch.from_numpy(inputs).cuda()
    net = model.cuda().eval()

    def forward(module: torch.nn.Module, x: torch.Tensor, bf16: bool = False) -> np.ndarray:
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            return module(x).float().cpu().numpy()

    rows = []
    for tf32 in (False, True):
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        logits, ms = timed(forward, net, x32)
        rows.append(row(f"torch CUDA fp32 (TF32 {'on' if tf32 else 'off'})",
                        "tf32" if tf32 else "fp32", decode_logits(logits, centres)[0], ref,
                        None if tf32 else FP32_TOL_DEG, ms))
    logits, ms = timed(forward, net, x32, True)
    rows.append(row("torch CUDA bf16 autocast", "bf16", decode_logits(logits, centres)[0], ref,
                    None, ms))
    half = PoseNet(manifest.backbone, manifest.bins.count)
    half.load_state_dict(model.state_dict())
    half = half.cuda().half().eval()
    logits, ms = timed(forward, half, x32.half())
    rows.append(row("torch CUDA fp16 (.half())", "fp16", decode_logits(logits, centres)[0], ref,
                    FP16_TOL_DEG, ms))
    model.cpu()
    return rows


def ort_cuda_row(model_dir: Path, manifest: Manifest, inputs: np.ndarray,
                 ref: np.ndarray) -> dict:
    """onnxruntime CUDAExecutionProvider on model.onnx, if available."""
    if importlib.util.find_spec("onnxruntime") is None:
        return row("onnxruntime CUDA", "fp32", None, ref, None, skipped="onnxruntime missing")
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return row("onnxruntime CUDA", "fp32", None, ref, None,
                   skipped=f"no CUDAExecutionProvider (have {ort.get_available_providers()})")
    session = ort.InferenceSession(str(model_dir / "model.onnx"),
                                   providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    if session.get_providers()[0] != "CUDAExecutionProvider":
        return row("onnxruntime CUDA", "fp32", None, ref, None,
                   skipped=f"CUDA provider not applied: {session.get_providers()}")
    feed = {session.get_inputs()[0].name: inputs}
    logits, ms = timed(lambda: session.run(None, feed)[0])
    return row(f"onnxruntime {ort.__version__} CUDA", "fp32",
               decode_logits(np.asarray(logits), manifest.bins.centres_deg())[0], ref,
               FP32_TOL_DEG, ms)


def export_rows(model_dir: Path, out_dir: Path, has_cuda: bool) -> list:
    """Export ONNX (+ TensorRT FP16 when tensorrt imports) and verify the folder."""
    from gldpose_export.cli import run_export

    has_trt = importlib.util.find_spec("tensorrt") is not None and has_cuda
    formats = ("onnx", "tensorrt") if has_trt else ("onnx",)
    start = time.perf_counter()
    run_export(ExportConfig(checkpoint=model_dir, out_dir=out_dir, formats=formats, fp16=True,
                            angles_onnx=False, batch_min_opt_max=(1, 8, 32)))
    _LOG.info("export %s: %.1f s", "+".join(formats), time.perf_counter() - start)
    report = verify_model_dir(out_dir, n_random=16, n_crops=16, raise_on_failure=False)
    rows = [{"run": f"{r.artefact} via {r.runtime}", "precision": r.precision,
             "tolerance_deg": r.tolerance_deg, "skipped": r.skipped, "latency_ms": None,
             "max_deg": list(r.max_deg), "mean_deg": list(r.mean_deg), "passed": r.passed,
             "max_deg_by_input": dict(r.max_deg_by_input)}
            for r in report.rows]
    if not has_trt:
        rows.append({"run": "tensorrt fp16 engine", "precision": "fp16", "tolerance_deg": None,
                     "latency_ms": None, "skipped": "tensorrt not installed"
                     if has_cuda else "no CUDA device"})
    return rows


def table(rows: list) -> str:
    """Plain-text table of the rows."""
    head = f"{'run':<52} {'prec':<5} " + " ".join(f"max_{a:<6}" for a in ANGLES) + \
        " " + " ".join(f"mean_{a:<5}" for a in ANGLES) + "   tol   ms/batch  status"
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.get("skipped"):
            lines.append(f"{r['run']:<52} {r['precision']:<5} skipped: {r['skipped']}")
            continue
        tol = "report" if r["tolerance_deg"] is None else f"{r['tolerance_deg']:.2f}"
        ms = "" if r.get("latency_ms") is None else f"{r['latency_ms']:.2f}"
        lines.append(f"{r['run']:<52} {r['precision']:<5} "
                     + " ".join(f"{v:10.4f}" for v in r["max_deg"]) + " "
                     + " ".join(f"{v:10.4f}" for v in r["mean_deg"])
                     + f"  {tol:<6} {ms:>8}  {'ok' if r['passed'] else 'FAIL'}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run the checks; return 0 unless a gated row failed."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)
    for name in ("gpu_check", "gldpose_export", "gldpose_sdk"):
        logging.getLogger(name).setLevel(logging.INFO)
    has_cuda = torch.cuda.is_available()
    info = {"torch": torch.__version__, "cuda": has_cuda}
    if has_cuda:
        major, minor = torch.cuda.get_device_capability(0)
        info.update(gpu=torch.cuda.get_device_name(0), compute_capability=f"{major}.{minor}")
    _LOG.info("python %s, %s", sys.version.split()[0],
              ", ".join(f"{k} {v}" for k, v in info.items()))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir = Path(argv[0]) if argv else build_model(work)
        model, manifest = load_model(model_dir)
        inputs = make_inputs(manifest.input, n_random=16, n_crops=16, seed=0)
        start = time.perf_counter()
        with torch.no_grad():
            ref = decode_logits(model(torch.from_numpy(inputs)).numpy(),
                                manifest.bins.centres_deg())[0]
        _LOG.info("model %s (%s, %d px), %d inputs; CPU fp32 reference %.1f s", model_dir,
                  manifest.backbone, manifest.input.size_px, len(inputs),
                  time.perf_counter() - start)
        rows = []
        if has_cuda:
            rows += torch_rows(model, manifest, inputs, ref)
        else:
            _LOG.info("no CUDA device: PyTorch CUDA, onnxruntime CUDA and TensorRT skipped")
        try:
            rows += export_rows(model_dir, work / "export", has_cuda)
        except Exception as exc:  # a script's top level: report and go on (onnx, onnxscript...)
            rows.append({"run": "export + verify", "precision": "-", "tolerance_deg": None,
                         "latency_ms": None, "skipped": f"{type(exc).__name__}: {exc}"[:200]})
        if has_cuda and (work / "export" / "model.onnx").is_file():
            rows.append(ort_cuda_row(work / "export", manifest, inputs, ref))
    _LOG.info("|delta| vs PyTorch CPU fp32, degrees\n%s", table(rows))
    if os.environ.get("OUT"):
        out = Path(os.environ["OUT"]) / "gpu_check.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"info": info, "rows": rows}, indent=2) + "\n")
        _LOG.info("wrote %s", out)
    return 1 if any(r.get("passed") is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
