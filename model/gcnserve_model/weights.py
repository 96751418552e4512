"""Pretrained backbone weights from a local file, all or nothing.

A model's pretrained part is its `trunk` (model2, model3, resnet) or its
`backbone` (model1). The file is a state dict, or a dict holding one under
"state_dict" (gcnserve's checkpoints, from train.py and fit.py), in one of
three layouts:
  * torchvision's (conv1.weight, layer1.0.conv1.weight, ..., fc.*), as
    `torch.save(torchvision.models.resnet50().state_dict(), FILE)` writes
    it, for the "resnet50" trunk, whose names are torchvision's;
  * a whole gcnserve model's (trunk.* or backbone.*; a "module." prefix,
    as DistributedDataParallel saves, is dropped);
  * the part alone.
Every tensor of the part must be in the file with its shape, else the file
is refused with a message naming it and the first tensor that does not fit
(BatchNorm's num_batches_tracked may be missing: old torchvision files lack
it, and it is a counter, not a weight). Tensors the part lacks (the fc of a
torchvision file, layer3 and layer4 for a trunk cut at layer2) are left out.
A gray model's one-channel stem takes the sum of an rgb stem's three
filters: the same response to a gray image.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Tuple

import torch
from torch import Tensor, nn


class WeightsError(ValueError):
    """A weights file that does not fit the model; the message names the
    file and the first tensor that does not fit."""


def pretrained_part(model: nn.Module) -> Tuple[str, nn.Module]:
    """("trunk" or "backbone", the module): what --backbone-weights fills."""
    name = "backbone" if hasattr(model, "backbone") else "trunk"
    return name, getattr(model, name)


def _state_of(path: Path) -> Dict[str, Tensor]:
    try:
        state = torch.load(str(path), map_location="cpu")
    except Exception as e:  # torch.load raises anything from pickle and zipfile
        raise WeightsError(f"{path}: not a torch weights file ({type(e).__name__}: {e})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not any(isinstance(v, Tensor) for v in state.values()):
        raise WeightsError(f"{path}: holds no state dict")
    return {k[len("module."):] if k.startswith("module.") else k: v
            for k, v in state.items() if isinstance(v, Tensor)}


def _shape(t: Tensor) -> str:
    return "[" + ", ".join(str(d) for d in t.shape) + "]"


def load_backbone(model: nn.Module, path: Path) -> int:
    """Copies every tensor of `model`'s trunk (or backbone) from the file at
    `path`; returns how many it copied. WeightsError, before anything is
    copied, when the file does not hold all of them with their shapes."""
    path = Path(path)
    part_name, part = pretrained_part(model)
    state = _state_of(path)
    prefix = part_name + "."
    if any(k.startswith(prefix) for k in state):
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    own = part.state_dict()
    chosen: Dict[str, Tensor] = {}
    for key, want in own.items():
        got = state.get(key)
        if got is None:
            if key.endswith("num_batches_tracked"):
                continue
            raise WeightsError(f"{path} does not fit the model's {part_name}: it has no {key} "
                               f"({_shape(want)}; {len(own)} tensors expected, the file's first is "
                               f"{next(iter(state))})")
        if got.shape != want.shape and key == "conv1.weight" and want.size(1) == 1 and got.dim() == 4 \
                and got.size(1) == 3 and got.shape[:1] + got.shape[2:] == want.shape[:1] + want.shape[2:]:
            got = got.sum(dim=1, keepdim=True)  # an rgb stem for a gray model
        if got.shape != want.shape:
            raise WeightsError(f"{path} does not fit the model's {part_name}: {key} is {_shape(got)} "
                               f"in the file, {_shape(want)} in the model")
        chosen[key] = got.to(want.dtype)
    part.load_state_dict(chosen, strict=False)
    return len(chosen)
