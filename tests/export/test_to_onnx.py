"""ONNX export: both output modes, checker, dynamic batch, parity with PyTorch."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx not installed (pip install .[export])")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed")

from gldpose_export.verify import FP16_TOL_DEG, FP32_TOL_DEG  # noqa: E402
from gldpose_sdk.decode import decode_logits  # noqa: E402
from gldpose_sdk.manifest import read_manifest  # noqa: E402


def _session(path: Path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_manifest_lists_both_modes_with_opset(exported_dir: Path) -> None:
    manifest = read_manifest(exported_dir)
    logits = manifest.find("onnx", output="logits")
    angles = manifest.find("onnx", output="angles")
    assert (logits.path, angles.path) == ("model.onnx", "model_angles.onnx")
    for art in (logits, angles):
        assert art.versions.onnx_opset >= 17
        onnx.checker.check_model(str(exported_dir / art.path))


@pytest.mark.parametrize("batch", [1, 5])
def test_dynamic_batch_shapes(exported_dir: Path, batch: int, rng: np.random.Generator) -> None:
    x = rng.standard_normal((batch, 3, 64, 64)).astype(np.float32)
    (logits,) = _session(exported_dir / "model.onnx").run(["logits"], {"input": x})
    angles, std = _session(exported_dir / "model_angles.onnx").run(["angles", "std"],
                                                                   {"input": x})
    assert logits.shape == (batch, 3, 66)
    assert angles.shape == std.shape == (batch, 3)
    assert np.all(std >= 0) and np.all(np.abs(angles) < 99)


def test_in_graph_decode_matches_sdk_decode(exported_dir: Path, rng: np.random.Generator) -> None:
    manifest = read_manifest(exported_dir)
    x = rng.standard_normal((4, 3, 64, 64)).astype(np.float32)
    (logits,) = _session(exported_dir / "model.onnx").run(["logits"], {"input": x})
    angles, std = _session(exported_dir / "model_angles.onnx").run(None, {"input": x})
    want_angles, want_std = decode_logits(logits, manifest.bins.centres_deg())
    np.testing.assert_allclose(angles, want_angles, atol=FP32_TOL_DEG)
    np.testing.assert_allclose(std, want_std, atol=FP32_TOL_DEG)


@pytest.mark.parametrize("path", ["model.onnx", "model_angles.onnx"])
def test_onnx_parity_with_pytorch(parity_report, path: str) -> None:
    rows = [r for r in parity_report.rows if r.artefact == path]
    assert len(rows) == 1 and rows[0].precision == "fp32"
    assert rows[0].tolerance_deg == FP32_TOL_DEG
    assert max(rows[0].max_deg) <= FP32_TOL_DEG, parity_report.table()


@pytest.mark.parametrize("path", ["model.onnx", "model_angles.onnx"])
def test_pooling_is_global_and_the_heads_are_one_product(exported_dir: Path, path: str) -> None:
    """The dynamo exporter's spatial ReduceMean is rewritten as GlobalAveragePool and the three
    heads are one Gemm (``FusedHeads``); the parity test above holds the logits to PyTorch's."""
    ops = [node.op_type for node in onnx.load(str(exported_dir / path)).graph.node]
    assert ops.count("GlobalAveragePool") == 1 and "ReduceMean" not in ops   # resnet18: one pool
    assert ops.count("Gemm") == 1


def test_uint8_form_folds_the_normalisation_into_the_first_convolution(
        exported_dir: Path, rng: np.random.Generator) -> None:
    """``model_u8.onnx`` runs only a transpose, a cast and a subtraction before the network's
    first convolution (channel swap and scale are in its weights), and gives the float form's
    logits for the same crops."""
    from gldpose_sdk.preprocess import to_network_input

    graph = onnx.load(str(exported_dir / "model_u8.onnx")).graph
    ops = [node.op_type for node in graph.node]
    assert ops[:ops.index("Conv")] == ["Transpose", "Cast", "Sub"]
    assert len(ops) == len(onnx.load(str(exported_dir / "model.onnx")).graph.node) + 3
    manifest = read_manifest(exported_dir)
    crops = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    (folded,) = _session(exported_dir / "model_u8.onnx").run(None, {"input": crops})
    (plain,) = _session(exported_dir / "model.onnx").run(
        None, {"input": to_network_input(crops, "nchw_float", manifest.input)})
    np.testing.assert_allclose(folded, plain, rtol=1e-4, atol=1e-4)


