"""Fashion-MNIST as torch Datasets, preprocessed exactly as the server does.

The images come from Debian's IDX files (idx.py). Every image goes through
the serving preprocessing of preprocess.py on its uint8 28x28 array:
the "area_or_linear" resize to the model's input size (28 -> 64 grows, so
cv2.INTER_LINEAR), then v / 255 and (x - mean) / std in float32, so a model
trained here sees the same tensors a client's PNG of the same image gives
the server. An rgb model sees three equal channels (GRAY2RGB), as the server
makes of a gray PNG.

Training augmentation works on the 28x28 uint8 image BEFORE the resize, so an
augmented image is still an image the server could be sent:
  * horizontal flip with probability 1/2 (garments are roughly symmetric);
  * translation by up to `max_shift` pixels on each axis (zero padding, then a
    28x28 crop; Fashion-MNIST's background is 0).
With `camera` (camera.py's CameraAugment) that setting replaces the two:
garments as a camera gives them (polarity, turn, scale, shift, tone, blur,
noise), still on the 28x28 image.

Splits: "train" and "val" come from the 60,000 training images, split by a
seeded permutation (the last `val_size` of it are validation); "test" is the
10,000 test images and is for the final evaluation only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from .camera import CameraAugment
from .config import ModelConfig
from .idx import FASHION_MNIST_DIR, load_split
from .preprocess import RESIZE_RULE, preprocess_image

VAL_SIZE = 5000
SPLIT_SEED = 0
SPLITS = ("train", "val", "test")


def input_meta(config: ModelConfig) -> dict:
    """The metadata "input" object of a model built from `config`."""
    return {"height": config.input_height, "width": config.input_width, "channels": config.channels,
            "color": config.color, "mean": list(config.mean), "std": list(config.std), "resize": RESIZE_RULE}


def split_indices(total: int, val_size: int = VAL_SIZE, seed: int = SPLIT_SEED) -> Tuple[np.ndarray, np.ndarray]:
    """(train, val) indices into the training set: a fixed seeded permutation,
    the last `val_size` of it for validation. Sorted, disjoint, covering all."""
    if not 0 < val_size < total:
        raise ValueError(f"val_size must be in (0, {total}), got {val_size}")
    order = np.random.RandomState(seed).permutation(total)
    return np.sort(order[:-val_size]), np.sort(order[-val_size:])


def load_images(split: str, root: Union[str, Path] = FASHION_MNIST_DIR, val_size: int = VAL_SIZE,
                seed: int = SPLIT_SEED) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images uint8 [N, 28, 28], labels int64 [N], indices into the IDX file) of a split."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    images, labels = load_split("test" if split == "test" else "train", root)
    if split == "test":
        indices = np.arange(len(images))
    else:
        train_idx, val_idx = split_indices(len(images), val_size, seed)
        indices = train_idx if split == "train" else val_idx
    return images[indices], labels[indices].astype(np.int64), indices


def shift_image(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Moves a [H, W] image by (dx, dy) pixels, filling with 0 (pad and crop)."""
    h, w = image.shape
    out = np.zeros_like(image)
    src_x0, dst_x0 = max(0, -dx), max(0, dx)
    src_y0, dst_y0 = max(0, -dy), max(0, dy)
    cw, ch = w - abs(dx), h - abs(dy)
    if cw > 0 and ch > 0:
        out[dst_y0:dst_y0 + ch, dst_x0:dst_x0 + cw] = image[src_y0:src_y0 + ch, src_x0:src_x0 + cw]
    return out


class FashionMNIST(Dataset):
    """One split of Fashion-MNIST as (input tensor [C, H, W] float32, label int64).

    `augment` turns on the training augmentation (flip, shift; or `camera`'s
    setting when one is given), drawn from `self.rng` (seeded by `seed`;
    train.py checkpoints it, and gives each DataLoader worker its own). Without it the
    tensors are computed once, on first use, and kept: 82 MB for the 5,000
    validation images at 64x64 gray, 164 MB for the 10,000 test images.
    """

    def __init__(self, split: str, config: ModelConfig, augment: bool = False, max_shift: int = 2,
                 root: Union[str, Path] = FASHION_MNIST_DIR, val_size: int = VAL_SIZE,
                 split_seed: int = SPLIT_SEED, limit: Optional[int] = None, seed: int = 0,
                 camera: Optional[CameraAugment] = None) -> None:
        self.split = split
        self.meta: Mapping = input_meta(config)
        self.augment = augment
        self.camera = camera
        self.max_shift = int(max_shift)
        images, labels, indices = load_images(split, root, val_size, split_seed)
        if limit is not None:
            images, labels, indices = images[:limit], labels[:limit], indices[:limit]
        self.images, self.labels, self.indices = images, labels, indices
        self.rng = np.random.default_rng(seed)
        self._cache: Optional[torch.Tensor] = None

    def __len__(self) -> int:
        return len(self.labels)

    def raw(self, i: int) -> np.ndarray:
        """The original uint8 28x28 image."""
        return self.images[i]

    def _augment(self, image: np.ndarray) -> np.ndarray:
        if self.camera is not None:
            return self.camera(image, self.rng)
        if self.rng.random() < 0.5:
            image = image[:, ::-1]
        if self.max_shift > 0:
            dx, dy = self.rng.integers(-self.max_shift, self.max_shift + 1, size=2)
            image = shift_image(image, int(dx), int(dy))
        return np.ascontiguousarray(image)

    def tensor(self, image: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(preprocess_image(image, self.meta))

    def all_tensors(self) -> torch.Tensor:
        """Every un-augmented input of the split, [N, C, H, W] (cached)."""
        if self._cache is None:
            self._cache = torch.stack([self.tensor(img) for img in self.images])
        return self._cache

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, int]:
        if self.augment:
            return self.tensor(self._augment(self.images[i])), int(self.labels[i])
        return self.all_tensors()[i], int(self.labels[i])
