"""The metadata a model file carries: the TorchScript extra file gcnserve.json.

Its fields are fixed by the export contract (docs/design.md); the server
refuses a file whose metadata is missing or invalid.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Union

import torch

from .config import ModelConfig
from .preprocess import RESIZE_RULE

METADATA_FILE = "gcnserve.json"

# What each architecture links its nodes by; the resnet baseline has no graph.
ADJACENCY = {"model1": "similarity", "model2": "similarity", "model3": "euclidean"}

TOP_LEVEL_KEYS = ("name", "architecture", "input", "labels", "num_points", "adjacency", "dataset", "metrics")
# A model without a graph (resnet) has num_points 0 and no adjacency key.
GRAPHLESS_KEYS = tuple(k for k in TOP_LEVEL_KEYS if k != "adjacency")
INPUT_KEYS = ("height", "width", "channels", "color", "mean", "std", "resize")
# Optional: the drift reference (reference.py); an export without one serves without drift metrics.
REFERENCE_KEY = "reference"
# Optional: the temperature the server divides the logits by before the
# softmax (calibration.py); absent, 1.
CALIBRATION_KEY = "calibration"


def build_metadata(config: ModelConfig, name: str, labels: Sequence[str], dataset: str,
                   metrics: Optional[Mapping[str, float]] = None,
                   reference: Optional[Mapping[str, Any]] = None,
                   calibration: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    meta = {
        "name": name,
        "architecture": config.architecture,
        "input": {
            "height": config.input_height,
            "width": config.input_width,
            "channels": config.channels,
            "color": config.color,
            "mean": list(config.mean),
            "std": list(config.std),
            "resize": RESIZE_RULE,
        },
        "labels": list(labels),
        "num_points": config.num_points,
        "dataset": dataset,
        "metrics": dict(metrics or {}),
    }
    if config.architecture in ADJACENCY:
        meta["adjacency"] = ADJACENCY[config.architecture]
    if reference is not None:
        meta[REFERENCE_KEY] = dict(reference)
    if calibration is not None:
        meta[CALIBRATION_KEY] = dict(calibration)
    validate_metadata(meta)
    return meta


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def validate_metadata(meta: Mapping[str, Any]) -> None:
    """ValueError naming the first problem, if `meta` breaks the contract."""
    required = GRAPHLESS_KEYS if meta.get("architecture") == "resnet" else TOP_LEVEL_KEYS
    missing = [k for k in required if k not in meta]
    if missing:
        raise ValueError(f"metadata lacks {missing}")
    if not isinstance(meta["name"], str) or not meta["name"]:
        raise ValueError("metadata name must be a non-empty string")
    if meta["architecture"] not in ("model1", "model2", "model3", "resnet"):
        raise ValueError(f"unknown architecture {meta['architecture']!r}")
    inp = meta["input"]
    if not isinstance(inp, Mapping) or any(k not in inp for k in INPUT_KEYS):
        raise ValueError(f"metadata input needs {list(INPUT_KEYS)}")
    for key in ("height", "width", "channels"):
        if not _positive_int(inp[key]):
            raise ValueError(f"input.{key} must be a positive integer")
    if {"gray": 1, "rgb": 3}.get(inp["color"]) != inp["channels"]:
        raise ValueError(f"input.color {inp['color']!r} does not fit {inp['channels']} channels")
    for key in ("mean", "std"):
        values = inp[key]
        if not isinstance(values, list) or len(values) != inp["channels"] or not all(map(_is_number, values)):
            raise ValueError(f"input.{key} must list one number per channel")
    if any(s <= 0 for s in inp["std"]):
        raise ValueError("input.std must be positive")
    if inp["resize"] != RESIZE_RULE:
        raise ValueError(f"input.resize must be {RESIZE_RULE!r}")
    labels = meta["labels"]
    if not isinstance(labels, list) or not labels or not all(isinstance(l, str) for l in labels):
        raise ValueError("labels must be a non-empty list of strings")
    if meta["architecture"] == "resnet":
        if meta["num_points"] != 0 or isinstance(meta["num_points"], bool):
            raise ValueError("num_points must be 0 for the resnet baseline, which has no graph")
        if "adjacency" in meta:
            raise ValueError("the resnet baseline has no graph, so no adjacency")
    else:
        if not _positive_int(meta["num_points"]):
            raise ValueError("num_points must be a positive integer")
        if meta["adjacency"] not in ("similarity", "euclidean"):
            raise ValueError(f"adjacency must be 'similarity' or 'euclidean', not {meta['adjacency']!r}")
    if not isinstance(meta["dataset"], str):
        raise ValueError("dataset must be a string")
    metrics = meta["metrics"]
    if not isinstance(metrics, Mapping) or not all(isinstance(k, str) and _is_number(v) for k, v in metrics.items()):
        raise ValueError("metrics must map names to finite numbers")
    if REFERENCE_KEY in meta:
        from .reference import validate_reference
        validate_reference(meta[REFERENCE_KEY], len(labels), meta["architecture"] != "resnet")
    if CALIBRATION_KEY in meta:
        from .calibration import validate_calibration
        validate_calibration(meta[CALIBRATION_KEY])


def read_metadata(path: Union[str, Path]) -> Dict[str, Any]:
    """Loads a model file's gcnserve.json, validated."""
    extra = {METADATA_FILE: ""}
    torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    if not extra[METADATA_FILE]:
        raise ValueError(f"{path} carries no {METADATA_FILE}")
    meta = json.loads(extra[METADATA_FILE])
    validate_metadata(meta)
    return meta


def rewrite_metadata(path: Union[str, Path], change: Callable[[Dict[str, Any], Any], Dict[str, Any]]) -> Dict[str, Any]:
    """Replaces the gcnserve.json of the export at `path` by
    change(metadata, loaded module), in place, and returns it.

    Only the extra file changes: the module is saved again as TorchScript,
    its parameters and buffers checked equal and its outputs identical on a
    probe batch before the file is replaced (through a hidden temporary
    file and a rename, so a server scanning the repository never sees half
    a file).
    """
    path = Path(path)
    extra = {METADATA_FILE: ""}
    module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    meta = change(json.loads(extra[METADATA_FILE]), module)
    validate_metadata(meta)
    inp = meta["input"]
    fd, tmp_name = tempfile.mkstemp(prefix=".model.pt.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        torch.jit.save(module, str(tmp), _extra_files={METADATA_FILE: json.dumps(meta, indent=2)})
        again = torch.jit.load(str(tmp), map_location="cpu")
        before, after = dict(module.state_dict()), dict(again.state_dict())
        if before.keys() != after.keys() or any(not torch.equal(before[k], after[k]) for k in before):
            raise RuntimeError(f"{path}: the weights changed on saving")
        probe = torch.randn(2, inp["channels"], inp["height"], inp["width"],
                            generator=torch.Generator().manual_seed(7))
        with torch.no_grad():
            want, got = module(probe), again(probe)
        if any(not torch.equal(want[k], got[k]) for k in want):
            raise RuntimeError(f"{path}: the outputs changed on saving")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return meta
