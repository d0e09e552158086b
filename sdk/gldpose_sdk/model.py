"""The pose network in PyTorch: a torchvision backbone with three bin-logit heads (DESIGN 3).

Only the PyTorch backend, train/ and export/ import this module. For ResNet backbones the trunk
layers sit at the top level (``conv1``, ``bn1``, ``layer1``..``layer4``) and the heads are
``fc_yaw``, ``fc_pitch``, ``fc_roll``: Hopenet's state-dict names, so its checkpoints load.
"""
from __future__ import annotations

import dataclasses
import functools
import io
from pathlib import Path
from typing import Any, Callable

import torch
import torchvision
from safetensors import SafetensorError
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from gldpose_sdk.checkpoint_info import (
    FLOAT_DTYPES,
    MAX_CHECKPOINT_BYTES,
    TensorInfo,
    checkpoint_tensors,
)
from gldpose_sdk.errors import ManifestMismatchError, ModelFileError
from gldpose_sdk.manifest import (
    BinSpec,
    Manifest,
    TrainingInfo,
    make_artefact,
    read_manifest,
    verify_artefact,
    write_manifest,
)

WEIGHTS_NAME = "model.safetensors"
HEAD_NAMES = ("fc_yaw", "fc_pitch", "fc_roll")
_RESNET_TRUNK = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")


def _resnet(builder: Callable[..., nn.Module]) -> tuple[dict[str, nn.Module], int]:
    net = builder(weights=None)
    return {name: getattr(net, name) for name in _RESNET_TRUNK}, net.fc.in_features


def _features(builder: Callable[..., nn.Module]) -> tuple[dict[str, nn.Module], int]:
    net = builder(weights=None)
    channels = [m for m in net.features.modules() if isinstance(m, nn.Conv2d)][-1].out_channels
    return {"features": net.features}, channels


BACKBONES: dict[str, Callable[[], tuple[dict[str, nn.Module], int]]] = {
    "efficientnet_b0": lambda: _features(torchvision.models.efficientnet_b0),
    "mobilenet_v3_large": lambda: _features(torchvision.models.mobilenet_v3_large),
    # every layer's channels x 0.75: 1.9 M parameters instead of 3.2 M, about 0.65x the network
    # time of the full width at 96 px (docs/results/default_model.md, session 11)
    "mobilenet_v3_large_075": lambda: _features(
        functools.partial(torchvision.models.mobilenet_v3_large, width_mult=0.75)),
    "mobilenet_v3_small": lambda: _features(torchvision.models.mobilenet_v3_small),
    "resnet18": lambda: _resnet(torchvision.models.resnet18),
    "resnet50": lambda: _resnet(torchvision.models.resnet50),
}


class PoseNet(nn.Module):
    """Backbone + global average pool + three Linear heads; ``forward`` gives ``[N, 3, bins]``.

    The angle order of the output is yaw, pitch, roll.
    """

    def __init__(self, backbone: str = "resnet50", num_bins: int = 66) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}; choose one of {sorted(BACKBONES)}")
        trunk, feature_dim = BACKBONES[backbone]()
        self.backbone_name = backbone
        self._trunk_names = tuple(trunk)
        for name, module in trunk.items():
            self.add_module(name, module)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc_yaw = nn.Linear(feature_dim, num_bins)
        self.fc_pitch = nn.Linear(feature_dim, num_bins)
        self.fc_roll = nn.Linear(feature_dim, num_bins)

    def trunk_parameters(self) -> list[nn.Parameter]:
        """Parameters of the backbone (for a separate learning rate from the heads)."""
        return [p for n in self._trunk_names for p in getattr(self, n).parameters()]

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters of the three heads."""
        return [p for n in HEAD_NAMES for p in getattr(self, n).parameters()]

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised RGB ``[N, 3, H, W]`` float -> the pooled trunk features ``[N, C]``."""
        for name in self._trunk_names:
            x = getattr(self, name)(x)
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised RGB ``[N, 3, H, W]`` float -> logits ``[N, 3, bins]`` (yaw, pitch, roll)."""
        x = self.pooled_features(x)
        return torch.stack([self.fc_yaw(x), self.fc_pitch(x), self.fc_roll(x)], dim=1)


def save_model(model_dir: str | Path, model: PoseNet, manifest: Manifest,
               half: bool = False) -> Manifest:
    """Write ``model.safetensors`` (fp16 if ``half``) and a manifest listing it; return it."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if half else torch.float32
    tensors = {k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu())
               .contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(model_dir / WEIGHTS_NAME),
              metadata={"backbone": model.backbone_name,
                        "input_size_px": str(manifest.input.size_px)})
    art = make_artefact(model_dir, WEIGHTS_NAME, "safetensors",
                        precision="fp16" if half else "fp32")
    manifest = dataclasses.replace(manifest, backbone=model.backbone_name).with_artefact(art)
    write_manifest(model_dir, manifest)
    return manifest


