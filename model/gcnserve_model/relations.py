"""A task decided by where things are: generated scenes whose class is the
arrangement of two marked objects, never their looks (Sort-of-CLEVR-like).

    cd model && /usr/bin/python3 -m gcnserve_model.relations OUT --count N --seed S

writes OUT/<label>/<n>.png (colour, SIZE x SIZE, n = 00000 ... N-1) and
OUT/objects.json, which maps each image's path relative to OUT (with "/")
to the boxes [x0, y0, x1, y1] of the two objects that decide its class, in
image pixels, x1 and y1 exclusive (the object's pixels are x0 <= x < x1,
y0 <= y < y1), the red object's box first, then the blue one's.

Every scene holds one red and one blue object (the marked pair) and 2 to 4
distractors of other colours, all drawn from the same shapes (circle,
square, triangle, diamond) and sizes (10 to 14 pixels a side; a diamond or
triangle fills 8 or more of them), over a
tinted gradient with clutter lines and grain. The class says where the red
object is against the blue one:

  left-near   red left of blue (centres at least MIN_DX apart in x), centres
              within NEAR pixels;
  left-far    red left of blue, centres at least FAR pixels apart;
  right-near, right-far   the same with red right of blue.

So a model must find both marked objects and compare their positions; in
the far classes they are more than half the picture apart. Classes come in
turn (image n has label LABELS[n % 4]), so any N divisible by 4 is exactly
balanced. Image n is drawn from its own generator, seeded by (S, n): the
same seed gives the same bytes whatever N is, and another seed other
scenes.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np

LABELS = ("left-near", "left-far", "right-near", "right-far")
SIZE = 64
NEAR = 22.0  # centre distance of a near pair, at most (pixels)
FAR = 34.0  # centre distance of a far pair, at least
MIN_DX = 5.0  # |x_red - x_blue| at least, so that left and right are never a matter of a pixel
SIDE = (10, 14)  # object sizes, pixels (inclusive)
GAP = 2  # pixels between any two objects' boxes, at least
SHAPES = ("circle", "square", "triangle", "diamond")
RED = (220, 40, 40)  # RGB; each drawn with a little jitter
BLUE = (40, 80, 230)
DISTRACTOR_COLORS = ((40, 190, 60), (225, 215, 40), (40, 205, 205), (230, 230, 230), (150, 150, 150))
OBJECTS_FILE = "objects.json"

Box = Tuple[int, int, int, int]


class Scene(NamedTuple):
    """One generated image (RGB uint8 [SIZE, SIZE, 3]), its label and the
    boxes of the red and the blue object."""

    image: np.ndarray
    label: str
    boxes: Tuple[Box, Box]
    distractors: Tuple[Box, ...]


def relation(red: Tuple[float, float], blue: Tuple[float, float], size: int = SIZE) -> Optional[str]:
    """The label of a red and a blue object centred at these (x, y) in a
    `size`-pixel picture (the distances scale with it), or None for an
    arrangement no class takes (too close to call)."""
    scale = size / SIZE
    dx, dy = red[0] - blue[0], red[1] - blue[1]
    distance = float(np.hypot(dx, dy))
    if abs(dx) < MIN_DX * scale:
        return None
    side = "left" if dx < 0 else "right"
    if distance <= NEAR * scale:
        return f"{side}-near"
    if distance >= FAR * scale:
        return f"{side}-far"
    return None


def box_centre(box: Sequence[float]) -> Tuple[float, float]:
    return ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)


def _apart(a: Box, b: Box, gap: int = GAP) -> bool:
    return a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1]


def _place(rng: np.random.Generator, side: int, size: int) -> Box:
    """A side x side box anywhere at least a pixel inside the picture."""
    x0, y0 = int(rng.integers(1, size - side)), int(rng.integers(1, size - side))
    return (x0, y0, x0 + side, y0 + side)


def _mask(shape: str, box: Box, size: int, angle: float) -> np.ndarray:
    """The object's pixels (bool [size, size]), inside `box`."""
    x0, y0, x1, y1 = box
    side = x1 - x0
    canvas = np.zeros((size, size), np.uint8)
    cx, cy, r = (x0 + x1 - 1) / 2.0, (y0 + y1 - 1) / 2.0, (side - 1) / 2.0
    if shape == "circle":
        yy, xx = np.mgrid[0:size, 0:size]
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= (r + 0.5) ** 2
    if shape == "square":
        canvas[y0:y1, x0:x1] = 1
        return canvas.astype(bool)
    if shape == "triangle":
        t = angle + np.arange(3) * 2 * np.pi / 3
    else:  # diamond
        t = np.arange(4) * np.pi / 2
    corners = np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)
    cv2.fillPoly(canvas, [np.round(corners).astype(np.int32)], 1)
    return canvas.astype(bool)


