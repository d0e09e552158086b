"""ONNX export: raw logits ``[N, 3, bins]`` (the SDK's input) and in-graph decode (angles + std).

Exporter choice, measured on this 2-core CPU with torch 2.14: the dynamo exporter (torch.export,
the maintained path; needs onnxscript) takes ~4 s for resnet18 and ~6 s for resnet50 and writes
opset 18 even when asked for 17; the TorchScript exporter (``dynamo=False``, deprecated upstream)
takes ~0.5 s. Both give a dynamic batch axis. The default is dynamo; ``onnx_exporter`` switches.
"""
from __future__ import annotations

import importlib.util
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper
from torch import nn
from torch.nn import functional as F

from gldpose_export import ExportError
from gldpose_export.config import ExportConfig
from gldpose_sdk.manifest import (
    Artefact,
    ExpectationMap,
    InputSpec,
    Manifest,
    RuntimeVersions,
    make_artefact,
)
from gldpose_sdk.model import HEAD_NAMES, PoseNet

_LOG = logging.getLogger(__name__)

INPUT_NAME = "input"
LOGITS_NAME = "logits"
ANGLES_NAMES = ("angles", "std")
LOGITS_FILE = "model.onnx"
ANGLES_FILE = "model_angles.onnx"
FP16_FILE = "model_fp16.onnx"
UINT8_FILE = "model_u8.onnx"
REFERENCE_FILE = "model_reference.npz"   # inputs + PyTorch logits, for parity on the target
_MAX_DYNAMIC_BATCH = 4096


