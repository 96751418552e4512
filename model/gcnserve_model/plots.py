"""Draws a training run's curves and an evaluation's confusion matrix as PNG.

    PYTHONPATH=model /usr/bin/python3 -m gcnserve_model.plots \\
        --history RUN/history.json --evaluation eval-test.json --name model3 --out model/plots

`--history` is the per-epoch list train.py writes; `--evaluation` the JSON of
evaluate.py (it holds `confusion_matrix` and `labels`). Writes
<out>/<name>_curves.png and <out>/<name>_confusion.png.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_curves(history: List[Dict[str, float]], title: str, path: Path) -> None:
    epochs = [h["epoch"] for h in history]
    fig, (loss, accuracy) = plt.subplots(1, 2, figsize=(10, 4))
    loss.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    loss.plot(epochs, [h["val_loss"] for h in history], "o-", label="validation")
    loss.set(xlabel="epoch", ylabel="cross-entropy", title=f"{title}: loss")
    accuracy.plot(epochs, [100 * h["train_accuracy"] for h in history], "o-", label="train")
    accuracy.plot(epochs, [100 * h["val_accuracy"] for h in history], "o-", label="validation")
    accuracy.set(xlabel="epoch", ylabel="top-1 accuracy (%)", title=f"{title}: accuracy")
    for axes in (loss, accuracy):
        axes.grid(alpha=0.3)
        axes.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str, path: Path) -> None:
    counts = np.asarray(matrix, dtype=np.int64)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, axes = plt.subplots(figsize=(8, 7))
    image = axes.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            axes.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                      color="white" if rates[i, j] > 0.5 else "black")
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set(xlabel="predicted", ylabel="true class",
             title=f"{title}: confusion on the test set (counts; colour = row share)")
    fig.colorbar(image, ax=axes, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Plot training curves and a confusion matrix.")
    parser.add_argument("--history", type=Path, help="history.json of a training run")
    parser.add_argument("--evaluation", type=Path, help="JSON written by evaluate.py")
    parser.add_argument("--name", required=True, help="file name prefix and title, e.g. model3")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    args = parser.parse_args(argv)
    if not args.history and not args.evaluation:
        parser.error("give --history, --evaluation or both")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.history:
        path = args.out / f"{args.name}_curves.png"
        plot_curves(json.loads(args.history.read_text()), args.name, path)
        print(path)
    if args.evaluation:
        evaluation = json.loads(args.evaluation.read_text())
        path = args.out / f"{args.name}_confusion.png"
        plot_confusion(evaluation["confusion_matrix"], evaluation["labels"], args.name, path)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
