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
`CAMERA` is the strongest setting; the bundled Model3 version 3 was
fine-tuned with `MILD`, then `LITE` (`train --camera-augment`; RESULTS.md).

`CHECKS` are further fixed camera-like changes of test images (turned by
up to 15 or by 20 degrees, at 60 % size, shrunk off-centre, a grey
background, inverted at low contrast, blurred, noisy, inverted and turned
and shrunk at once), for measuring exported models beyond variants.py's
three:

    PYTHONPATH=model /usr/bin/python3 -m gcnserve_model.camera --model model/repository/model3/3/model.pt
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


# Camera-like changes beyond variants.py's three, each fixed by a seed, for
# measuring a model on the test images (the CLI below). Each maps
# (uint8 image, rng) to the changed uint8 image.
def _tone(contrast: float, brightness: float):
    return lambda image, rng: np.clip(np.rint((image.astype(np.float32) - 127.5) * contrast + 127.5 + brightness),
                                      0, 255).astype(np.uint8)


CHECKS = {
    "turned_up_to_15": lambda image, rng: warp(image, rng.uniform(-15.0, 15.0), 1.0),
    "turned_20": lambda image, rng: warp(image, 20.0, 1.0),
    "at_60_percent": lambda image, rng: warp(image, 0.0, 0.6),
    "at_70_percent_off_centre": lambda image, rng: warp(image, 0.0, 0.7, *rng.uniform(-4.0, 4.0, size=2)),
    "grey_background": _tone(0.6, 60.0),
    "low_contrast_inverted": lambda image, rng: 255 - _tone(0.6, 0.0)(image, rng),
    "blurred": lambda image, rng: cv2.GaussianBlur(image, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT),
    "noisy": lambda image, rng: np.clip(np.rint(image + rng.normal(0.0, 10.0, image.shape)), 0, 255).astype(np.uint8),
    "inverted_turned_shrunk": lambda image, rng: 255 - warp(image, rng.uniform(-15.0, 15.0), rng.uniform(0.7, 0.9)),
}


def main(argv=None) -> int:
    """Accuracy and ECE (15 bins, the export's temperature) of exported
    models on the Fashion-MNIST test images under each of CHECKS."""
    import argparse
    import json
    from pathlib import Path

    import torch
    from torch.utils.data import TensorDataset

    from .calibration import expected_calibration_error, probabilities, temperature_of
    from .data import FashionMNIST
    from .evaluate import load_for_evaluation, run
    from .metadata import read_metadata

    p = argparse.ArgumentParser(description="Exported models on camera-like changes of the Fashion-MNIST test set.")
    p.add_argument("--model", type=Path, action="append", required=True, help="an exported model.pt (repeatable)")
    p.add_argument("--check", choices=sorted(CHECKS), action="append", help="default: every check")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = {}
    for path in args.model:
        model, config = load_for_evaluation(None, path)
        temperature = temperature_of(read_metadata(path))
        dataset = FashionMNIST("test", config, limit=args.limit)
        labels = torch.from_numpy(dataset.labels)
        for name in args.check or sorted(CHECKS):
            rng = np.random.default_rng(args.seed)
            shown = [CHECKS[name](image, rng) for image in dataset.images]
            inputs = torch.stack([dataset.tensor(image) for image in shown])
            logits = torch.from_numpy(run(model, TensorDataset(inputs, labels))["logits"])
            served = probabilities(logits, temperature)
            figure = {"accuracy": float((logits.argmax(1) == labels).double().mean()),
                      "ece": expected_calibration_error(served, labels),
                      "mean_confidence": float(served.max(1).values.mean()), "temperature": temperature}
            results.setdefault(str(path), {})[name] = figure
            print(json.dumps({"model": str(path), "check": name, **figure}), flush=True)
    if args.out:
        args.out.write_text(json.dumps({"seed": args.seed, "images": len(labels), "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main())
