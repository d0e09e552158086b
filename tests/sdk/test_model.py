"""PoseNet: backbones, save/load, Hopenet checkpoint import, ImageNet trunk initialisation."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch not installed (pip install .[torch])")

from gldpose_sdk.errors import ManifestMismatchError, ModelFileError  # noqa: E402
from gldpose_sdk.manifest import Manifest, read_manifest  # noqa: E402
from gldpose_sdk.model import (  # noqa: E402
    BACKBONES, PoseNet, import_hopenet, load_imagenet_trunk, load_model, save_model)


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_every_backbone_gives_three_heads_of_66_bins(backbone):
    model = PoseNet(backbone).eval()
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 3, 66)
    assert {"fc_yaw.weight", "fc_pitch.weight", "fc_roll.weight"} <= set(model.state_dict())


def test_save_load_round_trip_and_fp16(tmp_path):
    torch.manual_seed(0)
    model = PoseNet("mobilenet_v3_small").eval()
    x = torch.randn(2, 3, 64, 64)
    save_model(tmp_path / "a", model, Manifest(backbone="x"))
    save_model(tmp_path / "b", model, Manifest(backbone="x"), half=True)
    a, man = load_model(tmp_path / "a")
    b, _ = load_model(tmp_path / "b")
    assert man.backbone == "mobilenet_v3_small"
    assert torch.allclose(a(x), model(x), atol=1e-5)
    assert torch.allclose(b(x), model(x), atol=0.05)
    (tmp_path / "a" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ManifestMismatchError, match="sha256"):
        load_model(tmp_path / "a")


class _HopenetLayout(torch.nn.Module):
    """A module with Hopenet's attribute names (deep-head-pose hopenet.py), built here."""

    def __init__(self) -> None:
        super().__init__()
        import torchvision

        r = torchvision.models.resnet50(weights=None)
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            setattr(self, name, getattr(r, name))
        self.avgpool = torch.nn.AvgPool2d(7)
        self.fc_yaw = torch.nn.Linear(2048, 66)
        self.fc_pitch = torch.nn.Linear(2048, 66)
        self.fc_roll = torch.nn.Linear(2048, 66)
        self.fc_finetune = torch.nn.Linear(2048 + 3, 3)

    def forward(self, x):
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            x = getattr(self, name)(x)
        x = self.avgpool(x).flatten(1)
        return self.fc_yaw(x), self.fc_pitch(x), self.fc_roll(x)


def test_hopenet_checkpoint_imports_with_same_outputs(tmp_path):
    torch.manual_seed(1)
    hopenet = _HopenetLayout().eval()
    state = {k: v for k, v in hopenet.state_dict().items()
             if not k.endswith("num_batches_tracked")}  # as in the 2018 release
    torch.save(state, tmp_path / "hopenet_robust_alpha1.pkl")
    manifest = import_hopenet(tmp_path / "hopenet_robust_alpha1.pkl", tmp_path / "model")
    assert manifest.bins.offset_deg == -99.0
    assert read_manifest(tmp_path / "model").bins.offset_deg == -99.0
    model, _ = load_model(tmp_path / "model")
    x = torch.randn(2, 3, 224, 224)
    yaw, pitch, roll = hopenet(x)
    ours = model(x)
    for k, ref in enumerate((yaw, pitch, roll)):
        assert torch.allclose(ours[:, k], ref, atol=1e-4)


def test_hopenet_import_refuses_wrong_layout_and_garbage(tmp_path):
    torch.save({"conv1.weight": torch.zeros(3)}, tmp_path / "bad.pkl")
    with pytest.raises(ManifestMismatchError, match="do not fit"):
        import_hopenet(tmp_path / "bad.pkl", tmp_path / "m")
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ModelFileError, match="cannot load"):
        import_hopenet(tmp_path / "junk.pkl", tmp_path / "m2")


def test_imagenet_trunk_initialisation_from_local_file(tmp_path):
    import torchvision

    torch.manual_seed(2)
    ref = torchvision.models.resnet18(weights=None)
    torch.save(ref.state_dict(), tmp_path / "resnet18.pth")
    model = PoseNet("resnet18")
    loaded = load_imagenet_trunk(model, tmp_path / "resnet18.pth")
    assert loaded == len(ref.state_dict()) - 2  # everything but fc.weight / fc.bias
    assert torch.equal(model.conv1.weight, ref.conv1.weight)
    with pytest.raises(ManifestMismatchError, match="no tensor"):
        load_imagenet_trunk(PoseNet("mobilenet_v3_small"), tmp_path / "resnet18.pth")
