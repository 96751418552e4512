"""Evaluates a trained model on Fashion-MNIST and writes the figures as JSON.

    PYTHONPATH=model /usr/bin/python3 -m gcnserve_model.evaluate \\
        --checkpoint /tmp/train-model3/best.pt --out /tmp/eval.json
    PYTHONPATH=model /usr/bin/python3 -m gcnserve_model.evaluate \\
        --model model/repository/model3/3/model.pt --out /tmp/eval.json

A checkpoint is train.py's best.pt (it carries its config); a model is an
exported model.pt (its gcnserve.json gives the input). Either way the images
go through the serving preprocessing (data.py).

Figures: top-1 accuracy, accuracy per class, the confusion matrix (rows: true
class, columns: predicted), the expected calibration error (15 bins, top-1)
of the probabilities as served, softmax(logits / T) with T the export's
calibration.temperature (1 for a checkpoint, or an export without one), and
without T; and for models with interest points the points-on-garment check. Each point (x, y) in input-tensor pixels maps to
the original 28x28 image by scaling each axis (preprocess.py's
scale_points_to_original); the pixel under it is image[floor(y), floor(x)].
A point is on the garment when that pixel is above `--threshold` (default
0.1 * 255). Baselines, computed exactly rather than sampled:
  uniform:  a point drawn uniformly over the image lands on the garment with
            probability (garment pixels) / (all pixels);
  cells:    k cells drawn uniformly without replacement from the model's
            feature-map cells (the only positions it can choose) give, in
            expectation, the share of cell centres on the garment;
  best:     the best any choice of k distinct cells could do,
            min(k, cell centres on the garment) / k.
A looser figure, "cell touches garment": whether any original pixel that
the point's cell covers is a garment pixel, for the model's points and for
random cells (a point just off the silhouette counts here, not above).
All shares are averaged over images. For Model1 the cell baselines are
taken per map (the strides of its point levels) and weighted by the points
each map gives; "per_level" splits every figure by map. "repeated_share" is
the share of points that lie inside the cell of a point taken from a
coarser map (the same place seen twice; what Model1's `dedup` removes).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from . import variants
from .calibration import expected_calibration_error, probabilities, temperature_of
from .config import FASHION_MNIST_LABELS, ModelConfig
from .data import FashionMNIST
from .metadata import METADATA_FILE, read_metadata, validate_metadata
from .models import build_model

THRESHOLD = 0.1 * 255


def load_for_evaluation(checkpoint: Optional[Path], model_file: Optional[Path],
                        options: Optional[Dict[str, Any]] = None):
    """(model, ModelConfig) from train.py's checkpoint or an exported model.pt.

    `options` (checkpoints only) changes config fields that add no weights,
    `nms` and `dedup`, to measure them on a model trained without them."""
    if checkpoint is not None:
        state = torch.load(str(checkpoint), map_location="cpu")
        if "config" not in state:
            raise ValueError(f"{checkpoint} carries no config; pass the exported model.pt with --model")
        config = ModelConfig.from_dict(state["config"]).replace(**(options or {}))
        model = build_model(config)
        model.load_state_dict(state["state_dict"])
        return model.eval(), config
    if options:
        raise ValueError(f"{', '.join(sorted(options))} can only be changed for a --checkpoint: "
                         "an exported model.pt has its options built in")
    extra = {METADATA_FILE: ""}
    model = torch.jit.load(str(model_file), map_location="cpu", _extra_files=extra)
    meta = json.loads(extra[METADATA_FILE])
    validate_metadata(meta)
    inp = meta["input"]
    # Only the input fields matter for evaluation (and the architecture, for
    # the default strides); the rest stands in for what the file holds.
    arch = meta["architecture"]
    config = ModelConfig(architecture=arch, input_height=inp["height"], input_width=inp["width"],
                         channels=inp["channels"], color=inp["color"], mean=inp["mean"], std=inp["std"],
                         num_classes=len(meta["labels"]), num_points=0 if arch == "resnet" else 3,
                         blocks_per_stage=(1, 1, 1, 1) if arch == "model1" else (1, 1, 1))
    return model.eval(), config


def points_on_garment(points: np.ndarray, images: np.ndarray, in_w: int, in_h: int,
                      threshold: float = THRESHOLD) -> np.ndarray:
    """Boolean [N, K]: whether each point (input pixels) lands on a garment pixel of its [N, h, w] image."""
    n, h, w = images.shape
    xs = np.clip(np.floor(points[..., 0] * (w / in_w)).astype(np.int64), 0, w - 1)
    ys = np.clip(np.floor(points[..., 1] * (h / in_h)).astype(np.int64), 0, h - 1)
    return images[np.arange(n)[:, None], ys, xs] > threshold


def cells_touching_garment(images: np.ndarray, in_w: int, in_h: int, stride: int,
                           threshold: float = THRESHOLD) -> np.ndarray:
    """Bool [N, cells], row-major: whether any pixel of the original image
    that a feature-map cell covers (its stride x stride input pixels, mapped
    to the original, boundary pixels included) is a garment pixel."""
    n, h, w = images.shape
    map_w, map_h = in_w // stride, in_h // stride
    sx, sy = w / in_w * stride, h / in_h * stride  # cell size in original pixels
    out = np.zeros((n, map_h * map_w), dtype=bool)
    for row in range(map_h):
        y0, y1 = int(np.floor(row * sy)), min(h, int(np.ceil((row + 1) * sy)))
        for col in range(map_w):
            x0, x1 = int(np.floor(col * sx)), min(w, int(np.ceil((col + 1) * sx)))
            out[:, row * map_w + col] = images[:, y0:y1, x0:x1].reshape(n, -1).max(1) > threshold
    return out


def grid_centres(in_w: int, in_h: int, map_w: int, map_h: int) -> np.ndarray:
    """[map_h * map_w, 2] centres of the feature-map cells in input pixels, row-major."""
    cols, rows = np.meshgrid(np.arange(map_w), np.arange(map_h))
    return np.stack([(cols.ravel() + 0.5) * in_w / map_w, (rows.ravel() + 0.5) * in_h / map_h], axis=-1)


def repeated_points(points: np.ndarray, levels: np.ndarray, strides: Sequence[int]) -> np.ndarray:
    """Bool [N, K]: whether each point (input pixels) lies inside the cell
    of another point that comes from a coarser map (a larger stride)."""
    stride = np.asarray(strides, dtype=np.float64)[levels]  # [N, K]
    coarse = stride[:, None, :]  # j's cell size, against every i
    same_col = np.floor(points[:, :, None, 0] / coarse) == np.floor(points[:, None, :, 0] / coarse)
    same_row = np.floor(points[:, :, None, 1] / coarse) == np.floor(points[:, None, :, 1] / coarse)
    coarser = stride[:, None, :] > stride[:, :, None]
    return (same_col & same_row & coarser).any(axis=2)


def point_statistics(points: np.ndarray, images: np.ndarray, in_w: int, in_h: int,
                     strides: Sequence[int], levels: Optional[np.ndarray] = None,
                     threshold: float = THRESHOLD) -> Dict[str, Any]:
    """The points-on-garment figures (module docstring) for points [N, K, 2]
    in input pixels over images [N, h, w]. `strides[l]` is the cell size of
    the map that level l (point_levels) comes from; levels None: all 0."""
    n, k = points.shape[:2]
    if levels is None:
        levels = np.zeros((n, k), dtype=np.int64)
    on = points_on_garment(points, images, in_w, in_h, threshold)
    repeated = np.concatenate([repeated_points(points[i:i + 500], levels[i:i + 500], strides)
                               for i in range(0, n, 500)]) if n else np.zeros((0, k), dtype=bool)
    per_level = []
    random_cells = np.zeros(n)
    best = np.zeros(n)
    touching = np.zeros((n, k), dtype=bool)
    random_touching = np.zeros(n)
    for level, stride in enumerate(strides):
        at_level = levels == level
        count = at_level.sum(1)  # points per image at this level
        map_w, map_h = in_w // stride, in_h // stride
        centres = np.broadcast_to(grid_centres(in_w, in_h, map_w, map_h), (n, map_w * map_h, 2))
        cells_on = points_on_garment(centres, images, in_w, in_h, threshold)  # [N, cells]
        random_cells += count * cells_on.mean(1)
        best += np.minimum(count, cells_on.sum(1))
        touch = cells_touching_garment(images, in_w, in_h, stride, threshold)
        cell_index = (np.clip(np.floor(points[..., 1] / stride), 0, map_h - 1) * map_w
                      + np.clip(np.floor(points[..., 0] / stride), 0, map_w - 1)).astype(np.int64)
        touching |= at_level & np.take_along_axis(touch, cell_index, axis=1)
        random_touching += count * touch.mean(1)
        per_level.append({
            "level": level, "stride": int(stride), "points_per_image": float(count.mean()),
            "model_share": float(on[at_level].mean()) if at_level.any() else None,
            "random_cells_share": float(cells_on.mean()),
        })
    return {
        "threshold": threshold,
        "num_points": int(k),
        "images": int(n),
        "model_share": float(on.mean()),
        "model_share_top1": float(on[:, 0].mean()),
        "model_share_by_rank_quarter": [float(q.mean()) for q in np.array_split(on, 4, axis=1) if q.size],
        "uniform_random_share": float((images > threshold).mean()),
        "random_cells_share": float((random_cells / k).mean()),
        "best_possible_share": float((best / k).mean()),
        "model_cell_touches_garment": float(touching.mean()),
        "repeated_share": float(repeated.mean()),
        "random_cell_touches_garment": float((random_touching / k).mean()),
        "per_level": per_level,
    }


@torch.no_grad()
def run(model: nn.Module, dataset: FashionMNIST, batch_size: int = 256) -> Dict[str, np.ndarray]:
    logits, points, levels = [], [], []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    for x, _ in loader:
        out = model(x)
        if isinstance(out, dict):
            logits.append(out["logits"].numpy())
            if "points" in out:
                points.append(out["points"].numpy())
                levels.append(out["point_levels"].numpy())
        else:
            logits.append(out.numpy())
    result = {"logits": np.concatenate(logits)}
    if points:
        result["points"] = np.concatenate(points)
        result["levels"] = np.concatenate(levels)
    return result


def confidence_figures(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> Dict[str, Any]:
    """ECE (15 bins, top-1) and mean top-1 probability of the served
    probabilities softmax(logits / T), and the ECE of softmax(logits)."""
    raw = torch.from_numpy(logits)
    y = torch.from_numpy(labels)
    served = probabilities(raw, temperature)
    return {"temperature": float(temperature), "ece": expected_calibration_error(served, y),
            "mean_confidence": float(served.max(1).values.mean()),
            "ece_uncalibrated": expected_calibration_error(probabilities(raw), y),
            "mean_confidence_uncalibrated": float(probabilities(raw).max(1).values.mean())}


def evaluate(model: nn.Module, config: ModelConfig, split: str = "test", limit: Optional[int] = None,
             threshold: float = THRESHOLD, strides: Optional[Sequence[int]] = None,
             temperature: float = 1.0, variant: Optional[str] = None) -> Dict[str, Any]:
    """Runs `model` over a split, or a variant of it (variants.py);
    `strides` (cell size per point level) default to the config's maps;
    `temperature` is the export's calibration (the probabilities are
    softmax(logits / T), as served)."""
    dataset = FashionMNIST(split, config, limit=limit)
    garments = dataset.images
    if variant is None:
        out = run(model, dataset)
    else:
        garments = variants.geometry(dataset.images, variant)
        shown = variants.apply(dataset.images, variant)
        inputs = torch.stack([dataset.tensor(img) for img in shown])
        out = run(model, TensorDataset(inputs, torch.from_numpy(dataset.labels)))
    labels = dataset.labels
    predicted = out["logits"].argmax(1)
    classes = out["logits"].shape[1]
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = confusion.diagonal() / np.maximum(1, confusion.sum(1))
    names = list(FASHION_MNIST_LABELS) if classes == len(FASHION_MNIST_LABELS) else [str(i) for i in range(classes)]
    result: Dict[str, Any] = {
        "split": split,
        "variant": variant,
        "images": int(len(labels)),
        "accuracy": float((predicted == labels).mean()),
        "per_class_accuracy": {name: float(a) for name, a in zip(names, per_class)},
        "confusion_matrix": confusion.tolist(),
        "labels": names,
        "calibration": confidence_figures(out["logits"], labels, temperature),
    }
    if "points" in out:
        if strides is None:
            strides = [stride for stride, _, _ in config.feature_maps]
        result["points_on_garment"] = point_statistics(
            out["points"], garments, config.input_width, config.input_height, strides, out["levels"],
            threshold)
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description="Evaluate a gcnserve model on Fashion-MNIST.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="train.py's best.pt or last.pt")
    src.add_argument("--model", type=Path, help="an exported model.pt")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--limit", type=int, default=None, help="only the first N images")
    p.add_argument("--variant", choices=variants.VARIANTS,
                   help="the split's images inverted, turned by 15 degrees or at 70 %% size (variants.py)")
    p.add_argument("--threshold", type=float, default=THRESHOLD, help="garment pixel threshold, 0..255")
    p.add_argument("--strides", type=int, nargs="+",
                   help="cell size in input pixels of the map each point level comes from, for the "
                        "random-cell baseline (default: the checkpoint's config; with --model: 2 4 8 "
                        "for model1, else 8, the presets' values)")
    p.add_argument("--nms", type=int, help="with --checkpoint: non-maximum suppression window to use instead "
                                            "of the trained one (0 = off)")
    p.add_argument("--dedup", choices=("on", "off"),
                   help="with --checkpoint: model1's de-duplication across maps, instead of the trained setting")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, help="JSON file to write (default: stdout only)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    options: Dict[str, Any] = {}
    if args.nms is not None:
        options["nms"] = args.nms
    if args.dedup is not None:
        options["dedup"] = args.dedup == "on"
    model, config = load_for_evaluation(args.checkpoint, args.model, options)
    temperature = temperature_of(read_metadata(args.model)) if args.model else 1.0
    result = evaluate(model, config, args.split, args.limit, args.threshold, args.strides, temperature,
                      args.variant)
    result["source"] = str(args.checkpoint or args.model)
    result["options"] = {"nms": config.nms, "dedup": config.dedup}
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    summary = {k: v for k, v in result.items() if k in ("split", "variant", "images", "accuracy")}
    summary.update({k: result["calibration"][k] for k in ("temperature", "ece", "ece_uncalibrated")})
    if "points_on_garment" in result:
        summary.update({k: result["points_on_garment"][k] for k in
                        ("model_share", "uniform_random_share", "random_cells_share", "best_possible_share",
                         "model_cell_touches_garment", "random_cell_touches_garment", "repeated_share")})
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