def test_uint8_form_needs_a_three_channel_first_convolution() -> None:
    torch = pytest.importorskip("torch", reason="torch not installed")
    from gldpose_export import ExportError
    from gldpose_export.formats.to_onnx import FoldedPreprocessing
    from gldpose_sdk.manifest import InputSpec

    grouped = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, groups=3), torch.nn.Flatten())
    for net in (grouped, torch.nn.Sequential(torch.nn.Flatten())):
        with pytest.raises(ExportError, match="first convolution"):
            FoldedPreprocessing(net, InputSpec(size_px=64))


def _mean_graph(path: Path, rank: int, axes: list[int], keepdims: int, opset: int) -> None:
    from onnx import TensorProto, helper, numpy_helper

    shape = ["n", 4, 5, 6][:rank]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    reduced = {a % rank for a in axes}
    out_shape = [1 if i in reduced else d for i, d in enumerate(shape)
                 if keepdims or i not in reduced]
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)
    relu = helper.make_node("Relu", ["x"], ["r"])
    if opset >= 18:   # axes an input
        mean = helper.make_node("ReduceMean", ["r", "axes"], ["y"], keepdims=keepdims)
        inits = [numpy_helper.from_array(np.array(axes, np.int64), "axes")]
    else:             # axes an attribute
        mean = helper.make_node("ReduceMean", ["r"], ["y"], keepdims=keepdims, axes=axes)
        inits = []
    graph = helper.make_graph([relu, mean], "g", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.mark.parametrize("rank, axes, keepdims, opset, rewritten", [
    (4, [2, 3], 1, 18, True), (4, [-1, -2], 1, 18, True), (4, [3, 2], 1, 17, True),
    (4, [1], 1, 18, False), (4, [2, 3], 0, 18, False), (4, [1, 2, 3], 1, 18, False),
    (3, [1, 2], 1, 18, False), (3, [-1, -2], 1, 17, False)])
def test_global_average_pools_rewrites_only_means_over_the_two_spatial_axes(
        tmp_path: Path, rng: np.random.Generator, rank: int, axes: list[int], keepdims: int,
        opset: int, rewritten: bool) -> None:
    from gldpose_export.formats.to_onnx import global_average_pools

    path = tmp_path / "mean.onnx"
    _mean_graph(path, rank, axes, keepdims, opset)
    x = rng.standard_normal((2, 4, 5, 6)[:rank]).astype(np.float32)
    (before,) = _session(path).run(None, {"x": x})
    assert global_average_pools(path) == int(rewritten)
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    ops = [node.op_type for node in model.graph.node]
    assert ops == ["Relu", "GlobalAveragePool" if rewritten else "ReduceMean"]
    if rewritten:
        assert not model.graph.initializer   # the unused axes constant is gone
    (after,) = _session(path).run(None, {"x": x})
    assert after.shape == before.shape
    np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-6)


def test_fp16_onnx_for_strongly_typed_tensorrt(tiny_model_dir: Path, tmp_path: Path,
                                               rng: np.random.Generator) -> None:
    torch = pytest.importorskip("torch", reason="torch not installed")
    from gldpose_export.config import ExportConfig
    from gldpose_export.formats.to_onnx import export_fp16_onnx
    from gldpose_sdk.model import load_model

    model, manifest = load_model(tiny_model_dir)
    config = ExportConfig(checkpoint=tiny_model_dir, out_dir=tmp_path,
                          onnx_exporter="torchscript")
    art = export_fp16_onnx(model, manifest, tmp_path, config)
    assert (art.path, art.precision) == ("model_fp16.onnx", "fp16")
    graph = onnx.load(str(tmp_path / art.path)).graph
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in graph.initializer)
    x = rng.standard_normal((3, 3, 64, 64)).astype(np.float32)
    (logits,) = _session(tmp_path / art.path).run(None, {"input": x})
    assert logits.dtype == np.float32  # fp32 interface around fp16 compute
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    centres = manifest.bins.centres_deg()
    delta = np.abs(decode_logits(logits, centres)[0] - decode_logits(ref, centres)[0])
    assert delta.max() <= FP16_TOL_DEG
    assert next(model.parameters()).dtype == torch.float32  # the caller's model is untouched


