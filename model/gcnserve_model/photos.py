"""Writes folders of generated photos, one class per subfolder, never
downloaded: fit.py's tests and the training figures of RESULTS.md use them.

    PYTHONPATH=model /usr/bin/python3 -m gcnserve_model.photos OUT --kind scenes --per-class 300
    PYTHONPATH=model /usr/bin/python3 -m gcnserve_model.photos OUT --kind shapes --per-class 300 \
        [--classes circle,square,triangle,star] [--background photo|plain] [--seed 0]

scenes: OUT/<photo>/<index>.<ext>, a class per scikit-image sample photo
  (Debian's python3-skimage: chelsea the cat, coffee, rocket, astronaut):
  random crops of 8 to 50 % of the photo's area, any aspect, turned by up to
  20 degrees, flipped, their hue shifted by up to 15 degrees and brightness
  and contrast by up to 25 %, with grain: what a camera would see of four
  scenes from different places and in different light.
shapes: OUT/<shape>/<index>.<ext>, one filled shape of a random colour,
  size, position and rotation over a random crop of one of those photos
  ("photo") or a flat colour ("plain"), with grain. Harder than it looks
  for a small model: the colour and the background say nothing.
Both: sizes from 48 to 200 pixels on each side, written in turn as JPEG,
PNG, WebP and BMP, one image in five gray.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import cv2
import numpy as np

SHAPES = ("circle", "square", "triangle", "star")
SCENES = ("chelsea", "coffee", "rocket", "astronaut")
FORMATS = (".jpg", ".png", ".webp", ".bmp")
_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "immunohistochemistry",
           "hubble_deep_field", "retina")


def _backgrounds(names: Sequence[str] = _PHOTOS) -> List[np.ndarray]:
    try:
        import skimage.data
    except ImportError:
        return []
    out = []
    for name in names:
        try:
            rgb = getattr(skimage.data, name)()
        except Exception:  # a sample missing from this scikit-image
            continue
        out.append(cv2.cvtColor(rgb[:, :, :3], cv2.COLOR_RGB2BGR))
    return out


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    if shape == "square":
        t = angle + np.arange(4) * np.pi / 2 + np.pi / 4
        radius = np.full(4, r)
    elif shape == "triangle":
        t = angle + np.arange(3) * 2 * np.pi / 3
        radius = np.full(3, r)
    elif shape == "star":
        t = angle + np.arange(10) * np.pi / 5
        radius = np.where(np.arange(10) % 2 == 0, r, r * 0.45)
    else:
        raise ValueError(shape)
    return np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], 1).round().astype(np.int32)


def draw(shape: str, rng: np.random.Generator, backgrounds: Sequence[np.ndarray]) -> np.ndarray:
    """One BGR image of `shape`."""
    w, h = (int(v) for v in rng.integers(48, 201, size=2))
    if backgrounds:
        photo = backgrounds[int(rng.integers(len(backgrounds)))]
        ph, pw = photo.shape[:2]
        cw, ch = int(rng.integers(min(pw, ph) // 4, min(pw, ph) + 1)), 0
        ch = max(8, min(ph, int(cw * h / w)))
        x, y = int(rng.integers(0, pw - min(cw, pw) + 1)), int(rng.integers(0, ph - ch + 1))
        image = cv2.resize(photo[y:y + ch, x:x + min(cw, pw)], (w, h), interpolation=cv2.INTER_AREA)
    else:
        image = np.empty((h, w, 3), np.uint8)
        image[:] = rng.integers(0, 256, size=3)
    r = rng.uniform(0.2, 0.4) * min(w, h)
    cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
    color = tuple(int(c) for c in rng.integers(0, 256, size=3))
    if shape == "circle":
        cv2.circle(image, (int(cx), int(cy)), int(r), color, -1, cv2.LINE_AA)
    else:
        cv2.fillPoly(image, [_polygon(shape, cx, cy, r, rng.uniform(0, 2 * np.pi))], color, cv2.LINE_AA)
    grain = rng.normal(0, 4, image.shape)
    return np.clip(image + grain, 0, 255).astype(np.uint8)


def scene(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One BGR view of `photo`: a turned, recoloured crop."""
    ph, pw = photo.shape[:2]
    w, h = (int(v) for v in rng.integers(48, 201, size=2))
    area = rng.uniform(0.08, 0.5) * pw * ph
    aspect = w / h
    cw, ch = min(pw, int(np.sqrt(area * aspect))), min(ph, int(np.sqrt(area / aspect)))
    cx, cy = rng.uniform(cw / 2, pw - cw / 2), rng.uniform(ch / 2, ph - ch / 2)
    turn = cv2.getRotationMatrix2D((cx, cy), rng.uniform(-20, 20), 1.0)
    turn[:, 2] += (cw / 2 - cx, ch / 2 - cy)
    view = cv2.warpAffine(photo, turn, (cw, ch), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
    view = cv2.resize(view, (w, h), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        view = view[:, ::-1]
    hsv = cv2.cvtColor(np.ascontiguousarray(view), cv2.COLOR_BGR2HSV).astype(np.int32)
    hsv[:, :, 0] = (hsv[:, :, 0] + int(rng.integers(-7, 8))) % 180  # OpenCV's hue: 2 degrees a step
    view = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float64)
    mean = view.mean()
    view = (view - mean) * rng.uniform(0.75, 1.25) + mean * rng.uniform(0.75, 1.25)
    return np.clip(view + rng.normal(0, 4, view.shape), 0, 255).astype(np.uint8)


def _write(image: np.ndarray, folder: Path, i: int) -> Path:
    if i % 5 == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    ext = FORMATS[i % len(FORMATS)]
    path = folder / f"{i:05d}{ext}"
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if ext == ".jpg" else []
    if not cv2.imwrite(str(path), image, params):
        raise OSError(f"cannot write {path}")
    return path


def write_scenes(out: Path, per_class: int, scenes: Sequence[str] = SCENES, seed: int = 0) -> List[Path]:
    """Writes per_class views of each scene photo under out/<photo>/; returns the files."""
    rng = np.random.default_rng(seed)
    photos = _backgrounds(scenes)
    if len(photos) != len(scenes):
        raise RuntimeError("scikit-image's sample photos are missing (python3-skimage)")
    written = []
    for name, photo in zip(scenes, photos):
        (out / name).mkdir(parents=True, exist_ok=True)
        written += [_write(scene(photo, rng), out / name, i) for i in range(per_class)]
    return written


def write_folder(out: Path, per_class: int, shapes: Sequence[str] = SHAPES, background: str = "photo",
                 seed: int = 0) -> List[Path]:
    """Writes per_class images of each shape under out/<shape>/; returns the files."""
    rng = np.random.default_rng(seed)
    backgrounds = _backgrounds() if background == "photo" else []
    written = []
    for shape in shapes:
        (out / shape).mkdir(parents=True, exist_ok=True)
        written += [_write(draw(shape, rng, backgrounds), out / shape, i) for i in range(per_class)]
    return written


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Write a folder of generated photos, a subfolder per class.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--kind", choices=("scenes", "shapes"), default="scenes")
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument("--classes", default=None,
                        help=f"comma-separated: shapes of {SHAPES} (default all) or scenes of {SCENES}")
    parser.add_argument("--background", choices=("photo", "plain"), default="photo")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    known = SCENES if args.kind == "scenes" else SHAPES
    classes = [s for s in (args.classes or ",".join(known)).split(",") if s]
    unknown = sorted(set(classes) - set(known))
    if unknown:
        parser.error(f"unknown {args.kind} {unknown}; choose from {known}")
    if args.kind == "scenes":
        files = write_scenes(args.out, args.per_class, classes, args.seed)
    else:
        files = write_folder(args.out, args.per_class, classes, args.background, args.seed)
    print(f"{len(files)} images in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