def _tight(mask: np.ndarray) -> Box:
    ys, xs = np.nonzero(mask)
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A tinted gradient with clutter lines: nothing the classes differ by."""
    base = rng.uniform(40, 110, 3)
    tilt = rng.uniform(-30, 30, 3)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1) - 0.5
    ramp = np.cos(angle) * xx + np.sin(angle) * yy
    image = base[None, None, :] + ramp[:, :, None] * tilt[None, None, :]
    image = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(3, 7))):
        a, b = rng.integers(0, size, 2), rng.integers(0, size, 2)
        color = tuple(int(c) for c in np.clip(base + rng.uniform(-35, 35, 3), 0, 255))
        cv2.line(image, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), color, 1, cv2.LINE_AA)
    return image


def _jitter(rng: np.random.Generator, rgb: Tuple[int, int, int]) -> np.ndarray:
    return np.clip(np.asarray(rgb, np.float64) + rng.uniform(-15, 15, 3), 0, 255)


def _object(rng: np.random.Generator, size: int) -> Tuple[Box, np.ndarray]:
    """(placement box, pixels) of one object of a random shape, size and place."""
    scale = size / SIZE
    side = int(rng.integers(round(SIDE[0] * scale), round(SIDE[1] * scale) + 1))
    box = _place(rng, side, size)
    return box, _mask(SHAPES[int(rng.integers(len(SHAPES)))], box, size, rng.uniform(0, 2 * np.pi))


def scene(seed: int, index: int, size: int = SIZE) -> Scene:
    """Image `index` of the set drawn with `seed`; its label is
    LABELS[index % len(LABELS)]."""
    label = LABELS[index % len(LABELS)]
    rng = np.random.default_rng([seed, index])
    image = _background(rng, size).astype(np.float64)
    # The marked pair: drawn until the arrangement of their pixels' boxes is
    # the label's (every class has the same shapes, sizes and colours; only
    # the places differ).
    while True:
        (red, red_mask), (blue, blue_mask) = _object(rng, size), _object(rng, size)
        if _apart(red, blue) and relation(box_centre(_tight(red_mask)), box_centre(_tight(blue_mask)),
                                          size) == label:
            break
    taken: List[Box] = [red, blue]
    masks = [red_mask, blue_mask]
    for _ in range(int(rng.integers(2, 5))):
        for _attempt in range(50):
            box, mask = _object(rng, size)
            if all(_apart(box, other) for other in taken):
                taken.append(box)
                masks.append(mask)
                break
    colors = [_jitter(rng, RED), _jitter(rng, BLUE)]
    colors += [_jitter(rng, DISTRACTOR_COLORS[int(rng.integers(len(DISTRACTOR_COLORS)))]) for _ in taken[2:]]
    for mask, color in zip(masks, colors):
        image[mask] = color
    image += rng.normal(0, 5, image.shape)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    drawn = [_tight(mask) for mask in masks]
    return Scene(image, label, (drawn[0], drawn[1]), tuple(drawn[2:]))


def image_path(label: str, index: int) -> str:
    """The image's path relative to OUT."""
    return f"{label}/{index:05d}.png"


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError("PNG encoding failed")
    return encoded.tobytes()


def write_set(out: Path, count: int, seed: int = 0, size: int = SIZE) -> Dict[str, List[List[int]]]:
    """Writes `count` scenes and objects.json under `out`; returns what
    objects.json holds."""
    if count < 1:
        raise ValueError(f"--count must be at least 1, not {count}")
    if size < 48:
        raise ValueError(f"--size must be at least 48 pixels, not {size}")
    out = Path(out)
    for label in LABELS:
        (out / label).mkdir(parents=True, exist_ok=True)
    objects: Dict[str, List[List[int]]] = {}
    for index in range(count):
        s = scene(seed, index, size)
        path = image_path(s.label, index)
        (out / path).write_bytes(png_bytes(s.image))
        objects[path] = [list(s.boxes[0]), list(s.boxes[1])]
    lines = [f"{json.dumps(path)}: {json.dumps(boxes)}" for path, boxes in sorted(objects.items())]
    (out / OBJECTS_FILE).write_text("{\n" + ",\n".join(lines) + "\n}\n")
    return objects


def read_objects(root: Path) -> Dict[str, List[List[int]]]:
    """objects.json of a generated set: relative path -> boxes."""
    return json.loads((Path(root) / OBJECTS_FILE).read_text())


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write a generated image folder whose class is where two marked objects are "
                    "(OUT/<label>/<n>.png and OUT/objects.json).")
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=4000, help="images in all (default 4000; 4 classes in turn)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=SIZE, help=f"pixels a side (default {SIZE})")
    args = parser.parse_args(argv)
    try:
        objects = write_set(args.out, args.count, args.seed, args.size)
    except ValueError as e:
        parser.error(str(e))
    print(f"{len(objects)} images in {args.out} ({', '.join(LABELS)}), boxes in {args.out / OBJECTS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
