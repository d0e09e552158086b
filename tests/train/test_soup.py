"""Weight averages of model folders (``gldpose soup``): the mean of the members' tensors, one
network's manifest, refusals for folders of different networks."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed")

import gldpose_cli  # noqa: E402
from gldpose_sdk.manifest import CropRule, read_manifest, write_manifest  # noqa: E402
from gldpose_sdk.model import load_model, save_model  # noqa: E402
from gldpose_train import TrainError  # noqa: E402
from gldpose_train.soup import average_model_folders  # noqa: E402


def _perturbed(tiny_model_dir: Path, out: Path, seed: int) -> Path:
    """The tiny model with seeded noise on every float tensor (a stand-in fine-tune)."""
    model, manifest = load_model(tiny_model_dir)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(0.01 * torch.randn(tensor.shape, generator=gen))
    save_model(out, model, dataclasses.replace(manifest, artefacts=()))
    return out


def test_the_average_holds_the_mean_of_every_float_tensor(tiny_model_dir, tmp_path) -> None:
    a = _perturbed(tiny_model_dir, tmp_path / "a", seed=1)
    b = _perturbed(tiny_model_dir, tmp_path / "b", seed=2)
    c = _perturbed(tiny_model_dir, tmp_path / "c", seed=3)
    manifest = average_model_folders([a, b, c], tmp_path / "soup")
    soup, read_back = load_model(tmp_path / "soup")
    assert read_back == manifest and manifest.calibration is None
    assert "3 models: a, b, c" in manifest.training.notes
    states = [load_model(m)[0].state_dict() for m in (a, b, c)]
    for key, tensor in soup.state_dict().items():
        if tensor.is_floating_point():
            want = (states[0][key] + states[1][key] + states[2][key]) / 3
            torch.testing.assert_close(tensor, want, rtol=0, atol=1e-6)
            assert not torch.equal(tensor, states[0][key])      # it is not one member
        else:
            assert torch.equal(tensor, states[0][key])            # counters: the first's


def test_a_model_averaged_with_itself_predicts_what_it_did(tiny_model_dir, tmp_path) -> None:
    average_model_folders([tiny_model_dir, tiny_model_dir], tmp_path / "same")
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype("f4"))
    with torch.no_grad():
        torch.testing.assert_close(load_model(tmp_path / "same")[0](x),
                                   load_model(tiny_model_dir)[0](x), rtol=0, atol=1e-5)


def test_members_of_different_networks_are_refused(tiny_model_dir, tmp_path) -> None:
    other = tmp_path / "other_crop"
    shutil.copytree(tiny_model_dir, other)
    write_manifest(other, dataclasses.replace(read_manifest(other), crop=CropRule(
        left_frac=0.1, top_frac=0.1, right_frac=0.1, bottom_frac=0.1, square=True)))
    with pytest.raises(TrainError, match="differs .* in crop"):
        average_model_folders([tiny_model_dir, other], tmp_path / "soup")
    with pytest.raises(TrainError, match="at least two"):
        average_model_folders([tiny_model_dir], tmp_path / "soup")
    assert not (tmp_path / "soup").exists()


def test_the_soup_command_writes_a_loadable_model_folder(tiny_model_dir, tmp_path,
                                                         capsys) -> None:
    b = _perturbed(tiny_model_dir, tmp_path / "b", seed=5)
    out = tmp_path / "soup"
    assert gldpose_cli.main(["soup", "--out", str(out), str(tiny_model_dir), str(b)]) == 0
    assert "calibrate it before use" in capsys.readouterr().out
    model, manifest = load_model(out)
    assert manifest.backbone == read_manifest(tiny_model_dir).backbone
    assert gldpose_cli.main(["soup", "--out", str(tmp_path / "x"), str(b)]) == 2
    assert "at least two" in capsys.readouterr().err
