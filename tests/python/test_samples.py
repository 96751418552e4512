from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from gcnserve_model.idx import FASHION_MNIST_DIR, load_split
from gcnserve_model.samples import pick_indices, sample_name, sanitize, write_samples


def test_names() -> None:
    assert sanitize("T-shirt/top") == "t_shirt_top"
    assert sample_name(0, 9) == "00000_9_ankle_boot.png"


def test_spread_takes_the_first_of_each_class_in_turn() -> None:
    labels = np.array([0, 0, 0, 1, 2, 1, 2, 0])
    assert pick_indices(labels, 6, spread=True) == [0, 1, 3, 4, 5, 6]
    assert pick_indices(labels, 100, spread=True) == list(range(8))
    assert pick_indices(labels, 3, spread=False) == [0, 1, 2]


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_write_samples(tmp_path: Path) -> None:
    written = write_samples(tmp_path, 30)
    assert len(written) == 30
    classes = Counter(int(p.name.split("_")[1]) for p in written)
    assert classes == {c: 3 for c in range(10)}
    images, labels = load_split("test")
    first = tmp_path / "00000_9_ankle_boot.png"
    assert first in written
    np.testing.assert_array_equal(cv2.imread(str(first), cv2.IMREAD_UNCHANGED), images[0])


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_by_class_writes_the_eval_layout(tmp_path: Path) -> None:
    written = write_samples(tmp_path, 20, by_class=True)
    assert len(written) == 20
    for path in written:
        assert path.parent.name == path.name.split("_")[1]  # folder = label index
    assert sorted(p.name for p in tmp_path.iterdir()) == [str(c) for c in range(10)]
