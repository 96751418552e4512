"""Writes Fashion-MNIST test images as PNG files, for demos and server tests.

    PYTHONPATH=model /usr/bin/python3 -m gcnserve_model.samples --out /tmp/samples

Files are named <test index>_<label index>_<label>.png, e.g.
00000_9_ankle_boot.png. By default the images spread evenly over the classes
(the first ones of each class in test-set order, 3 per class for 30);
--first takes the first N of the test set instead. --by-class writes
OUT/<label index>/<name>.png, the layout `gcnctl eval` reads; with --count 0
it writes the whole test set, for comparing served with offline accuracy:

    PYTHONPATH=model /usr/bin/python3 -m gcnserve_model.samples --out /tmp/test --by-class --count 0
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import cv2
import numpy as np

from .config import FASHION_MNIST_LABELS
from .idx import FASHION_MNIST_DIR, load_split


def sanitize(label: str) -> str:
    """'T-shirt/top' -> 't_shirt_top'."""
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def pick_indices(labels: np.ndarray, count: int, spread: bool) -> List[int]:
    """`count` indices: the first ones, or round-robin over classes in test order."""
    if not spread:
        return list(range(min(count, len(labels))))
    per_class = [list(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    picked: List[int] = []
    rank = 0
    while len(picked) < count and any(rank < len(ids) for ids in per_class):
        for ids in per_class:
            if rank < len(ids) and len(picked) < count:
                picked.append(int(ids[rank]))
        rank += 1
    return sorted(picked)


def sample_name(index: int, label: int) -> str:
    return f"{index:05d}_{label}_{sanitize(FASHION_MNIST_LABELS[label])}.png"


def write_samples(out: Path, count: int = 30, spread: bool = True, root: Path = FASHION_MNIST_DIR,
                  by_class: bool = False) -> List[Path]:
    """Writes `count` test images (0: all of them) into `out`, or into
    `out/<label index>/` with `by_class`."""
    images, labels = load_split("test", root)
    written = []
    for i in pick_indices(labels, count or len(labels), spread):
        folder = out / str(int(labels[i])) if by_class else out
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / sample_name(i, int(labels[i]))
        if not cv2.imwrite(str(path), images[i]):
            raise OSError(f"could not write {path}")
        written.append(path)
    return written


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Write Fashion-MNIST test images as PNG files.")
    parser.add_argument("--out", required=True, type=Path, help="folder to write into")
    parser.add_argument("--count", type=int, default=30, help="number of images (default: 30; 0: the whole test set)")
    parser.add_argument("--first", action="store_true", help="the first N test images, not a spread over classes")
    parser.add_argument("--by-class", action="store_true",
                        help="write OUT/<label index>/*.png, the layout gcnctl eval reads")
    parser.add_argument("--dataset-dir", type=Path, default=FASHION_MNIST_DIR, help="folder of the IDX files")
    args = parser.parse_args(argv)
    if args.count < 0:
        parser.error("--count must be 0 (all) or more")
    written = write_samples(args.out, args.count, spread=not args.first, root=args.dataset_dir,
                            by_class=args.by_class)
    print(f"wrote {len(written)} images to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
