"""Trains a gcnserve model on Fashion-MNIST (data.py), checkpointing every epoch.

    PYTHONPATH=model /usr/bin/python3 -m gcnserve_model.train --arch model3 --preset compact \\
        --epochs 8 --out /tmp/train-model3 --threads 1

Optimiser: AdamW, with a learning rate that warms up linearly over the first
`--warmup-steps` steps and then follows a cosine to 0 at the last step.
Every epoch writes, into --out:
  last.pt       model state_dict, optimiser, scheduler, epoch, history, RNG
                states, config and arguments: what --resume continues from;
  best.pt       {"state_dict", "config", "epoch", "val_accuracy"} of the epoch
                with the best validation accuracy (export.py --checkpoint reads it);
  history.json  per epoch: train loss and accuracy, validation loss and
                accuracy, learning rate, seconds.
The test set is not touched here: evaluate.py measures it once, at the end.

`--camera-augment camera|mild` trains for garments as a camera gives them
(camera.py) instead of the flip and shift; each epoch then also measures the
validation images as variants.py's camera-like variants (inverted, turned
15 degrees, at 70 % size), and best.pt is the epoch with the best mean of
the clean and the variants' accuracy. `--init FILE` starts the whole model
from a checkpoint of the same configuration (train.py's best.pt or last.pt,
or an exported model.pt): fine-tuning, as the bundled Model3 v3 was made.
`--workers N` loads batches in N processes (for CUDA), each augmenting with
its own stream seeded from the loader's generator, so runs stay repeatable
and resumable.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, get_worker_info
from tqdm import tqdm

from . import variants
from .camera import SETTINGS as CAMERA_SETTINGS
from .config import ARCHITECTURES, FASHION_MNIST_LABELS, ModelConfig, preset
from .data import FashionMNIST
from .models import build_model
from .weights import load_backbone  # noqa: F401  (train.load_backbone, as before)


def logits_of(output: Any) -> torch.Tensor:
    """The logits of a model output: the contract's dict, or a bare tensor."""
    return output["logits"] if isinstance(output, dict) else output


