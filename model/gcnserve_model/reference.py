"""The drift reference an export carries: what the model's answers look like
on its validation split, for the server to compare its traffic against.

Each signal is one number per image, computed from the model's outputs in
the same way the server computes it (server/monitoring/drift_monitor.h):

  predicted_class  argmax of the probabilities (one bin per class);
  confidence       the top-1 probability;
  attention        the points' mean attention score;
  centroid_x/_y    the points' mean x / input width, mean y / input height;
  spread           root mean squared distance of the points from their
                   centroid, in those input-relative coordinates;
  border           share of points within BORDER of an edge (relative);
  adjacency        mean weight of the K x K normalized adjacency.

The graph signals exist only for a model with a graph. A numeric signal's
bins are fixed at export: `edges` ascending (decile edges sit between two
values the reference had), value v in bin
searchsorted(edges, v, side="right") (std::upper_bound in C++), so
len(edges) + 1 bins; `fractions` are the reference's share of each bin. The
confidence's edges are fixed (CONFIDENCE_EDGES); the others are the deciles of
the reference's values, duplicates removed.

Rewrite a repository's exports with a reference, weights untouched:

    PYTHONPATH=model /usr/bin/python3 -m gcnserve_model.reference --repository model/repository
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

BORDER = 0.125
CONFIDENCE_EDGES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999)
CLASS_SIGNAL = "predicted_class"
SCORE_SIGNALS = (CLASS_SIGNAL, "confidence")
GRAPH_SIGNALS = ("attention", "centroid_x", "centroid_y", "spread", "border", "adjacency")
DECILES = tuple(q / 10 for q in range(1, 10))


def signals_of(output: Mapping[str, torch.Tensor], height: int, width: int) -> Dict[str, np.ndarray]:
    """Every signal of a batch of outputs, one float64 array [N] each."""
    # The probabilities in float32, as the server's runner makes them; the
    # signals from them in float64, as the server sums them.
    probabilities = F.softmax(output["logits"].float(), 1).double()
    confidence, predicted = probabilities.max(1)
    result = {CLASS_SIGNAL: predicted.double().numpy(), "confidence": confidence.numpy()}
    if "points" in output and output["points"].shape[1] > 0:
        points = output["points"].double()
        rx, ry = points[..., 0] / width, points[..., 1] / height
        cx, cy = rx.mean(1), ry.mean(1)
        spread = ((rx - cx[:, None]) ** 2 + (ry - cy[:, None]) ** 2).mean(1).sqrt()
        border = ((rx < BORDER) | (rx > 1 - BORDER) | (ry < BORDER) | (ry > 1 - BORDER)).double().mean(1)
        result.update(attention=output["point_scores"].double().mean(1), centroid_x=cx, centroid_y=cy,
                      spread=spread, border=border, adjacency=output["adjacency"].double().mean((1, 2)))
        for key in GRAPH_SIGNALS:
            result[key] = result[key].numpy()
    return result


def decile_edges(values: np.ndarray) -> List[float]:
    """The deciles of `values`, each moved to the middle between the values
    either side of it, so that a value the server computes a rounding away
    from the reference's lands in the same bin; duplicates removed."""
    distinct = np.unique(values)
    edges = set()
    for q in np.quantile(values, DECILES):
        above = distinct[distinct > q]
        if len(above):
            edges.add(float((distinct[distinct <= q].max() + above.min()) / 2))
    return sorted(edges)


def _fractions(values: np.ndarray, edges: Sequence[float]) -> List[float]:
    bins = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")
    return (np.bincount(bins, minlength=len(edges) + 1) / len(values)).tolist()


@torch.no_grad()
def compute_reference(model: Any, batches: Iterable[torch.Tensor], num_classes: int, height: int, width: int,
                      split: str) -> Dict[str, Any]:
    """The reference of `model` (eager or TorchScript) over input batches [N, C, H, W]."""
    if hasattr(model, "eval"):
        model.eval()
    collected: Dict[str, List[np.ndarray]] = {}
    for x in batches:
        if len(x) == 0:
            continue
        for key, values in signals_of(model(x), height, width).items():
            collected.setdefault(key, []).append(values)
    if not collected:
        raise ValueError(f"no images in {split} to compute a drift reference from")
    values = {key: np.concatenate(parts) for key, parts in collected.items()}
    count = len(values[CLASS_SIGNAL])
    signals: Dict[str, Any] = {
        CLASS_SIGNAL: {"fractions": (np.bincount(values[CLASS_SIGNAL].astype(np.int64), minlength=num_classes)
                                     / count).tolist()},
        "confidence": {"edges": list(CONFIDENCE_EDGES),
                       "fractions": _fractions(values["confidence"], CONFIDENCE_EDGES)},
    }
    for key in GRAPH_SIGNALS:
        if key in values:
            edges = decile_edges(values[key])
            signals[key] = {"edges": edges, "fractions": _fractions(values[key], edges)}
    return {"split": split, "images": count, "signals": signals}


