"""A user's folder of photos as datasets, through the serving preprocessing.

Layouts (labels are the folder names, sorted; any number of classes from 2):
  DATA/<label>/*                      one pool; a seeded stratified split is held out
  DATA/train/<label>/*, DATA/val/<label>/*
Images are the files ending in .jpg, .jpeg, .png, .webp or .bmp (any case),
anywhere under a class folder; any size and aspect, gray or colour.

Every image is decoded as the server decodes it (preprocess.decode: a JPEG at
the smallest DCT scale covering the model's input, straight into its colour;
a WebP scaled by libwebp), so a validation tensor is exactly what the server
computes from the same file. Training augmentation works on that decoded
8-bit image, before the reference resize and normalisation: a random resized
crop, a horizontal flip and, for rgb models, colour jitter. An image that
cannot be decoded is skipped and counted (`collate_skipping`), never a crash.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from .preprocess import decode, normalize, resize, to_color

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


class FolderError(ValueError):
    """A data folder that cannot be trained on; the message is one line."""


@dataclasses.dataclass
class ImageFolder:
    """What scan() found: the labels and (path, label index) per split.
    `held_out` says whether val was split off the pool (True) or is the
    folder's own val/ (False)."""

    root: Path
    labels: List[str]
    train: List[Tuple[Path, int]]
    val: List[Tuple[Path, int]]
    held_out: bool