_CUBIC_KNOTS = np.linspace(-90.0, 90.0, 13)
_CUBIC_MAP_ARGS = (tuple(_CUBIC_KNOTS), tuple(_CUBIC_KNOTS * (1 + (_CUBIC_KNOTS / 90) ** 2)))


def test_decode_head_maps_like_the_sdk_inside_and_beyond_the_knots() -> None:
    """The in-graph map (clamp, relu, steps) equals the SDK's decode, ends included."""
    torch = pytest.importorskip("torch", reason="torch not installed")
    from gldpose_export.formats.to_onnx import DecodeHead
    from gldpose_sdk.inference import angles_from_logits
    from gldpose_sdk.manifest import ExpectationMap, Manifest

    angle_map = ExpectationMap(*_CUBIC_MAP_ARGS)
    manifest = Manifest(backbone="x", expectation_map=angle_map)
    centres = manifest.bins.centres_deg()
    # ends and inside, off the knots (every 15 degrees: the slope jumps there, and two float32
    # expectations a rounding apart may fall on either side)
    peaks = np.array([-97.5, -91.0, -58.0, -3.0, 1.0, 7.5, 44.0, 89.9, 97.5])
    logits = -((centres[None, :] - peaks[:, None]) / 2.0) ** 2            # sharp, near each peak
    logits = np.stack([logits[:3], logits[3:6], logits[6:]], axis=0).astype(np.float32)

    class Fixed(torch.nn.Module):
        def forward(self, x):  # type: ignore[no-untyped-def]
            return torch.from_numpy(logits)

    head = DecodeHead(Fixed(), torch.from_numpy(centres), angle_map).eval()
    with torch.no_grad():
        angles, std = (t.numpy() for t in head(torch.zeros(3, 3, 8, 8)))
    want_angles, want_std = angles_from_logits(logits, manifest)
    assert np.abs(want_angles).max() > 120                 # the map is far from the identity
    np.testing.assert_allclose(angles, want_angles, atol=1e-3)
    np.testing.assert_allclose(std, want_std, rtol=1e-4, atol=1e-4)


def test_angles_onnx_carries_the_expectation_map(tiny_model_dir: Path, tmp_path: Path,
                                                 rng: np.random.Generator) -> None:
    import dataclasses
    import shutil

    from gldpose_export.cli import run_export
    from gldpose_export.config import ExportConfig
    from gldpose_export.verify import verify_model_dir
    from gldpose_sdk.inference import angles_from_logits
    from gldpose_sdk.manifest import ExpectationMap, write_manifest

    folder = tmp_path / "mapped"
    shutil.copytree(tiny_model_dir, folder)
    manifest = dataclasses.replace(read_manifest(folder),
                                   expectation_map=ExpectationMap(*_CUBIC_MAP_ARGS))
    write_manifest(folder, manifest)
    run_export(ExportConfig(checkpoint=folder, out_dir=folder, formats=("onnx",)))
    x = rng.standard_normal((5, 3, 64, 64)).astype(np.float32)
    (logits,) = _session(folder / "model.onnx").run(["logits"], {"input": x})
    angles, std = _session(folder / "model_angles.onnx").run(["angles", "std"], {"input": x})
    want_angles, want_std = angles_from_logits(logits, manifest)
    plain = decode_logits(logits, manifest.bins.centres_deg())[0]
    assert np.abs(want_angles - plain).max() > 1.0         # the map changed the answer
    np.testing.assert_allclose(angles, want_angles, atol=FP32_TOL_DEG)
    np.testing.assert_allclose(std, want_std, rtol=1e-4, atol=FP32_TOL_DEG)
    report = verify_model_dir(folder, n_random=4, n_crops=4, raise_on_failure=False)
    assert not report.failures and {r.artefact for r in report.rows} >= {"model_angles.onnx"}