def weights_metadata(model_dir: str | Path) -> dict[str, str]:
    """The metadata stored in ``model.safetensors`` (backbone, input size it was saved with)."""
    try:
        with safe_open(str(Path(model_dir) / WEIGHTS_NAME), framework="pt") as fh:
            return dict(fh.metadata() or {})
    except (SafetensorError, OSError) as exc:
        raise ModelFileError(f"cannot read the weights' metadata in {model_dir}: {exc}") from exc


def load_model(model_dir: str | Path, device: str = "cpu") -> tuple[PoseNet, Manifest]:
    """Load a model folder (manifest + safetensors) into an eval-mode float32 PoseNet.

    Raises:
        ModelFileError: missing or corrupt weights.
        ManifestMismatchError: hash mismatch, or weights that do not fit the manifest.
    """
    manifest = read_manifest(model_dir)
    path = verify_artefact(model_dir, manifest.find("safetensors"))
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ModelFileError(f"cannot read weights {path}: {exc}") from exc
    model = PoseNet(manifest.backbone, manifest.bins.count)
    _load_state(model, {k: v.float() if v.is_floating_point() else v for k, v in state.items()},
                str(path))
    return model.to(device).eval(), manifest


def _load_state(model: PoseNet, state: dict[str, torch.Tensor], source: str) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state) - _optional_keys(expected))
    unknown = sorted(set(state) - set(expected))
    bad_shape = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unknown or bad_shape:
        raise ManifestMismatchError(
            f"weights in {source} do not fit a {model.backbone_name} PoseNet: "
            f"missing {missing[:5]}, unknown {unknown[:5]}, wrong shape {bad_shape[:5]}")
    model.load_state_dict(state, strict=False)


def _optional_keys(expected: dict[str, torch.Tensor]) -> set[str]:
    # Checkpoints from PyTorch < 0.4 (Hopenet's) have no BatchNorm step counters.
    return {k for k in expected if k.endswith("num_batches_tracked")}


def import_hopenet(pkl_path: str | Path, model_dir: str | Path) -> Manifest:
    """Convert a Hopenet ResNet50 state dict (``.pkl``) into a gldpose model folder.

    The file is read once (at most :data:`MAX_CHECKPOINT_BYTES`). Before any tensor is
    allocated, its pickle is read by a restricted reader that builds nothing but tensor
    descriptions (:func:`checkpoint_tensors`), and every tensor's shape and dtype is checked
    against Hopenet's ResNet50 layout and every storage against the bytes the file really
    holds. Only then is it loaded, with ``torch.load(weights_only=True)`` (no code is ever
    unpickled). The vestigial ``fc_finetune`` layer is dropped, and decode offset -99
    (Hopenet's left-edge decode) is recorded.

    Raises:
        ModelFileError: unreadable, oversized or unsafe file, or not a state dict of tensors.
        ManifestMismatchError: the tensors are not Hopenet's ResNet50 layout (names, shapes,
            dtypes); the message lists what differs.
    """
    data = _read_checkpoint(Path(pkl_path))
    described = _hopenet_tensors(checkpoint_tensors(data, str(pkl_path)), str(pkl_path))
    num_bins = _hopenet_bins(described)
    _check_layout(described, _expected_layout(num_bins), str(pkl_path))
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or unsafe pickles
        raise ModelFileError(f"cannot load Hopenet checkpoint {pkl_path} safely: {exc}") from exc
    state = {k.removeprefix("module."): v for k, v in state.items()
             if not k.removeprefix("module.").startswith("fc_finetune.")}
    model = PoseNet("resnet50", num_bins)
    _load_state(model, state, str(pkl_path))
    manifest = Manifest(
        backbone="resnet50",
        bins=BinSpec(count=num_bins, width_deg=3.0, offset_deg=-99.0),
        training=TrainingInfo(dataset="300w-lp (Hopenet release)", loss="hopenet",
                              notes=f"imported from {Path(pkl_path).name}"),
    )
    return save_model(model_dir, model, manifest)


