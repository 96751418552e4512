"""Fashion-MNIST test images as a camera might give them, for measuring
robustness and calibration away from the lab (issue 22):

  inverted   255 - v: a garment dark on a light background, as on a table;
  rotated15  turned by 15 degrees (counter-clockwise) about the centre;
  scaled70   shrunk to 70 % of its size about the centre.

Each works on the uint8 28x28 image, before the serving preprocessing (so
a variant is still an image a client could send); the geometric ones fill
with 0, Fashion-MNIST's background. `geometry` applies only the geometric
part, which is where the garment is (for the points-on-garment check).
"""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np

VARIANTS: Tuple[str, ...] = ("inverted", "rotated15", "scaled70")


def _warp(image: np.ndarray, angle: float, scale: float) -> np.ndarray:
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, scale)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)


def geometry(images: np.ndarray, variant: str) -> np.ndarray:
    """The variant's geometric change alone, on uint8 images [N, h, w]."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}")
    if variant == "rotated15":
        return np.stack([_warp(img, 15.0, 1.0) for img in images])
    if variant == "scaled70":
        return np.stack([_warp(img, 0.0, 0.7) for img in images])
    return images.copy()


def apply(images: np.ndarray, variant: str) -> np.ndarray:
    """The variant of uint8 images [N, h, w]."""
    moved = geometry(images, variant)
    return 255 - moved if variant == "inverted" else moved
