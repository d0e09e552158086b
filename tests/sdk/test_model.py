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


# -- import-hopenet: every tensor checked before anything is allocated --------------------------
@pytest.fixture(scope="module")
def hopenet_state():  # type: ignore[no-untyped-def]
    """(module, state dict as in the 2018 release: no BatchNorm step counters)."""
    torch.manual_seed(3)
    hopenet = _HopenetLayout().eval()
    return hopenet, {k: v for k, v in hopenet.state_dict().items()
                     if not k.endswith("num_batches_tracked")}


class _Storage:
    """A storage record to forge: key and declared element count."""

    def __init__(self, key: str, numel: int) -> None:
        self.key, self.numel = key, numel


class _ForgedTensor:
    """Pickles as torch's own tensor record, with any shape, stride and storage size."""

    def __init__(self, storage: _Storage, shape: tuple, stride: tuple) -> None:
        self.storage, self.shape, self.stride = storage, shape, stride

    def __reduce__(self):  # type: ignore[no-untyped-def]
        import collections

        return (torch._utils._rebuild_tensor_v2,
                (self.storage, 0, self.shape, self.stride, False, collections.OrderedDict()))


class _System:
    """A pickle payload that would run a shell command if it were ever unpickled."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):  # type: ignore[no-untyped-def]
        import os

        return (os.system, (self.command,))


def _forged_pickle(obj: object) -> bytes:
    import io
    import pickle

    class Pickler(pickle.Pickler):
        def persistent_id(self, o):  # type: ignore[no-untyped-def]
            if isinstance(o, _Storage):
                return ("storage", torch.FloatStorage, o.key, "cpu", o.numel)
            return None

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def _forged_zip(  # type: ignore[no-untyped-def]
        path, obj: object, records: dict[str, bytes]) -> None:
    """A zip-format checkpoint as torch.save lays it out, with a forged pickle and records."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", _forged_pickle(obj))
        archive.writestr("archive/byteorder", "little")
        for key, data in records.items():
            archive.writestr(f"archive/data/{key}", data)
        archive.writestr("archive/version", "3\n")


def _forged_legacy(path, obj: object, data: bytes) -> None:  # type: ignore[no-untyped-def]
    """A pre-1.6 format checkpoint (Hopenet's own format) with a forged pickle."""
    import pickle

    header = [0x1950A86A20F9469CFC6C, 1001,
              {"protocol_version": 1001, "little_endian": True,
               "type_sizes": {"short": 2, "int": 4, "long": 4}}]
    with open(path, "wb") as fh:
        for item in header:
            pickle.dump(item, fh, protocol=2)
        fh.write(_forged_pickle(obj))
        pickle.dump(["0"], fh, protocol=2)
        fh.write(data)


