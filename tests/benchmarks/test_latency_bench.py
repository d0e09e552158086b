"""benchmarks/latency.py --quick on the tiny model: table, JSON, reference ratio, skips, peers."""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import warnings
from pathlib import Path
from types import ModuleType

import pytest

from gldpose_sdk.manifest import make_artefact, write_manifest

torch = pytest.importorskip("torch", reason="torch not installed")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def latency():  # type: ignore[no-untyped-def]
    name = "gldpose_benchmarks_latency"
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "latency.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    yield module
    sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def onnx_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model plus an ONNX file (no OpenVINO IR, so that variant is skipped)."""
    from gldpose_sdk.model import load_model

    out = tmp_path_factory.mktemp("bench_model")
    for item in tiny_model_dir.iterdir():
        shutil.copy2(item, out / item.name)
    model, manifest = load_model(out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, torch.zeros(1, 3, 64, 64), str(out / "model.onnx"), dynamo=False,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    write_manifest(out, manifest.with_artefact(make_artefact(out, "model.onnx", "onnx")))
    return out


def test_quick_run(latency: ModuleType, onnx_model_dir: Path, tmp_path: Path,
                   capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
    out = tmp_path / "latency.json"
    code = latency.main(["--model", str(onnx_model_dir), "--quick", "--json", str(out),
                         "--peers", str(tmp_path / "no_peers"), "--variants", "pytorch-fp32",
                         "onnxruntime-fp32", "openvino-f32", "tensorrt"])
    assert code == 0
    report = json.loads(out.read_text())
    cells = {(r["variant"], r["batch"]): r for r in report["rows"]}
    assert set(cells) == {(v, b) for v in ("pytorch-fp32", "onnxruntime-fp32") for b in (1, 4)}
    assert cells[("pytorch-fp32", 1)]["speedup_vs_ref"] == pytest.approx(1.0)
    for row in report["rows"]:
        assert row["net_ms"] > 0 and row["e2e_ms"] > 0
        assert row["net_ms_per_face"] == pytest.approx(row["net_ms"] / row["batch"])
    skipped = dict(map(tuple, report["skipped"]))
    assert "no openvino artefact" in skipped["openvino-f32"] or "not installed" in skipped[
        "openvino-f32"]
    assert "tensorrt" in skipped
    assert report["settings"]["quick"] and report["input_size_px"] == 64
    table = capsys.readouterr().out
    assert "onnxruntime-fp32" in table and "x ref" in table


def test_peers_side_by_side(latency: ModuleType, tiny_model_dir: Path, shared_data: Path,
                            tmp_path: Path) -> None:
    peers = shared_data / "peers"
    if not (peers / "fsanet").is_dir():
        pytest.skip(f"no peer models in {peers}")
    out = tmp_path / "latency.json"
    assert latency.main(["--model", str(tiny_model_dir), "--quick", "--json", str(out),
                         "--peers", str(peers), "--variants", "pytorch-fp32"]) == 0
    report = json.loads(out.read_text())
    variants = {r["variant"] for r in report["rows"]}
    assert "pytorch-fp32" in variants
    expected = {"peer:fsanet x2"} if importlib.util.find_spec("onnxruntime") else set()
    if importlib.util.find_spec("openvino"):
        expected.add("peer:omz-adas-0001")
    assert expected <= variants
    assert all(r["batch"] == 1 for r in report["rows"] if r["variant"].startswith("peer:"))


def test_missing_model_is_exit_2(latency: ModuleType, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert latency.main(["--model", str(tmp_path), "--quick",
                         "--json", str(tmp_path / "x.json")]) == 2
    assert "not a gldpose model folder" in capsys.readouterr().err