def _images_under(folder: Path) -> List[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _classes(folder: Path) -> Dict[str, List[Path]]:
    """Label -> images of each class subfolder that holds any."""
    found = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images = _images_under(sub)
        if images:
            found[sub.name] = images
    return found


def stratified_split(by_class: Mapping[str, Sequence[Path]], val_fraction: float,
                     seed: int) -> Tuple[List[Tuple[Path, int]], List[Tuple[Path, int]]]:
    """(train, val): from each class, round(n * val_fraction) images (at
    least one when the class has two or more) by a seeded permutation."""
    if not 0 < val_fraction < 1:
        raise FolderError(f"--val-fraction must be between 0 and 1, not {val_fraction}")
    rng = np.random.RandomState(seed)
    train, val = [], []
    for index, label in enumerate(sorted(by_class)):
        files = list(by_class[label])
        order = rng.permutation(len(files))
        n_val = 0 if len(files) < 2 else min(len(files) - 1, max(1, round(len(files) * val_fraction)))
        val += [(files[i], index) for i in sorted(order[:n_val])]
        train += [(files[i], index) for i in sorted(order[n_val:])]
    return train, val


def scan(root: Path, val_fraction: float = 0.15, seed: int = 0) -> ImageFolder:
    """Finds the classes and images under `root`; FolderError (one line,
    naming the folder) for a missing folder, no images, or one class."""
    root = Path(root)
    if not root.is_dir():
        raise FolderError(f"{root}: no such folder")
    layout = "DATA/<label>/*.jpg (or DATA/train/<label>/ and DATA/val/<label>/)"
    if (root / "train").is_dir():
        by_class = _classes(root / "train")
        where = root / "train"
    else:
        by_class = _classes(root)
        where = root
    if not by_class:
        raise FolderError(f"{where}: no images in class subfolders ({', '.join(IMAGE_SUFFIXES)}); "
                          f"expected {layout}")
    labels = sorted(by_class)
    if len(labels) < 2:
        raise FolderError(f"{where}: only one class ({labels[0]!r}); a classifier needs at least 2 class folders")
    if where == root / "train" and (root / "val").is_dir():
        val_classes = _classes(root / "val")
        unknown = sorted(set(val_classes) - set(labels))
        if unknown:
            raise FolderError(f"{root / 'val'}: classes {unknown} are not in {where}")
        train = [(p, labels.index(label)) for label in labels for p in by_class[label]]
        val = [(p, labels.index(label)) for label in sorted(val_classes) for p in val_classes[label]]
        if not val:
            raise FolderError(f"{root / 'val'}: no images in class subfolders")
        return ImageFolder(root, labels, train, val, held_out=False)
    train, val = stratified_split(by_class, val_fraction, seed)
    return ImageFolder(root, labels, train, val, held_out=True)


@dataclasses.dataclass(frozen=True)
class Augment:
    """Training augmentation on the decoded 8-bit image. A crop of
    `scale` (share of the area) and `ratio` (width / height) drawn at
    random, as torchvision's RandomResizedCrop; a flip with probability
    `flip`; brightness, contrast and saturation each scaled by a factor in
    [1 - jitter, 1 + jitter] (saturation for rgb only)."""

    scale: Tuple[float, float] = (0.35, 1.0)
    ratio: Tuple[float, float] = (3 / 4, 4 / 3)
    flip: float = 0.5
    jitter: float = 0.3


def random_resized_crop(image: np.ndarray, rng: np.random.Generator, augment: Augment) -> np.ndarray:
    h, w = image.shape[:2]
    area = h * w
    for _ in range(10):
        target = area * rng.uniform(*augment.scale)
        ratio = np.exp(rng.uniform(np.log(augment.ratio[0]), np.log(augment.ratio[1])))
        cw, ch = int(round(np.sqrt(target * ratio))), int(round(np.sqrt(target / ratio)))
        if 0 < cw <= w and 0 < ch <= h:
            x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            return image[y:y + ch, x:x + cw]
    return image  # a very long image: keep it whole


def color_jitter(image: np.ndarray, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """Brightness, contrast, saturation (rgb), in a random order, as
    torchvision's ColorJitter does them; uint8 in, uint8 out."""
    x = image.astype(np.float32)
    steps = [0, 1, 2] if x.ndim == 3 else [0, 1]
    for step in rng.permutation(steps):
        factor = np.float32(rng.uniform(1 - jitter, 1 + jitter))
        if step == 0:
            x = x * factor
        elif step == 1:
            gray_mean = (x.mean(axis=2) if x.ndim == 3 else x).mean()
            x = (x - gray_mean) * factor + gray_mean
        else:
            gray = cv2.cvtColor(np.clip(x, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
            x = (x - gray[:, :, None]) * factor + gray[:, :, None]
        x = np.clip(x, 0, 255)
    return x.astype(np.uint8)


class PhotoDataset(Dataset):
    """(path, label) items as (input tensor [C, H, W] float32, label), or
    None for an image that cannot be read or decoded.

    `meta_input` is the model's metadata "input" object (size, colour, mean,
    std). Without `augment`, an item is preprocess.preprocess of the file's
    bytes: the server's tensor. `raw=True` gives the resized uint8 image
    instead of the normalised tensor (for measuring mean and std). Random
    draws come from (seed, epoch, index), so a worker process and an epoch
    see the same augmentation on any machine; set_epoch before each epoch.
    """

    def __init__(self, items: Sequence[Tuple[Path, int]], meta_input: Mapping[str, Any],
                 augment: Optional[Augment] = None, seed: int = 0, raw: bool = False) -> None:
        self.items = list(items)
        self.meta = dict(meta_input)
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.raw = raw

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def image(self, i: int) -> np.ndarray:
        """The item's image in the model's colour and size, uint8 (augmented
        when training). ValueError or OSError for an unreadable file."""
        path = self.items[i][0]
        image = to_color(decode(path.read_bytes(), self.meta), self.meta["color"])
        if self.augment is None:
            return resize(image, int(self.meta["height"]), int(self.meta["width"]))
        # Crop, then the reference resize, then flip and jitter at the input
        # size: jitter on the 64x64 result, not the decoded photo, cost the
        # loader half its time per image.
        rng = np.random.default_rng([self.seed, self.epoch, i])
        image = random_resized_crop(image, rng, self.augment)
        image = resize(np.ascontiguousarray(image), int(self.meta["height"]), int(self.meta["width"]))
        if rng.random() < self.augment.flip:
            image = image[:, ::-1]
        if self.augment.jitter > 0:
            image = color_jitter(image, rng, self.augment.jitter)
        return np.ascontiguousarray(image)

    def __getitem__(self, key) -> Optional[Tuple[torch.Tensor, int]]:
        """key: an index, or (epoch, index) from EpochSampler (which tells
        persistent worker processes the epoch)."""
        if isinstance(key, tuple):
            self.epoch, i = key
        else:
            i = key
        try:
            image = self.image(i)
        except (ValueError, OSError, cv2.error):
            return None
        if self.raw:
            hwc = image[:, :, None] if image.ndim == 2 else image
            return torch.from_numpy(np.ascontiguousarray(hwc)), self.items[i][1]
        return torch.from_numpy(normalize(image, self.meta["mean"], self.meta["std"])), self.items[i][1]


class EpochSampler(Sampler):
    """Yields (epoch, index) for each index of `sampler` (a
    DistributedSampler): DataLoader worker processes that live across
    epochs (persistent_workers) still draw each epoch's augmentation."""

    def __init__(self, sampler: DistributedSampler) -> None:
        self.sampler = sampler
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        return ((self.epoch, i) for i in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


def loader(dataset: Dataset, batch_size: int, workers: int, sampler: Optional[Sampler] = None,
           drop_last: bool = False, pin_memory: bool = False) -> DataLoader:
    """fit.py's DataLoader: decoding in `workers` processes that live for
    the whole run (a fresh start each epoch cost 0.3 s of a 3 s epoch here),
    unreadable items skipped (collate_skipping)."""
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      collate_fn=collate_skipping, pin_memory=pin_memory, drop_last=drop_last,
                      persistent_workers=workers > 0, worker_init_fn=_one_opencv_thread)


def _one_opencv_thread(_: int) -> None:
    # Each worker is one decoder: an OpenCV thread pool in it would take the
    # training process's cores.
    cv2.setNumThreads(1)


def collate_skipping(batch: Sequence[Optional[Tuple[torch.Tensor, int]]]):
    """(inputs, labels, skipped): the batch without its unreadable items,
    and how many there were."""
    kept = [item for item in batch if item is not None]
    skipped = len(batch) - len(kept)
    if not kept:
        return torch.empty(0), torch.empty(0, dtype=torch.long), skipped
    return (torch.stack([x for x, _ in kept]), torch.tensor([y for _, y in kept], dtype=torch.long), skipped)


@dataclasses.dataclass
class Statistics:
    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    readable: int
    unreadable: int


def measure_statistics(items: Sequence[Tuple[Path, int]], meta_input: Mapping[str, Any],
                       workers: int = 0, batch_size: int = 64) -> Statistics:
    """Per-channel mean and std ([0, 1] scale) of the images at the model's
    input size and colour, un-augmented, and how many could be read."""
    dataset = PhotoDataset(items, meta_input, raw=True)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate_skipping)
    channels = int(meta_input["channels"])
    total = np.zeros(channels)
    squares = np.zeros(channels)
    pixels, readable, unreadable = 0, 0, 0
    for x, _, skipped in loader:
        unreadable += skipped
        if not len(x):
            continue
        readable += len(x)
        v = x.double().div_(255.0).reshape(-1, channels)
        total += v.sum(0).numpy()
        squares += (v * v).sum(0).numpy()
        pixels += v.size(0)
    if readable == 0:
        return Statistics(tuple([0.5] * channels), tuple([0.25] * channels), 0, unreadable)
    mean = total / pixels
    std = np.sqrt(np.maximum(squares / pixels - mean * mean, 0.0))
    std = np.maximum(std, 1e-3)  # a folder of flat images must still normalise
    return Statistics(tuple(float(m) for m in mean), tuple(float(s) for s in std), readable, unreadable)