def cosine_with_warmup(total_steps: int, warmup_steps: int):
    """LambdaLR factor: linear 0 -> 1 over warmup, then cosine 1 -> 0."""
    def factor(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return factor


def _bar(iterable, **kwargs):
    # In a log file (nohup) a bar refreshing every 0.1 s would be megabytes.
    interactive = sys.stderr.isatty()
    return tqdm(iterable, mininterval=0.5 if interactive else 30.0, dynamic_ncols=interactive, **kwargs)


@torch.no_grad()
def evaluate_loader(model: nn.Module, loader: DataLoader, device: torch.device,
                    desc: str = "val") -> Tuple[float, float]:
    """(mean cross-entropy, top-1 accuracy) over `loader`."""
    model.eval()
    total, correct, loss_sum = 0, 0, 0.0
    for x, y in _bar(loader, desc=desc, leave=False):
        x, y = x.to(device), y.to(device)
        logits = logits_of(model(x))
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        total += len(y)
    return loss_sum / max(1, total), correct / max(1, total)


def load_init(model: nn.Module, path: Path) -> None:
    """Every weight of `model` from `path`: a train.py checkpoint or an
    exported model.pt (TorchScript) of the same configuration."""
    scripted = False
    if zipfile.is_zipfile(str(path)):  # torch.save's legacy format is no zip, and never TorchScript
        with zipfile.ZipFile(str(path)) as archive:
            scripted = any(name.endswith("/constants.pkl") for name in archive.namelist())
    if scripted:
        state = torch.jit.load(str(path), map_location="cpu").state_dict()
    else:
        state = torch.load(str(path), map_location="cpu", weights_only=False)
        state = state.get("state_dict", state)
    model.load_state_dict(state)


def _seed_worker(_: int) -> None:
    # Each worker holds a copy of the dataset: without this they would all
    # draw the same augmentations. info.seed comes from the loader's
    # generator, which last.pt keeps, so a resumed run draws the same.
    info = get_worker_info()
    info.dataset.rng = np.random.default_rng(info.seed)


def variant_loaders(val_set: FashionMNIST) -> Dict[str, DataLoader]:
    """The validation images as each of variants.py's variants."""
    labels = torch.from_numpy(val_set.labels)
    return {name: DataLoader(TensorDataset(torch.stack([val_set.tensor(img) for img in
                                                        variants.apply(val_set.images, name)]), labels),
                             batch_size=256, shuffle=False, num_workers=0)
            for name in variants.VARIANTS}


def selection_score(record: Dict[str, Any]) -> float:
    """What best.pt is chosen by: validation accuracy, averaged with the
    variants' when they were measured."""
    scores = [record["val_accuracy"], *record.get("val_variant_accuracy", {}).values()]
    return sum(scores) / len(scores)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train a gcnserve model on Fashion-MNIST.")
    p.add_argument("--arch", default="model3", choices=ARCHITECTURES)
    p.add_argument("--preset", default="compact")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3, help="peak AdamW learning rate (default 2e-3)")
    p.add_argument("--weight-decay", type=float, default=0.02)
    p.add_argument("--warmup-steps", type=int, default=300)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--nms", type=int, default=0, help="non-maximum suppression window before top-k (0 = off)")
    p.add_argument("--dedup", action="store_true", help="model1: de-duplicate positions across its maps")
    p.add_argument("--max-shift", type=int, default=2, help="augmentation: largest shift in 28x28 pixels")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--camera-augment", choices=sorted(CAMERA_SETTINGS), default=None,
                   help="augment for garments as a camera gives them (camera.py: polarity, turn, scale, shift, "
                        "tone, blur, noise) instead of flip and shift; validates on the camera-like variants too "
                        "and keeps the epoch with the best mean of clean and variants")
    p.add_argument("--init", type=Path, default=None,
                   help="start every weight from this checkpoint or exported model.pt of the same configuration "
                        "(fine-tuning)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default 0)")
    p.add_argument("--out", required=True, type=Path, help="checkpoint folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--stop-after", type=int, default=None,
                   help="end this run after this many more epochs (resume later with --resume; "
                        "the schedule still spans --epochs)")
    p.add_argument("--backbone-weights", type=Path, default=None,
                   help="local file of pretrained backbone weights (e.g. a trained resnet baseline's best.pt); "
                        "every trunk tensor must be in it with its shape (weights.py)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--max-batches", type=int, default=None,
                   help="stop each epoch after this many batches (timing runs)")
    p.add_argument("--train-limit", type=int, default=None, help="use only the first N training images")
    p.add_argument("--val-limit", type=int, default=None, help="use only the first N validation images")
    return p.parse_args(argv)


def _rng_state() -> Dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def _save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, str(tmp))
    os.replace(tmp, path)


