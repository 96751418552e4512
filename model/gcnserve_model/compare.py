"""Compares two trained models image by image on one Fashion-MNIST split.

    PYTHONPATH=model /usr/bin/python3 -m gcnserve_model.compare \\
        --checkpoint /tmp/gcn-train/model3-e20/best.pt --checkpoint /tmp/gcn-train/resnet-e20/best.pt

Each side is train.py's checkpoint or an exported model.pt (as in
evaluate.py). Prints, as JSON: each model's accuracy, the images only the
first got right, only the second, both, neither, and the exact (binomial)
McNemar test of the two discordant counts: the two-sided p-value of seeing
so uneven a split if both models were equally good.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import zipfile
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import cv2
import numpy as np
import torch

from .data import FashionMNIST
from .evaluate import load_for_evaluation, run


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value: 2 * P(X <= min) for X ~ Bin(n, 1/2),
    n the discordant pairs, capped at 1 (1 when there are none)."""
    n = only_first + only_second
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(only_first, only_second) + 1)) / 2 ** n
    return min(1.0, 2.0 * tail)


def paired(first_correct: np.ndarray, second_correct: np.ndarray) -> Dict[str, Any]:
    """The counts and the test for two boolean [N] arrays of right answers."""
    only_first = int((first_correct & ~second_correct).sum())
    only_second = int((~first_correct & second_correct).sum())
    return {
        "images": int(len(first_correct)),
        "first_accuracy": float(first_correct.mean()),
        "second_accuracy": float(second_correct.mean()),
        "only_first_right": only_first,
        "only_second_right": only_second,
        "both_right": int((first_correct & second_correct).sum()),
        "both_wrong": int((~first_correct & ~second_correct).sum()),
        "mcnemar_exact_p": mcnemar_exact(only_first, only_second),
    }


def is_torchscript(path: Path) -> bool:
    """Whether `path` is a TorchScript archive (an export) rather than a
    torch.save checkpoint: only the former holds compiled code."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.split("/")[1:2] == ["code"] for name in archive.namelist())
    except zipfile.BadZipFile:
        return False


def _correct(source: Path, split: str, limit: Optional[int]) -> np.ndarray:
    is_export = is_torchscript(source)
    model, config = load_for_evaluation(None if is_export else source, source if is_export else None)
    dataset = FashionMNIST(split, config, limit=limit)
    return run(model, dataset)["logits"].argmax(1) == dataset.labels


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description="Compare two gcnserve models image by image (McNemar).")
    p.add_argument("--checkpoint", type=Path, action="append", required=True,
                   help="give it twice: train.py's best.pt/last.pt, or an exported model.pt")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--limit", type=int, default=None, help="only the first N images")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if len(args.checkpoint) != 2:
        p.error("--checkpoint must be given exactly twice")
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    first, second = (_correct(c, args.split, args.limit) for c in args.checkpoint)
    result = {"split": args.split, "first": str(args.checkpoint[0]), "second": str(args.checkpoint[1])}
    result.update(paired(first, second))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
