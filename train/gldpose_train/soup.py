"""Weight averages of model folders fine-tuned from one start ("model soups").

Networks fine-tuned from the same weights often stay in one basin, where the average of their
weights scores like (or better than) the members at the cost of one network. Members must agree
on everything the manifest says about the network (backbone, input, bins, crop, decode map); the
average's std is not the members', so the result carries no calibration: run
``gldpose calibrate`` on it before shipping. Batch-norm statistics are averaged with the weights.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import torch

from gldpose_sdk.manifest import Manifest
from gldpose_sdk.model import load_model, save_model
from gldpose_train import TrainError

#: Manifest fields every member must share (what the weights mean).
SHARED_FIELDS = ("backbone", "input", "bins", "crop", "expectation_map", "label_convention")


def average_model_folders(members: Sequence[str | Path], out: str | Path) -> Manifest:
    """Write the uniform weight average of ``members`` to ``out``; return its manifest.

    The first member's manifest is the template (training info, with a note naming the members);
    the weights are stored in fp16 when every member's are.

    Raises:
        TrainError: fewer than two members, or members that describe different networks.
        ModelFileError, ManifestMismatchError: a member folder that does not load.
    """
    if len(members) < 2:
        raise TrainError(f"a weight average needs at least two model folders, got {len(members)}")
    loaded = [load_model(m) for m in members]
    first_model, first = loaded[0]
    for path, (_, manifest) in zip(members[1:], loaded[1:]):
        differ = [f for f in SHARED_FIELDS if getattr(manifest, f) != getattr(first, f)]
        if differ:
            raise TrainError(f"{path} differs from {members[0]} in {', '.join(differ)}: only "
                             "folders of one network (fine-tunes of one start) can be averaged")
    states = [model.state_dict() for model, _ in loaded]
    average = first_model.state_dict()
    with torch.no_grad():
        for key, tensor in average.items():
            if tensor.is_floating_point():
                tensor.copy_(torch.stack([s[key] for s in states]).mean(0))
    half = all(m.find("safetensors").precision == "fp16" for _, m in loaded)
    names = ", ".join(Path(m).name for m in members)
    training = dataclasses.replace(
        first.training, notes=f"uniform weight average of {len(members)} models: {names}")
    template = dataclasses.replace(first, training=training, calibration=None, artefacts=())
    return save_model(out, first_model, template, half=half)