def train(args: argparse.Namespace) -> Dict[str, Any]:
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)  # the augmentation's resizes: no OpenCV thread pool beside torch's
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)
    config: ModelConfig = preset(args.preset, args.arch).replace(
        num_classes=len(FASHION_MNIST_LABELS), nms=args.nms, dedup=args.dedup)

    camera = CAMERA_SETTINGS[args.camera_augment] if args.camera_augment else None
    train_set = FashionMNIST("train", config, augment=not args.no_augment, max_shift=args.max_shift,
                             limit=args.train_limit, seed=args.seed, camera=camera)
    val_set = FashionMNIST("val", config, limit=args.val_limit)
    generator = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=True,
                              generator=generator, num_workers=args.workers,
                              worker_init_fn=_seed_worker if args.workers > 0 else None)
    val_loader = DataLoader(val_set, batch_size=256, shuffle=False, num_workers=0)
    val_variants = variant_loaders(val_set) if camera is not None else {}
    steps_per_epoch = len(train_loader) if args.max_batches is None else min(len(train_loader), args.max_batches)

    model = build_model(config).to(device)
    if args.backbone_weights is not None and not args.resume:
        copied = load_backbone(model, args.backbone_weights)
        print(f"loaded {copied} backbone tensors from {args.backbone_weights}", flush=True)
    if args.init is not None and not args.resume:
        load_init(model, args.init)
        print(f"every weight from {args.init}", flush=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, cosine_with_warmup(args.epochs * steps_per_epoch, args.warmup_steps))

    args.out.mkdir(parents=True, exist_ok=True)
    history = []
    start_epoch = 0
    best_acc = -1.0
    if args.resume:
        last = args.out / "last.pt"
        if not last.is_file():
            raise FileNotFoundError(f"--resume: {last} does not exist")
        state = torch.load(str(last), map_location=device, weights_only=False)
        if ModelConfig.from_dict(state["config"]) != config:
            raise ValueError(f"--resume: {last} was trained with another configuration")
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history = state["history"]
        start_epoch = state["epoch"]
        best_acc = max((selection_score(h) for h in history), default=-1.0)
        _set_rng_state(state["rng"])
        generator.set_state(state["loader_rng"])
        train_set.rng = state["augment_rng"]
        print(f"resumed from {last} after epoch {start_epoch}", flush=True)

    n_params = sum(p.numel() for p in model.parameters())
    print(f"{args.arch}/{args.preset}: {n_params} parameters, {len(train_set)} train / {len(val_set)} val images, "
          f"{steps_per_epoch} steps per epoch, device {device}, {torch.get_num_threads()} thread(s)", flush=True)

    end_epoch = args.epochs if args.stop_after is None else min(args.epochs, start_epoch + args.stop_after)
    for epoch in range(start_epoch, end_epoch):
        model.train()
        started = time.time()
        seen, correct, loss_sum = 0, 0, 0.0
        bar = _bar(itertools.islice(train_loader, steps_per_epoch), desc=f"epoch {epoch + 1}/{args.epochs}",
                   total=steps_per_epoch)
        for x, y in bar:
            x, y = x.to(device), y.to(device)
            logits = logits_of(model(x))
            loss = F.cross_entropy(logits, y, label_smoothing=args.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            seen += len(y)
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}",
                            lr=f"{scheduler.get_last_lr()[0]:.2e}", refresh=False)
        bar.close()
        train_seconds = time.time() - started
        val_loss, val_acc = evaluate_loader(model, val_loader, device)
        record = {"epoch": epoch + 1, "train_loss": loss_sum / max(1, seen), "train_accuracy": correct / max(1, seen),
                  "val_loss": val_loss, "val_accuracy": val_acc, "lr": scheduler.get_last_lr()[0],
                  "train_seconds": train_seconds, "steps": steps_per_epoch}
        if val_variants:
            record["val_variant_accuracy"] = {name: evaluate_loader(model, loader, device, desc=name)[1]
                                              for name, loader in val_variants.items()}
        record["seconds"] = time.time() - started
        history.append(record)
        shown = "".join(f" {name} {acc:.4f}" for name, acc in record.get("val_variant_accuracy", {}).items())
        print(f"epoch {epoch + 1}/{args.epochs}: train loss {record['train_loss']:.4f} acc {record['train_accuracy']:.4f}"
              f" | val loss {val_loss:.4f} acc {val_acc:.4f}{shown} | {train_seconds:.0f} s train,"
              f" {record['seconds']:.0f} s total", flush=True)

        score = selection_score(record)
        if score > best_acc:
            best_acc = score
            _save({"state_dict": model.state_dict(), "config": config.to_dict(), "arch": args.arch,
                   "preset": args.preset, "epoch": epoch + 1, "val_accuracy": val_acc,
                   "val_variant_accuracy": record.get("val_variant_accuracy", {}),
                   "camera_augment": camera.to_dict() if camera else None}, args.out / "best.pt")
        _save({"state_dict": model.state_dict(), "optimizer": optimizer.state_dict(),
               "scheduler": scheduler.state_dict(), "epoch": epoch + 1, "history": history,
               "config": config.to_dict(), "args": {k: str(v) for k, v in vars(args).items()},
               "rng": _rng_state(), "loader_rng": generator.get_state(), "augment_rng": train_set.rng},
              args.out / "last.pt")
        (args.out / "history.json").write_text(json.dumps(history, indent=2) + "\n")

    # best_val_accuracy: with --camera-augment, the best mean of the clean and the variants' accuracy
    summary = {"best_val_accuracy": best_acc, "epochs": len(history),
               "train_seconds": sum(h["seconds"] for h in history), "history": history}
    print(f"best validation accuracy {best_acc:.4f}; checkpoints in {args.out}", flush=True)
    return summary


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or args.threads < 1:
        print("--epochs, --batch-size and --threads must be at least 1", file=sys.stderr)
        return 2
    train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