def validate_reference(reference: Any, num_classes: int, has_graph: bool) -> None:
    """ValueError naming the first problem of a metadata "reference"."""
    if not isinstance(reference, Mapping) or not isinstance(reference.get("signals"), Mapping):
        raise ValueError("reference must be an object with 'signals'")
    images = reference.get("images")
    if not isinstance(images, int) or isinstance(images, bool) or images < 1:
        raise ValueError("reference.images must be a positive integer")
    for name, signal in reference["signals"].items():
        if name in GRAPH_SIGNALS and not has_graph:
            raise ValueError(f"reference signal {name!r} needs a graph")
        if not isinstance(signal, Mapping) or not isinstance(signal.get("fractions"), list):
            raise ValueError(f"reference signal {name!r} needs 'fractions'")
        fractions = signal["fractions"]
        edges = signal.get("edges", [])
        if name == CLASS_SIGNAL:
            if len(fractions) != num_classes or "edges" in signal:
                raise ValueError(f"reference signal {name!r} needs one fraction per class and no edges")
        elif not isinstance(edges, list) or len(fractions) != len(edges) + 1:
            raise ValueError(f"reference signal {name!r} needs len(edges) + 1 fractions")
        numbers = [*fractions, *edges]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in numbers):
            raise ValueError(f"reference signal {name!r} holds a value that is not a finite number")
        if any(b < a for a, b in zip(edges, edges[1:])):
            raise ValueError(f"reference signal {name!r}: edges must ascend")
        if any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
            raise ValueError(f"reference signal {name!r}: fractions must be shares summing to 1")


def offline_batch_size(meta_input: Mapping[str, Any]) -> int:
    """Images per batch for the offline passes over a split: 250 at 64x64,
    fewer as the input grows (the same pixels a batch), so that a 224x224
    model's activations fit in memory (at 250 a batch they did not)."""
    return max(1, 250 * 64 * 64 // (int(meta_input["height"]) * int(meta_input["width"])))


def fashion_mnist_labelled_batches(meta_input: Mapping[str, Any], split: str = "val", limit: Optional[int] = None
                                   ) -> Iterable[Tuple[torch.Tensor, torch.Tensor]]:
    """Fashion-MNIST's `split` as (inputs, labels) batches, preprocessed as the server does."""
    from .data import load_images
    from .preprocess import preprocess_image
    images, labels, _ = load_images(split)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    batch_size = offline_batch_size(meta_input)
    for start in range(0, len(images), batch_size):
        yield (torch.from_numpy(np.stack([preprocess_image(img, meta_input) for img in
                                          images[start:start + batch_size]])),
               torch.from_numpy(labels[start:start + batch_size].astype(np.int64)))


def fashion_mnist_batches(meta_input: Mapping[str, Any], split: str = "val", limit: Optional[int] = None
                          ) -> Iterable[torch.Tensor]:
    """Fashion-MNIST's `split` preprocessed as the server does, in batches."""
    return (inputs for inputs, _ in fashion_mnist_labelled_batches(meta_input, split, limit))


def rewrite_with_reference(path: Path, split: str = "val", limit: Optional[int] = None) -> Dict[str, Any]:
    """Adds a Fashion-MNIST reference to the export at `path`, in place
    (metadata.rewrite_metadata: only gcnserve.json changes, checked)."""
    from .metadata import rewrite_metadata

    def change(meta: Dict[str, Any], module: Any) -> Dict[str, Any]:
        inp = meta["input"]
        meta["reference"] = compute_reference(module, fashion_mnist_batches(inp, split, limit), len(meta["labels"]),
                                              inp["height"], inp["width"], f"fashion-mnist {split}")
        return meta

    return rewrite_metadata(path, change)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Add a Fashion-MNIST drift reference to every export of a "
                                                 "repository (weights untouched).")
    parser.add_argument("--repository", required=True, type=Path)
    parser.add_argument("--split", default="val", choices=("val", "test"))
    parser.add_argument("--limit", type=int, help="images of the split to use (default: all)")
    args = parser.parse_args(argv)
    paths = sorted(args.repository.glob("*/[0-9]*/model.pt"))
    if not paths:
        print(f"no model.pt under {args.repository}", file=sys.stderr)
        return 1
    for path in paths:
        meta = rewrite_with_reference(path, args.split, args.limit)
        confidence = meta["reference"]["signals"]["confidence"]["fractions"]
        print(f"{path}: {len(meta['reference']['signals'])} signals over {meta['reference']['images']} images "
              f"(top-1 probability > 0.99: {sum(confidence[-2:]):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