def _read_checkpoint(path: Path) -> bytes:
    if not path.is_file():
        raise ModelFileError(f"checkpoint not found: {path}")
    size = path.stat().st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise ModelFileError(f"{path} is {size} bytes; a Hopenet checkpoint is about 95 MB "
                             f"(at most {MAX_CHECKPOINT_BYTES} bytes are read)")
    return path.read_bytes()


def _hopenet_tensors(obj: Any, source: str) -> dict[str, TensorInfo]:
    """The state dict's tensors by name, ``module.`` prefix and ``fc_finetune`` removed."""
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, TensorInfo) for k, v in obj.items()):
        raise ModelFileError(f"{source} is not a state dict of tensors (a dict of name -> "
                             "tensor, as torch.save(model.state_dict()) writes)")
    out = {k.removeprefix("module."): v for k, v in obj.items()}
    return {k: v for k, v in out.items() if not k.startswith("fc_finetune.")}


def _hopenet_bins(tensors: dict[str, TensorInfo]) -> int:
    """Bins per head, from ``fc_yaw.weight`` when it is a sane ``[bins, 2048]``, else 66."""
    shape = tensors["fc_yaw.weight"].shape if "fc_yaw.weight" in tensors else ()
    ok = len(shape) == 2 and shape[1] == 2048 and 2 <= shape[0] <= 1000
    return shape[0] if ok else 66


@functools.lru_cache(maxsize=4)
def _expected_layout(num_bins: int) -> dict[str, tuple[tuple[int, ...], bool]]:
    """Name -> (shape, is_float) of a resnet50 PoseNet's state dict (built on 'meta': no memory)."""
    with torch.device("meta"):
        state = PoseNet("resnet50", num_bins).state_dict()
    return {k: (tuple(v.shape), v.is_floating_point()) for k, v in state.items()}


def _check_layout(tensors: dict[str, TensorInfo],
                  expected: dict[str, tuple[tuple[int, ...], bool]], source: str) -> None:
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(tensors) - optional)
    unknown = sorted(set(tensors) - set(expected))
    wrong = [f"{k} {tensors[k].shape} (expected {expected[k][0]})"
             for k in sorted(set(tensors) & set(expected)) if tensors[k].shape != expected[k][0]]
    wrong += [f"{k} dtype {tensors[k].dtype}" for k in sorted(set(tensors) & set(expected))
              if (tensors[k].dtype in FLOAT_DTYPES) != expected[k][1]]
    if missing or unknown or wrong:
        raise ManifestMismatchError(
            f"weights in {source} do not fit a Hopenet resnet50 (fc_yaw/fc_pitch/fc_roll heads "
            f"on 2048 features): missing {missing[:5]}, unknown {unknown[:5]}, wrong shape or "
            f"dtype {wrong[:5]}; nothing was loaded. Is it a Hopenet ResNet50 state dict?")


def load_imagenet_trunk(model: PoseNet, weights_path: str | Path) -> int:
    """Initialise the trunk from a local torchvision ImageNet state dict; return tensors loaded.

    Classifier tensors (``fc.*``, ``classifier.*``) are ignored; nothing is downloaded.
    """
    try:
        state = torch.load(str(weights_path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelFileError(f"cannot load ImageNet weights {weights_path}: {exc}") from exc
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise ManifestMismatchError(
            f"{weights_path} holds no tensor of a {model.backbone_name} trunk; is it the "
            f"torchvision {model.backbone_name} ImageNet file?")
    model.load_state_dict(usable, strict=False)
    return len(usable)
