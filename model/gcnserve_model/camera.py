"""Training augmentation for garments as a camera gives them (issue 22, item 5).

Fashion-MNIST is a lab: a light garment, centred and upright, filling the
frame, on a black background. A photo of a garment on a table is often dark
on light, turned, smaller in the frame, off-centre, with a grey background,
soft focus and sensor noise. `CameraAugment` draws such a change for each
training image, on the uint8 28x28 image before the serving preprocessing,
so what the model sees is still an image a client could send. In order:

  1. horizontal flip (p `flip`);
  2. an affine change (p `affine`): a turn by U(-max_angle, max_angle)
     degrees and a scale by U(min_scale, max_scale) about the centre, then a
     shift by U(-max_shift, max_shift) pixels on each axis; filled with 0,
     the background, as variants.py's turned and shrunk test images are;
  3. inverted polarity, 255 - v (p `invert`), after the fill, so the border
     the geometry uncovered is background too (light, as on a table);
  4. contrast and brightness (p `tone`): v' = (v - 127.5) c + 127.5 + b with
     c ~ U(min_contrast, 1.2) and b ~ U(-max_brightness, max_brightness);
     then a gamma ~ U(1 / max_gamma, max_gamma) (p `gamma`);
  5. a Gaussian blur, sigma ~ U(0.3, max_blur) pixels (p `blur`);
  6. Gaussian noise, std ~ U(1, max_noise) levels (p `noise`);
  then rounded and clipped to 0..255.

Each draw comes from the numpy Generator passed in, so a dataset's stream
of augmentations is fixed by its seed (and train.py checkpoints it).
`CAMERA` is the setting the bundled camera-robust Model3 was trained with
(`train --camera-augment`); `MILD` and `LITE` milder ones it was compared with.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict

import cv2
import numpy as np


@dataclass(frozen=True)
class CameraAugment:
    """Probabilities (0..1) and ranges of each change; see the module docstring."""
    flip: float = 0.5
    affine: float = 0.8
    max_angle: float = 20.0        # degrees
    min_scale: float = 0.6
    max_scale: float = 1.1
    max_shift: float = 3.0         # 28x28 pixels
    invert: float = 0.5
    tone: float = 0.5
    min_contrast: float = 0.6
    max_brightness: float = 40.0   # grey levels
    gamma: float = 0.3
    max_gamma: float = 1.5
    blur: float = 0.25
    max_blur: float = 1.0          # sigma in pixels
    noise: float = 0.3
    max_noise: float = 12.0        # grey levels

    def __post_init__(self) -> None:
        for name in ("flip", "affine", "invert", "tone", "gamma", "blur", "noise"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability, not {getattr(self, name)}")
        if not 0 < self.min_scale <= self.max_scale:
            raise ValueError("need 0 < min_scale <= max_scale")
        if not 0 < self.min_contrast <= 1.2 or self.max_gamma < 1 or self.max_blur < 0.3 or self.max_noise < 1:
            raise ValueError("min_contrast must be in (0, 1.2], max_gamma >= 1, max_blur >= 0.3, max_noise >= 1")

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The augmented copy of a uint8 [h, w] image."""
        out = image[:, ::-1] if rng.random() < self.flip else image
        if rng.random() < self.affine:
            out = warp(out, rng.uniform(-self.max_angle, self.max_angle),
                       rng.uniform(self.min_scale, self.max_scale),
                       rng.uniform(-self.max_shift, self.max_shift), rng.uniform(-self.max_shift, self.max_shift))
        values = np.asarray(out, dtype=np.float32)
        if rng.random() < self.invert:
            values = 255.0 - values
        if rng.random() < self.tone:
            contrast = rng.uniform(self.min_contrast, 1.2)
            values = (values - 127.5) * contrast + 127.5 + rng.uniform(-self.max_brightness, self.max_brightness)
        if rng.random() < self.gamma:
            gamma = float(np.exp(rng.uniform(-np.log(self.max_gamma), np.log(self.max_gamma))))
            values = 255.0 * (np.clip(values, 0.0, 255.0) / 255.0) ** gamma
        if rng.random() < self.blur:
            values = cv2.GaussianBlur(values, (0, 0), rng.uniform(0.3, self.max_blur),
                                      borderType=cv2.BORDER_REFLECT)
        if rng.random() < self.noise:
            values = values + rng.normal(0.0, rng.uniform(1.0, self.max_noise), size=values.shape)
        return np.ascontiguousarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))


def warp(image: np.ndarray, angle: float, scale: float, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """`image` turned by `angle` degrees (counter-clockwise) and scaled by
    `scale` about its centre, then moved by (dx, dy) pixels; filled with 0."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), float(angle), float(scale))
    matrix[:, 2] += (dx, dy)
    return cv2.warpAffine(np.ascontiguousarray(image), matrix, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


CAMERA = CameraAugment()
MILD = CameraAugment(affine=0.7, max_angle=18.0, min_scale=0.65, max_shift=2.5, invert=0.4, tone=0.3,
                     min_contrast=0.7, max_brightness=25.0, gamma=0.2, blur=0.15, max_blur=1.0,
                     noise=0.2, max_noise=8.0)
LITE = CameraAugment(affine=0.6, max_angle=18.0, min_scale=0.65, max_shift=2.5, invert=0.35, tone=0.25,
                     min_contrast=0.7, max_brightness=25.0, gamma=0.15, blur=0.1, max_blur=1.0,
                     noise=0.15, max_noise=8.0)
SETTINGS: Dict[str, CameraAugment] = {"camera": CAMERA, "mild": MILD, "lite": LITE}
