"""Are a model's interest points where the answer is? Measured against
ground truth and against baselines that need no model.

    cd model && /usr/bin/python3 -m gcnserve_model.explain --model repository/relations/1/model.pt \\
        --relations /tmp/relations-test --prior /tmp/relations-train --out /tmp/explain.json
    cd model && /usr/bin/python3 -m gcnserve_model.explain --model repository/model3/2/model.pt \\
        --fashion-mnist test --out /tmp/explain-model3.json

The objects: for a generated relations set (relations.py), the boxes in its
objects.json, the two objects that decide the class; for Fashion-MNIST, the
garment (pixels above 0.1 * 255 in the 28x28 image, as evaluate.py).
Images go through the serving preprocessing; a point (x, y) in input pixels
lands on the pixel floor(x * w / W), floor(y * h / H) of the w x h original,
and is on an object when that pixel is (inside a box, or a garment pixel).

Points on the objects, the share of the model's K points, against:
  random_point  a point uniform over the image (exact: the objects' area share);
  random_cells  K distinct cells of the model's grid drawn uniformly (exact:
                the share of cell centres on the objects);
  fixed_prior   the same K cells for every image: the grid positions most
                often on an object in the training data (--prior: the
                generated training folder; Fashion-MNIST: its train split).
                Model1 takes K/3 points from each of its three maps, so its
                prior is the K/3 best cells of each map; likewise for the
                random cells;
  best          the best any K distinct cells could do on each image.
Deletion: accuracy after each image's cells under the model's points are
filled with the image's median colour (per channel, on the input tensor),
against as many random cells of the same maps (a fresh draw per image,
seeded) and against the fixed prior's cells (its best ones, as many).
--delete-top N deletes only the N best-scored points (and N of the others):
with K = 40 of 64 cells, deleting all of them deletes most of the image. Its cost is the accuracy lost;
`cost_ratio` = cost of the points / cost of the random cells.

For relations the report also checks the issue's goals: K at most a quarter
of the grid's positions, points at least 10 points above the fixed prior, and
deleting them costing at least 3 times what deleting random cells costs.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from .config import FASHION_MNIST_LABELS, ModelConfig
from .data import input_meta, load_images
from .metadata import METADATA_FILE, validate_metadata
from .models import build_model
from .preprocess import preprocess_image, preprocess_with_size
from .relations import read_objects

GARMENT_THRESHOLD = 0.1 * 255
GOAL_ABOVE_PRIOR = 0.10
GOAL_COST_RATIO = 3.0
MAX_POINT_SHARE = 0.25


@dataclasses.dataclass
class Loaded:
    """A model to measure and what its answers mean."""

    model: Any  # eager or TorchScript; forward returns the contract's dict
    meta_input: Dict[str, Any]  # the metadata's "input"
    labels: List[str]
    architecture: str
    strides: List[int]  # cell size in input pixels of the map behind each point level
    calibration: Optional[Dict[str, Any]] = None


def default_strides(architecture: str) -> List[int]:
    """The presets' maps: Model1's strides 2, 4, 8; stride 8 otherwise."""
    return [2, 4, 8] if architecture == "model1" else [8]


def load(path: Path, strides: Optional[Sequence[int]] = None) -> Loaded:
    """An exported model.pt (TorchScript archive) or a checkpoint of fit.py
    or train.py (best.pt: state_dict and config; fit's carry the labels)."""
    from .compare import is_torchscript
    path = Path(path)
    if is_torchscript(path):
        extra = {METADATA_FILE: ""}
        model = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        meta = json.loads(extra[METADATA_FILE])
        validate_metadata(meta)
        return Loaded(model.eval(), dict(meta["input"]), list(meta["labels"]), meta["architecture"],
                      list(strides or default_strides(meta["architecture"])), meta.get("calibration"))
    state = torch.load(str(path), map_location="cpu")
    if not isinstance(state, dict) or "config" not in state:
        raise ValueError(f"{path} is neither an export nor a checkpoint that carries its config")
    config = ModelConfig.from_dict(state["config"])
    model = build_model(config)
    model.load_state_dict(state["state_dict"])
    labels = list(state.get("labels") or FASHION_MNIST_LABELS)
    maps = [stride for stride, _, _ in config.feature_maps]
    return Loaded(model.eval(), input_meta(config), labels, config.architecture, list(strides or maps))


@dataclasses.dataclass
class Evidence:
    """A set of images with ground truth for where the answer is."""

    name: str
    inputs: torch.Tensor  # [N, C, H, W], the server's tensors
    labels: np.ndarray  # [N] label indices of the model's labels
    objects: np.ndarray  # bool [N, h, w]: the deciding objects' pixels at the original size


def boxes_mask(boxes: Sequence[Sequence[int]], width: int, height: int) -> np.ndarray:
    """bool [height, width], True inside any box [x0, y0, x1, y1) (pixels)."""
    mask = np.zeros((height, width), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        mask[max(0, y0):min(height, y1), max(0, x0):min(width, x1)] = True
    return mask


def relations_masks(root: Path) -> Tuple[List[str], np.ndarray]:
    """(relative paths, object masks) of a generated folder, sorted by path."""
    objects = read_objects(root)
    paths = sorted(objects)
    masks = []
    for rel in paths:
        h, w = cv2.imread(str(Path(root) / rel), cv2.IMREAD_UNCHANGED).shape[:2]
        masks.append(boxes_mask(objects[rel], w, h))
    if len({m.shape for m in masks}) > 1:
        raise ValueError(f"{root}: images of several sizes; the measures need one")
    return paths, np.stack(masks)


def relations_evidence(root: Path, loaded: Loaded, limit: Optional[int] = None) -> Evidence:
    paths, masks = relations_masks(root)
    if limit is not None:
        paths, masks = paths[:limit], masks[:limit]
    inputs, labels = [], []
    for rel in paths:
        label = rel.split("/")[0]
        if label not in loaded.labels:
            raise ValueError(f"{root / rel}: class {label!r} is not one of the model's labels {loaded.labels}")
        tensor, _, _ = preprocess_with_size((Path(root) / rel).read_bytes(), loaded.meta_input)
        inputs.append(torch.from_numpy(tensor))
        labels.append(loaded.labels.index(label))
    return Evidence(f"relations {root}", torch.stack(inputs), np.asarray(labels, dtype=np.int64), masks)


def fashion_masks(split: str, limit: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """(uint8 images, garment masks) of a Fashion-MNIST split."""
    images, labels, _ = load_images(split)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images, images > GARMENT_THRESHOLD


def fashion_evidence(split: str, loaded: Loaded, limit: Optional[int] = None) -> Evidence:
    images, labels, _ = load_images(split)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    inputs = torch.stack([torch.from_numpy(preprocess_image(img, loaded.meta_input)) for img in images])
    return Evidence(f"fashion-mnist {split}", inputs, labels.astype(np.int64), images > GARMENT_THRESHOLD)


def on_objects(points: np.ndarray, objects: np.ndarray, in_w: int, in_h: int) -> np.ndarray:
    """bool [N, K]: whether each point (input pixels, [N, K, 2]) lands on an
    object pixel of its [N, h, w] mask."""
    n, h, w = objects.shape
    xs = np.clip(np.floor(points[..., 0] * (w / in_w)).astype(np.int64), 0, w - 1)
    ys = np.clip(np.floor(points[..., 1] * (h / in_h)).astype(np.int64), 0, h - 1)
    return objects[np.arange(n)[:, None], ys, xs]


def cell_centres(in_w: int, in_h: int, stride: int) -> np.ndarray:
    """[cells, 2] centres of a stride's cells in input pixels, row-major."""
    cols, rows = np.meshgrid(np.arange(in_w // stride), np.arange(in_h // stride))
    return np.stack([(cols.ravel() + 0.5) * stride, (rows.ravel() + 0.5) * stride], axis=-1).astype(np.float64)


def cells_on_objects(objects: np.ndarray, in_w: int, in_h: int, stride: int) -> np.ndarray:
    """bool [N, cells]: whether each cell's centre is on an object."""
    centres = cell_centres(in_w, in_h, stride)
    return on_objects(np.broadcast_to(centres, (len(objects),) + centres.shape), objects, in_w, in_h)


def fixed_prior(objects: np.ndarray, in_w: int, in_h: int, stride: int, count: int) -> np.ndarray:
    """The `count` cells (row-major indices, best first) whose centres are
    most often on an object over the masks [N, h, w]; ties to the lower index."""
    frequency = cells_on_objects(objects, in_w, in_h, stride).mean(0)
    return np.argsort(-frequency, kind="stable")[:count]


def cell_index(points: np.ndarray, stride: int, in_w: int, in_h: int) -> np.ndarray:
    """int [..]: the row-major cell of each point (input pixels) on a stride's map."""
    map_w, map_h = in_w // stride, in_h // stride
    col = np.clip(np.floor(points[..., 0] / stride), 0, map_w - 1)
    row = np.clip(np.floor(points[..., 1] / stride), 0, map_h - 1)
    return (row * map_w + col).astype(np.int64)


def mask_cells(inputs: torch.Tensor, cells: Sequence[Tuple[int, np.ndarray]]) -> torch.Tensor:
    """A copy of `inputs` [N, C, H, W] with, for each (stride, flags) of
    `cells` (flags: bool [N, cells of that stride's map], row-major), the
    flagged cells filled with each image's median per channel."""
    out = inputs.clone()
    n, c, h, w = out.shape
    fill = inputs.flatten(2).median(dim=2).values  # [N, C]
    keep = torch.ones(n, 1, h, w, dtype=torch.bool)
    for stride, flags in cells:
        grid = torch.from_numpy(np.array(flags, dtype=bool)).view(n, 1, h // stride, w // stride)
        keep &= ~grid.repeat_interleave(stride, 2).repeat_interleave(stride, 3)
    return torch.where(keep, out, fill[:, :, None, None].expand_as(out))


def _first_flags(order: np.ndarray, counts: np.ndarray, cells: int) -> np.ndarray:
    """bool [N, cells]: the first counts[i] cells of each row of `order` ([N, >= max count] or [cells])."""
    n = len(counts)
    order = np.broadcast_to(order, (n, order.shape[-1]))
    flags = np.zeros((n, cells), dtype=bool)
    rank = np.arange(order.shape[1])[None, :] < counts[:, None]
    rows = np.broadcast_to(np.arange(n)[:, None], order.shape)
    flags[rows[rank], order[rank]] = True
    return flags


@torch.no_grad()
def forward(model: Any, inputs: torch.Tensor, batch_size: int = 200) -> Dict[str, np.ndarray]:
    logits, points, levels = [], [], []
    for start in range(0, len(inputs), batch_size):
        out = model(inputs[start:start + batch_size])
        logits.append(out["logits"].numpy())
        if "points" in out:
            points.append(out["points"].numpy())
            levels.append(out["point_levels"].numpy())
    result = {"logits": np.concatenate(logits)}
    if points:
        result["points"] = np.concatenate(points).astype(np.float64)
        result["levels"] = np.concatenate(levels)
    return result


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(1) == labels).mean())


def explain(loaded: Loaded, evidence: Evidence, prior_objects: np.ndarray, seed: int = 0,
            batch_size: int = 200, delete_top: Optional[int] = None) -> Dict[str, Any]:
    """The figures of the module docstring for `loaded` on `evidence`, the
    fixed prior taken from `prior_objects` (bool [M, h, w], the training
    data); the deletion test masks the `delete_top` best-scored points (all
    K when None) against as many random (and prior) cells of the same maps."""
    in_h, in_w = int(loaded.meta_input["height"]), int(loaded.meta_input["width"])
    clean = forward(loaded.model, evidence.inputs, batch_size)
    n = len(evidence.labels)
    result: Dict[str, Any] = {"set": evidence.name, "images": n, "architecture": loaded.architecture,
                              "accuracy": _accuracy(clean["logits"], evidence.labels)}
    if "points" not in clean:
        result["note"] = "no interest points (the resnet baseline)"
        return result
    points, levels = clean["points"], clean["levels"]
    k = points.shape[1]
    on = on_objects(points, evidence.objects, in_w, in_h)
    rng = np.random.default_rng(seed)
    random_cells = np.zeros(n)
    prior_hits = np.zeros(n)
    best = np.zeros(n)
    deleted_points, deleted_random, deleted_prior = [], [], []
    # Deletion takes the `delete` best-scored points (all K by default);
    # points are best first across maps, so their levels mix for Model1.
    delete = k if delete_top is None else min(k, delete_top)
    deleting = np.arange(k)[None, :] < delete
    per_level = []
    grid_positions = 0
    for level, stride in enumerate(loaded.strides):
        count = int((levels[0] == level).sum())  # the same for every image: K, or K/3 from each of Model1's maps
        if count == 0:
            continue
        cells = (in_w // stride) * (in_h // stride)
        grid_positions += cells
        hits = cells_on_objects(evidence.objects, in_w, in_h, stride)  # [N, cells]
        prior = fixed_prior(prior_objects, in_w, in_h, stride, count)
        random_cells += count * hits.mean(1)
        prior_hits += hits[:, prior].sum(1)
        best += np.minimum(count, hits.sum(1))
        at_level = levels == level
        per_level.append({"level": level, "stride": int(stride), "points": count, "cells": cells,
                          "model": float(on[at_level].mean()), "random_cells": float(hits.mean()),
                          "fixed_prior": float(hits[:, prior].mean()), "prior_cells": prior.tolist()})
        taken = cell_index(points, stride, in_w, in_h)  # [N, K]
        chosen = at_level & deleting
        flags = np.zeros((n, cells), dtype=bool)
        rows = np.broadcast_to(np.arange(n)[:, None], taken.shape)
        flags[rows[chosen], taken[chosen]] = True
        deleted_points.append((stride, flags))
        counts = chosen.sum(1)  # as many random cells of this map, per image
        deleted_random.append((stride, _first_flags(np.stack([rng.permutation(cells) for _ in range(n)]),
                                                    counts, cells)))
        deleted_prior.append((stride, _first_flags(prior, counts, cells)))
    shares = {
        "model": float(on.mean()),
        "model_top1": float(on[:, 0].mean()),
        "random_point": float(evidence.objects.mean()),
        "random_cells": float((random_cells / k).mean()),
        "fixed_prior": float((prior_hits / k).mean()),
        "best": float((best / k).mean()),
    }
    shares["model_minus_prior"] = shares["model"] - shares["fixed_prior"]
    accuracy = {
        "clean": result["accuracy"],
        "points_deleted": _accuracy(forward(loaded.model, mask_cells(evidence.inputs, deleted_points),
                                            batch_size)["logits"], evidence.labels),
        "random_cells_deleted": _accuracy(forward(loaded.model, mask_cells(evidence.inputs, deleted_random),
                                                  batch_size)["logits"], evidence.labels),
        "prior_deleted": _accuracy(forward(loaded.model, mask_cells(evidence.inputs, deleted_prior),
                                           batch_size)["logits"], evidence.labels),
    }
    cost_points = accuracy["clean"] - accuracy["points_deleted"]
    cost_random = accuracy["clean"] - accuracy["random_cells_deleted"]
    deletion = dict(accuracy, points=int(delete), cost_points=cost_points, cost_random=cost_random,
                    cost_prior=accuracy["clean"] - accuracy["prior_deleted"],
                    cost_ratio=cost_points / cost_random if cost_random > 0 else None)
    result.update(num_points=int(k), grid_positions=grid_positions, points_on_objects=shares,
                  deletion=deletion, per_level=per_level)
    return result


def goals(result: Mapping[str, Any]) -> Dict[str, Any]:
    """The issue's goals for the relations model, each with its figure."""
    shares, deletion = result["points_on_objects"], result["deletion"]
    ratio = deletion["cost_ratio"]
    return {
        "points_at_most_a_quarter_of_the_grid": result["num_points"] <= MAX_POINT_SHARE * result["grid_positions"],
        "points_above_prior_by_10": shares["model_minus_prior"] >= GOAL_ABOVE_PRIOR,
        "deletion_costs_3x_random": ratio is not None and ratio >= GOAL_COST_RATIO,
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description="Interest points against ground truth, random points and cells, a "
                                            "fixed prior, and a deletion test.")
    p.add_argument("--model", type=Path, required=True, help="an exported model.pt, or fit's/train's best.pt")
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--relations", type=Path, help="a generated relations folder (relations.py) to measure on")
    data.add_argument("--fashion-mnist", choices=("val", "test"), help="a Fashion-MNIST split to measure on")
    p.add_argument("--prior", type=Path,
                   help="with --relations: the generated training folder the fixed prior is counted on")
    p.add_argument("--limit", type=int, default=None, help="only the first N images")
    p.add_argument("--strides", type=int, nargs="+",
                   help="cell size of each point level's map (default: the checkpoint's; for an export 2 4 8 "
                        "for model1, else 8)")
    p.add_argument("--seed", type=int, default=0, help="the random cells' draw")
    p.add_argument("--delete-top", type=int, default=None,
                   help="the deletion test masks only the N best-scored points (default: all K)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, help="JSON file to write")
    args = p.parse_args(argv)
    if args.relations is not None and args.prior is None:
        p.error("--relations needs --prior, the training folder the fixed prior is counted on")
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    loaded = load(args.model, args.strides)
    if args.relations is not None:
        evidence = relations_evidence(args.relations, loaded, args.limit)
        prior_objects = relations_masks(args.prior)[1]
    else:
        evidence = fashion_evidence(args.fashion_mnist, loaded, args.limit)
        prior_objects = fashion_masks("train")[1]
    result = explain(loaded, evidence, prior_objects, args.seed, delete_top=args.delete_top)
    result["source"] = str(args.model)
    if args.relations is not None and "points_on_objects" in result:
        result["goals"] = goals(result)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    summary = {k: result[k] for k in ("set", "images", "accuracy", "num_points", "grid_positions") if k in result}
    if "points_on_objects" in result:
        summary["points_on_objects"] = {k: round(v, 4) for k, v in result["points_on_objects"].items()}
        summary["deletion"] = {k: (round(v, 4) if v is not None else None) for k, v in result["deletion"].items()}
        if "goals" in result:
            summary["goals"] = result["goals"]
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
