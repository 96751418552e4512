"""Calibrated probabilities: one temperature T fitted on the validation
split, stored in the export's gcnserve.json, applied wherever probabilities
are made (the server and every Python figure alike).

    "calibration": {"method": "temperature", "temperature": T,
                    "validation_ece_before": a, "validation_ece_after": b}

The served probabilities are softmax(logits / T); absent, T = 1. T is the
minimiser of the validation images' negative log-likelihood of logits / T
(Guo et al., 2017), found by golden-section search on log T over
[T_MIN, T_MAX] (the NLL is convex in 1 / T). It rescales every logit alike,
so the top class and the accuracy never change; only the confidence does.
ECE is the top-1 expected calibration error over ECE_BINS equal-width
confidence bins, (low, high], weighted by the share of images in each.

fit.py and export.py (--calibration val) write it; to add it to exports
made without one (only gcnserve.json changes, the drift reference's
confidence recomputed from the calibrated probabilities):

    PYTHONPATH=model /usr/bin/python3 -m gcnserve_model.calibration --repository model/repository
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

CALIBRATION_KEY = "calibration"
METHOD = "temperature"
ECE_BINS = 15
T_MIN, T_MAX = 0.05, 20.0
_KEYS = ("method", "temperature", "validation_ece_before", "validation_ece_after")


def expected_calibration_error(probabilities: Tensor, labels: Tensor, bins: int = ECE_BINS) -> float:
    """Top-1 ECE of probabilities [N, classes] against labels [N]."""
    confidence, predicted = probabilities.double().max(1)
    correct = (predicted == labels).double()
    ece = 0.0
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64)
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            ece += inside.double().mean().item() * abs(correct[inside].mean().item()
                                                        - confidence[inside].mean().item())
    return ece


def probabilities(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """softmax(logits / T) in float32, as the server computes them."""
    return F.softmax(logits.float() / float(temperature), 1)


def _nll(logits: Tensor, labels: Tensor, temperature: float) -> float:
    return F.cross_entropy(logits.double() / temperature, labels).item()


def fit_temperature(logits: Tensor, labels: Tensor, iterations: int = 100) -> float:
    """The T in [T_MIN, T_MAX] minimising the mean NLL of logits / T."""
    if len(labels) == 0:
        raise ValueError("no validation images to fit a temperature on")
    low, high = math.log(T_MIN), math.log(T_MAX)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = _nll(logits, labels, math.exp(a)), _nll(logits, labels, math.exp(b))
    for _ in range(iterations):
        if fa <= fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = _nll(logits, labels, math.exp(a))
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = _nll(logits, labels, math.exp(b))
    return float(math.exp((low + high) / 2))


def calibrate(logits: Tensor, labels: Tensor) -> Dict[str, Any]:
    """The metadata's "calibration" for validation logits [N, classes] and labels [N]."""
    temperature = fit_temperature(logits, labels)
    return {"method": METHOD, "temperature": temperature,
            "validation_ece_before": expected_calibration_error(probabilities(logits), labels),
            "validation_ece_after": expected_calibration_error(probabilities(logits, temperature), labels)}


def validate_calibration(calibration: Any) -> None:
    """ValueError naming the first problem of a metadata "calibration"."""
    if not isinstance(calibration, Mapping):
        raise ValueError("calibration must be an object")
    if calibration.get("method") != METHOD:
        raise ValueError(f"calibration.method must be {METHOD!r}, not {calibration.get('method')!r}")
    for key in _KEYS[1:]:
        value = calibration.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"calibration.{key} must be a finite number")
    if calibration["temperature"] <= 0:
        raise ValueError("calibration.temperature must be positive")
    unknown = sorted(set(calibration) - set(_KEYS))
    if unknown:
        raise ValueError(f"calibration has unknown keys {unknown}")


def temperature_of(meta: Mapping[str, Any]) -> float:
    """The temperature an export's metadata asks for; 1 without calibration."""
    calibration = meta.get(CALIBRATION_KEY)
    return float(calibration["temperature"]) if calibration else 1.0


class Calibrated(nn.Module):
    """`model` with its logits divided by T: what the server's probabilities
    are the softmax of. For Python figures made from probabilities (the
    drift reference); never exported (the export keeps raw logits)."""

    def __init__(self, model: nn.Module, temperature: float) -> None:
        super().__init__()
        self.model = model
        self.temperature = float(temperature)

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        out = dict(self.model(x))
        out["logits"] = out["logits"] / self.temperature
        return out


@torch.no_grad()
def logits_and_labels(model: Any, batches: Iterable[Tuple[Tensor, Tensor]]) -> Tuple[Tensor, Tensor]:
    """(logits [N, classes] float32, labels [N]) of `model` over (inputs, labels) batches."""
    if hasattr(model, "eval"):
        model.eval()
    logits, labels = [], []
    for x, y in batches:
        if len(y):
            out = model(x)
            logits.append((out["logits"] if isinstance(out, dict) else out).float())
            labels.append(torch.as_tensor(y, dtype=torch.long))
    if not labels:
        return torch.empty(0, 0), torch.empty(0, dtype=torch.long)
    return torch.cat(logits), torch.cat(labels)


def rewrite_with_calibration(path: Path, split: str = "val", limit: Optional[int] = None) -> Dict[str, Any]:
    """Fits T on Fashion-MNIST's `split` for the export at `path` and writes
    it into its gcnserve.json, in place; a drift reference there is computed
    again from the calibrated probabilities (same split). Weights untouched."""
    from .metadata import rewrite_metadata
    from .reference import compute_reference, fashion_mnist_batches, fashion_mnist_labelled_batches

    def change(meta: Dict[str, Any], module: Any) -> Dict[str, Any]:
        inp = meta["input"]
        logits, labels = logits_and_labels(module, fashion_mnist_labelled_batches(inp, split, limit))
        meta[CALIBRATION_KEY] = calibrate(logits, labels)
        if "reference" in meta:
            meta["reference"] = compute_reference(
                Calibrated(module, meta[CALIBRATION_KEY]["temperature"]), fashion_mnist_batches(inp, split, limit),
                len(meta["labels"]), inp["height"], inp["width"], meta["reference"].get("split", split))
        return meta

    return rewrite_metadata(path, change)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Fit a temperature on Fashion-MNIST's validation split for every "
                                                 "Fashion-MNIST export of a repository (weights untouched).")
    parser.add_argument("--repository", required=True, type=Path)
    parser.add_argument("--split", default="val", choices=("val",))
    parser.add_argument("--limit", type=int, help="images of the split to use (default: all)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from .metadata import read_metadata
    paths = [p for p in sorted(args.repository.glob("*/[0-9]*/model.pt"))
             if read_metadata(p)["dataset"] == "fashion-mnist"]
    if not paths:
        print(f"no Fashion-MNIST model.pt under {args.repository}", file=sys.stderr)
        return 1
    for path in paths:
        c = rewrite_with_calibration(path, args.split, args.limit)[CALIBRATION_KEY]
        print(json.dumps({"model": str(path), **c}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