def test_hopenet_legacy_format_and_module_prefix_import(  # type: ignore[no-untyped-def]
        tmp_path, hopenet_state):
    hopenet, state = hopenet_state
    wrapped = {f"module.{k}": v for k, v in state.items()}  # saved from nn.DataParallel
    path = tmp_path / "hopenet_legacy.pkl"
    torch.save(wrapped, path, _use_new_zipfile_serialization=False)  # the 2018 file format
    import_hopenet(path, tmp_path / "model")
    model, manifest = load_model(tmp_path / "model")
    assert manifest.bins.offset_deg == -99.0
    x = torch.randn(1, 3, 224, 224)
    for k, ref in enumerate(hopenet(x)):
        assert torch.allclose(model(x)[:, k], ref, atol=1e-4)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_hopenet_zero_dim_head_is_refused_by_name(  # type: ignore[no-untyped-def]
        tmp_path, hopenet_state, legacy):
    _, state = hopenet_state
    bad = dict(state, **{"fc_yaw.weight": torch.tensor(1.0)})
    torch.save(bad, tmp_path / "zero_dim.pkl", _use_new_zipfile_serialization=not legacy)
    with pytest.raises(ModelFileError, match=r"fc_yaw.weight \(\) \(expected \(66, 2048\)\)"):
        import_hopenet(tmp_path / "zero_dim.pkl", tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_hopenet_declared_empty_giant_head_is_refused_quickly(  # type: ignore[no-untyped-def]
        tmp_path):
    import time

    # 1.5 KB on disk; the unchecked import built Linear(2048, 10**7) from it: 82 GB.
    torch.save({"fc_yaw.weight": torch.empty(10**7, 0)}, tmp_path / "tiny.pkl")
    assert (tmp_path / "tiny.pkl").stat().st_size < 2048
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match=r"fc_yaw.weight \(10000000, 0\)"):
        import_hopenet(tmp_path / "tiny.pkl", tmp_path / "m")
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_hopenet_forged_storage_larger_than_the_file_is_refused(  # type: ignore[no-untyped-def]
        tmp_path, legacy):
    # A head of the right shape whose storage claims 80 GB, backed by 8 bytes.
    storage = _Storage("0", 20 * 10**9)
    forged = {"fc_yaw.weight": _ForgedTensor(storage, (66, 2048), (2048, 1))}
    path = tmp_path / "forged.pkl"
    if legacy:
        _forged_legacy(path, forged, b"\x00" * 16)
    else:
        _forged_zip(path, forged, {"0": b"\x00" * 8})
    with pytest.raises(ModelFileError, match=r"declares? 8000000000\d bytes"):
        import_hopenet(path, tmp_path / "m")


def test_hopenet_forged_shape_over_a_tiny_storage_is_refused(  # type: ignore[no-untyped-def]
        tmp_path):
    small = _Storage("0", 2)
    # zero strides keep a (10**7, 2048) view inside 2 elements: refused for its shape
    forged = {"fc_yaw.weight": _ForgedTensor(small, (10**7, 2048), (0, 0))}
    _forged_zip(tmp_path / "f.pkl", forged, {"0": b"\x00" * 8})
    with pytest.raises(ManifestMismatchError, match=r"fc_yaw.weight \(10000000, 2048\)"):
        import_hopenet(tmp_path / "f.pkl", tmp_path / "m")
    # a tensor reaching past the end of its storage
    forged = {"fc_yaw.weight": _ForgedTensor(small, (66, 2048), (2048, 1))}
    _forged_zip(tmp_path / "g.pkl", forged, {"0": b"\x00" * 8})
    with pytest.raises(ModelFileError, match="past the end of its storage"):
        import_hopenet(tmp_path / "g.pkl", tmp_path / "m")


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_hopenet_malicious_pickle_runs_nothing(tmp_path, legacy):  # type: ignore[no-untyped-def]
    marker = tmp_path / "pwned"
    payload = {"fc_yaw.weight": _System(f"touch {marker}")}
    path = tmp_path / "evil.pkl"
    if legacy:
        _forged_legacy(path, payload, b"")
    else:
        _forged_zip(path, payload, {})
    with pytest.raises(ModelFileError, match="system is not allowed"):
        import_hopenet(path, tmp_path / "m")
    assert not marker.exists()


def test_hopenet_truncated_and_non_state_dict_files(  # type: ignore[no-untyped-def]
        tmp_path, hopenet_state):
    _, state = hopenet_state
    torch.save({k: state[k] for k in ("fc_yaw.weight", "fc_yaw.bias")}, tmp_path / "part.pkl")
    data = (tmp_path / "part.pkl").read_bytes()
    (tmp_path / "cut.pkl").write_bytes(data[:len(data) // 2])
    with pytest.raises(ModelFileError, match="cannot load"):
        import_hopenet(tmp_path / "cut.pkl", tmp_path / "m")
    torch.save([1, 2, 3], tmp_path / "list.pkl")
    with pytest.raises(ModelFileError, match="not a state dict of tensors"):
        import_hopenet(tmp_path / "list.pkl", tmp_path / "m")
    with pytest.raises(ModelFileError, match="not found"):
        import_hopenet(tmp_path / "missing.pkl", tmp_path / "m")
