from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from gcnserve_model.idx import FASHION_MNIST_DIR, find_idx, load_split, read_idx


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    codes = {np.dtype("u1"): 0x08, np.dtype(">i4"): 0x0C}
    data = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data += array.tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path: Path, compress: bool) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "x", images, compress)
    np.testing.assert_array_equal(read_idx(tmp_path / "x"), images)
    ints = np.array([1, -2, 70000], dtype=">i4")
    write_idx(tmp_path / "y", ints, compress)
    np.testing.assert_array_equal(read_idx(tmp_path / "y"), [1, -2, 70000])


def test_read_idx_rejects_other_files(tmp_path: Path) -> None:
    (tmp_path / "bad").write_bytes(b"\x89PNG\r\n")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", np.zeros((2, 2), np.uint8), False)
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(ValueError, match="promises 4 bytes"):
        read_idx(tmp_path / "short")


def test_find_idx_accepts_both_names(tmp_path: Path) -> None:
    (tmp_path / "a.gz").write_bytes(b"")
    assert find_idx(tmp_path, "a") == tmp_path / "a.gz"
    with pytest.raises(FileNotFoundError):
        find_idx(tmp_path, "b")


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_fashion_mnist_test_split() -> None:
    images, labels = load_split("test")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,)
    assert set(np.unique(labels)) == set(range(10))
    assert labels[0] == 9  # the first test image is an ankle boot