class FusedHeads(nn.Module):
    """PoseNet with its three heads as one matrix product: the same logits ``[N, 3, bins]``.

    The yaw, pitch and roll head matrices stacked into one ``[3 bins, C]`` matrix (and their
    biases into one vector) give one Gemm and a Reshape where PoseNet's own forward (kept so
    for training and Hopenet's state-dict names) exports as three Gemms, three Unsqueezes and a
    Concat. Every ONNX form is exported through this: about 2 % of the network time at batch 1
    on a 2-core AVX2 CPU with ONNX Runtime, 0-3 % with OpenVINO (docs/results/latency.md,
    session 12).
    """

    def __init__(self, net: PoseNet) -> None:
        super().__init__()
        self.net = net
        heads = [getattr(net, name) for name in HEAD_NAMES]
        self.num_bins = heads[0].out_features
        self.register_buffer("weight", torch.cat([h.weight.detach() for h in heads]))
        self.register_buffer("bias", torch.cat([h.bias.detach() for h in heads]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = F.linear(self.net.pooled_features(x), self.weight, self.bias)
        return logits.reshape(-1, len(HEAD_NAMES), self.num_bins)


class DecodeHead(nn.Module):
    """PoseNet followed by the SDK's decode (DESIGN 1) with the manifest's bins and map.

    ``forward``: normalised RGB ``[N, 3, H, W]`` -> (angles ``[N, 3]``, std ``[N, 3]``), degrees:
    the softmax expectation and standard deviation, then, when the manifest has an
    :class:`~gldpose_sdk.manifest.ExpectationMap`, the angle through it and the std times its
    slope. The piecewise-linear map is written with plain ops (clamp, relu, a step per inner
    knot) so every ONNX runtime can run it: ``y0 + s0 (x - x0) + sum_k ds_k relu(x - x_k)``.
    """

    def __init__(self, net: nn.Module, centres_deg: torch.Tensor,
                 expectation_map: ExpectationMap | None = None) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("centres", centres_deg.reshape(1, 1, -1).float())
        self.mapped = expectation_map is not None
        if expectation_map is not None:
            xp = torch.tensor(expectation_map.expectation_deg, dtype=torch.float64)
            fp = torch.tensor(expectation_map.angle_deg, dtype=torch.float64)
            slopes = (fp[1:] - fp[:-1]) / (xp[1:] - xp[:-1])
            self.register_buffer("knot_x", xp[1:-1].float())             # inner knots
            self.register_buffer("slope_step", (slopes[1:] - slopes[:-1]).float())
            self.register_buffer("ends", torch.stack([xp[0], xp[-1], fp[0], slopes[0]]).float())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probs = torch.softmax(self.net(x), dim=2)
        angles = (probs * self.centres).sum(dim=2)
        var = (probs * (self.centres - angles.unsqueeze(2)) ** 2).sum(dim=2)
        std = torch.sqrt(torch.clamp(var, min=0.0))
        if not self.mapped:
            return angles, std
        x0, x1, y0, s0 = self.ends[0], self.ends[1], self.ends[2], self.ends[3]
        inside = torch.clamp(angles, min=x0, max=x1).unsqueeze(2)
        mapped = y0 + s0 * (inside.squeeze(2) - x0) + (
            self.slope_step * torch.relu(inside - self.knot_x)).sum(dim=2)
        past = (angles.unsqueeze(2) >= self.knot_x).to(angles.dtype)
        return mapped, std * (s0 + (self.slope_step * past).sum(dim=2))


class FoldedPreprocessing(nn.Module):
    """PoseNet taking the crops as cut: uint8 ``[N, S, S, 3]`` BGR -> logits.

    The normalisation ``(x - 255 mean) / (255 std)`` and BGR->RGB are folded into the network:
    the graph subtracts the mean in BGR order, and the first convolution's weights are scaled by
    ``1 / (255 std)`` and their input channels put in BGR order (a linear map folded into a
    linear map; the zero padding is the same because it pads the mean-subtracted input). What
    runs in the graph before the network is a cast, a transpose (NHWC->NCHW) and a subtraction,
    so the runtime does the per-pixel work the SDK would otherwise do (DESIGN 5: the artefact
    records ``input_layout="nhwc_uint8_bgr"``). ``net`` is modified: pass a copy.

    Raises:
        ExportError: the network's first layer is not a 3-channel, ungrouped, zero-padded
            convolution (every torchvision backbone of ``BACKBONES`` starts with one).
    """

    def __init__(self, net: nn.Module, spec: InputSpec) -> None:
        super().__init__()
        first = next((m for m in net.modules() if isinstance(m, nn.Conv2d)), None)
        if first is None or first.in_channels != 3 or first.groups != 1 or \
                first.padding_mode != "zeros":
            raise ExportError("the uint8 ONNX form folds the normalisation into the network's "
                              "first convolution, which must take the 3 colour channels "
                              f"ungrouped with zero padding; got {first!r}")
        scale_rgb = torch.tensor([1.0 / (255.0 * s) for s in spec.std_rgb])
        with torch.no_grad():
            first.weight.copy_((first.weight * scale_rgb.view(1, 3, 1, 1)).flip(1))
        self.net = net
        self.register_buffer("mean_bgr", torch.tensor(
            [255.0 * m for m in reversed(spec.mean_rgb)]).view(1, 3, 1, 1))

    def forward(self, crops_bgr: torch.Tensor) -> torch.Tensor:
        # contiguous: from a strided (permuted) tensor the exporter writes ~40 index ops more
        x = crops_bgr.permute(0, 3, 1, 2).float().contiguous()
        return self.net(x - self.mean_bgr)


class HalfPrecision(nn.Module):
    """Runs ``net`` in float16 behind a float32 interface (for strongly typed TensorRT builds)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net.half()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.half()).float()


def export_onnx(model: PoseNet, manifest: Manifest, out_dir: Path,
                config: ExportConfig) -> tuple[Artefact, ...]:
    """Write ``model.onnx`` (logits) and, if configured, ``model_angles.onnx``; describe both."""
    size_px = manifest.input.size_px
    batch = (1, config.batch_min_opt_max[1], 0)  # 0: no upper bound on the dynamic axis
    notes = write_onnx(FusedHeads(model).eval(), out_dir / LOGITS_FILE, (LOGITS_NAME,), size_px,
                       config)
    write_reference(model, manifest, out_dir / REFERENCE_FILE)
    arts = [make_artefact(out_dir, (LOGITS_FILE, REFERENCE_FILE), "onnx", output="logits",
                          batch_min_opt_max=batch, versions=_versions(out_dir / LOGITS_FILE),
                          notes=notes + f"; {REFERENCE_FILE}: 8 inputs and PyTorch's logits, the "
                          "reference a TensorRT engine built on the target is checked against")]
    if config.uint8_onnx:
        notes = write_onnx(FoldedPreprocessing(FusedHeads(_copy(model)), manifest.input).eval(),
                           out_dir / UINT8_FILE, (LOGITS_NAME,), size_px, config,
                           layout="nhwc_uint8_bgr")
        arts.append(make_artefact(out_dir, UINT8_FILE, "onnx", output="logits",
                                  input_layout="nhwc_uint8_bgr", batch_min_opt_max=batch,
                                  versions=_versions(out_dir / UINT8_FILE),
                                  notes=notes + "; input uint8 NHWC BGR crops, normalisation "
                                  "folded in"))
    if config.angles_onnx:
        centres = torch.from_numpy(manifest.bins.centres_deg())
        notes = write_onnx(DecodeHead(FusedHeads(model), centres,
                                      manifest.expectation_map).eval(),
                           out_dir / ANGLES_FILE, ANGLES_NAMES, size_px, config)
        notes += "; outputs angles [N,3] and std [N,3] in degrees (yaw, pitch, roll)"
        if manifest.expectation_map is not None:
            notes += ", through the manifest's expectation map"
        arts.append(make_artefact(out_dir, ANGLES_FILE, "onnx", output="angles",
                                  batch_min_opt_max=batch,
                                  versions=_versions(out_dir / ANGLES_FILE), notes=notes))
    return tuple(arts)


def write_reference(model: PoseNet, manifest: Manifest, path: Path) -> Path:
    """Store 8 verification inputs and PyTorch FP32's logits for them (``inputs``, ``logits``).

    Where ONNX Runtime is absent (a Jetson), an engine built on the target is compared with these.
    """
    from gldpose_export.verify import make_inputs

    inputs = make_inputs(manifest.input, n_random=4, n_crops=4, seed=0)
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(inputs)).numpy().astype(np.float32)
    np.savez(path, inputs=inputs, logits=logits)
    return path


def export_fp16_onnx(model: PoseNet, manifest: Manifest, out_dir: Path,
                     config: ExportConfig) -> Artefact:
    """Write ``model_fp16.onnx``: float16 weights and compute, float32 input and logits.

    TensorRT 11 removed the weakly typed FP16 builder flag, so its FP16 engine is built from this.
    """
    half = HalfPrecision(FusedHeads(_copy(model))).eval()
    notes = write_onnx(half, out_dir / FP16_FILE, (LOGITS_NAME,), manifest.input.size_px, config)
    return make_artefact(out_dir, FP16_FILE, "onnx", precision="fp16", output="logits",
                         batch_min_opt_max=(1, config.batch_min_opt_max[1], 0),
                         versions=_versions(out_dir / FP16_FILE),
                         notes=notes + "; fp16 inside, fp32 input/output")


def write_onnx(module: nn.Module, path: Path, output_names: tuple[str, ...], size_px: int,
               config: ExportConfig, layout: str = "nchw_float") -> str:
    """Export ``module`` to ``path`` with a dynamic batch axis, check it, simplify it.

    Returns:
        A note for the manifest: exporter, opset, simplifier, seconds taken.

    Raises:
        ExportError: the exporter failed, the checker rejected the file, or the batch is static.
    """
    start = time.perf_counter()
    example = (torch.zeros(2, 3, size_px, size_px, dtype=torch.float32) if layout == "nchw_float"
               else torch.zeros(2, size_px, size_px, 3, dtype=torch.uint8))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # exporter chatter (deprecations, tracer notes)
            _run_exporter(module.eval(), example, path, output_names, config)
        onnx.checker.check_model(str(path))
    except ExportError:
        raise
    except Exception as exc:  # the exporters raise many unrelated types
        raise ExportError(f"ONNX export of {path.name} failed ({config.onnx_exporter} "
                          f"exporter): {exc}") from exc
    simplifier = _simplify(path) if config.simplify else "not simplified"
    pools = global_average_pools(path)
    _check_dynamic_batch(path)
    seconds = time.perf_counter() - start
    _LOG.info("wrote %s in %.1f s (%s, %s, %d GlobalAveragePool)", path.name, seconds,
              config.onnx_exporter, simplifier, pools)
    return (f"torch {torch.__version__} {config.onnx_exporter} exporter, "
            f"opset {_versions(path).onnx_opset}, {simplifier}, "
            f"{pools} spatial means as GlobalAveragePool, dynamic batch, "
            f"{seconds:.1f} s")


def _run_exporter(module: nn.Module, example: torch.Tensor, path: Path,
                  output_names: tuple[str, ...], config: ExportConfig) -> None:
    if config.onnx_exporter == "dynamo":
        batch = torch.export.Dim("batch", min=1, max=_MAX_DYNAMIC_BATCH)
        torch.onnx.export(module, (example,), str(path), dynamo=True, opset_version=config.opset,
                          input_names=[INPUT_NAME], output_names=list(output_names),
                          dynamic_shapes=({0: batch},), external_data=False, verbose=False)
    else:
        axes = {name: {0: "batch"} for name in (INPUT_NAME, *output_names)}
        torch.onnx.export(module, (example,), str(path), dynamo=False,
                          opset_version=config.opset, input_names=[INPUT_NAME],
                          output_names=list(output_names), dynamic_axes=axes,
                          do_constant_folding=True)


def _simplify(path: Path) -> str:
    if importlib.util.find_spec("onnxslim") is None:
        return "onnxslim not installed: not simplified"
    import onnxslim  # optional: only simplifies, so its absence is not an error

    before = len(onnx.load(str(path), load_external_data=False).graph.node)
    slim = onnxslim.slim(str(path))
    onnx.checker.check_model(slim)
    onnx.save(slim, str(path))
    return f"onnxslim {onnxslim.__version__} ({before} -> {len(slim.graph.node)} nodes)"


def global_average_pools(path: Path) -> int:
    """Rewrite, in the ONNX file at ``path``, each mean of a 4-D tensor over its two spatial axes
    (dims kept) as a GlobalAveragePool; return how many were rewritten.

    The dynamo exporter writes PyTorch's average pooling to 1x1 (mobilenet_v3's
    squeeze-excitation blocks and the final pool) as ReduceMean. ONNX Runtime's CPU provider
    keeps GlobalAveragePool in its blocked channel layout (NCHWc) but leaves that layout around
    a ReduceMean, converting the tensor out of it and back each time: for mobilenet_v3_large at
    96 px, 4-6 % of the network time at batch 1 (docs/results/latency.md, session 12). The two
    ops compute the same mean.
    """
    model = onnx.load(str(path))
    if not any(node.op_type == "ReduceMean" for node in model.graph.node):
        return 0   # nothing to rewrite (e.g. the TorchScript exporter's GlobalAveragePool)
    inferred = onnx.shape_inference.infer_shapes(model).graph
    ranks = {v.name: len(v.type.tensor_type.shape.dim)
             for v in (*inferred.input, *inferred.value_info)
             if v.type.tensor_type.HasField("shape")}
    constants = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    count = 0
    for node in model.graph.node:
        if node.op_type != "ReduceMean" or ranks.get(node.input[0]) != 4:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        axes = constants.get(node.input[1]) if len(node.input) > 1 else attrs.get("axes")
        if attrs.get("keepdims", 1) != 1 or axes is None or \
                sorted(int(a) % 4 for a in np.ravel(axes)) != [2, 3]:
            continue
        node.CopyFrom(helper.make_node("GlobalAveragePool", [node.input[0]], list(node.output),
                                       name=node.name))
        count += 1
    if count:
        used = {name for node in model.graph.node for name in node.input}
        kept = [init for init in model.graph.initializer if init.name in used]
        del model.graph.initializer[:]
        model.graph.initializer.extend(kept)
        onnx.checker.check_model(model)
        onnx.save(model, str(path))
    return count


def _check_dynamic_batch(path: Path) -> None:
    graph = onnx.load(str(path), load_external_data=False).graph
    dim = graph.input[0].type.tensor_type.shape.dim[0]
    if not dim.dim_param:
        raise ExportError(f"{path.name}: the batch axis of input {graph.input[0].name!r} is "
                          f"static ({dim.dim_value}); the exporter did not keep it dynamic")


def _versions(path: Path) -> RuntimeVersions:
    model = onnx.load(str(path), load_external_data=False)
    opset = max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx"))
    return RuntimeVersions(onnx_opset=int(opset), torch=torch.__version__)


def _copy(model: PoseNet) -> PoseNet:
    clone = PoseNet(model.backbone_name, model.fc_yaw.out_features)
    clone.load_state_dict(model.state_dict())
    return clone.eval()

