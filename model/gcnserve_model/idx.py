"""Reader for the IDX files MNIST and Fashion-MNIST ship in, gzipped or not."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Tuple, Union

import numpy as np

# Debian's dataset-fashion-mnist package.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
           0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
        data = gzip.decompress(data)
    return data


def read_idx(path: Union[str, Path]) -> np.ndarray:
    """The array an IDX file holds, in native byte order."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise ValueError(f"{path} is not an IDX file")
    dtype, ndim = _DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"{path}: header promises {expected} bytes of data, file has {len(data) - header}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def find_idx(root: Union[str, Path], stem: str) -> Path:
    """root/stem or root/stem.gz, whichever exists."""
    for candidate in (Path(root) / stem, Path(root) / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"neither {stem} nor {stem}.gz in {root}")


def load_split(split: str, root: Union[str, Path] = FASHION_MNIST_DIR) -> Tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 28, 28], labels uint8 [N]) of "train" or "test"."""
    if split not in _FILES:
        raise ValueError(f"split must be one of {sorted(_FILES)}, not {split!r}")
    images_stem, labels_stem = _FILES[split]
    images = read_idx(find_idx(root, images_stem))
    labels = read_idx(find_idx(root, labels_stem))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{split} split of {root}: images {images.shape} and labels {labels.shape} do not match")
    return images, labels
