"""One command from a folder of photos to a served model: train, validate,
export the best epoch as the next version of REPO/NAME.

    cd model && /usr/bin/python3 -m gcnserve_model.fit DATA --repository REPO --name NAME
    # several processes (DistributedDataParallel; gloo on CPU, NCCL on CUDA):
    /usr/bin/python3 -m torch.distributed.run --redirects 2 --tee 1 --nproc_per_node 2 \\
        -m gcnserve_model.fit DATA --repository REPO --name NAME

DATA is DATA/<label>/* or DATA/train/<label>/* with DATA/val/<label>/*
(folder.py). Without val/, a seeded stratified split (--val-fraction) is held
out. Mean and std are measured on the training images. Each epoch is
validated (accuracy, per-class accuracy, expected calibration error); the
best epoch (accuracy, then loss) is exported through export.export_model
(scripted, verified, renamed into place) with the labels, input, dataset and
validation metrics, a temperature fitted on the validation images
(calibration.py; --no-calibration leaves it out) and the drift reference of
its calibrated answers on them (reference.py) in its gcnserve.json, so a
running server picks it up on its next scan. Checkpoints for --resume go to --checkpoints (default
REPO/.fit/NAME: a hidden folder, which the server does not read).

Defaults: on CPU, Model3's compact configuration in colour (64x64, k=40);
on CUDA the architecture's paper preset (config.PAPER_PRESET), mixed
precision and channels-last.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from .calibration import ECE_BINS, calibrate, expected_calibration_error
from .config import ARCHITECTURES, COLORS, ModelConfig, preset
from .data import input_meta
from .export import ExportError, export_model
from .folder import Augment, EpochSampler, FolderError, ImageFolder, PhotoDataset, loader, measure_statistics, scan
from .models import build_model
from .train import _bar, _save, cosine_with_warmup, logits_of
from .weights import WeightsError, load_backbone, pretrained_part

# Chosen by measurement on the 2-core CPU (model/RESULTS.md, "Training on a
# folder of photos"): 1,200 photos of 4 classes reach >= 95 % held out.
CPU_EPOCHS = 50
CUDA_EPOCHS = 30


class FitError(RuntimeError):
    """A problem found before training; the message is one line."""


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Train a gcnserve model on a folder of images (DATA/<label>/*) and export it as the next "
                    "version of REPO/NAME.")
    p.add_argument("data", type=Path, help="DATA/<label>/* images, or DATA/train/<label>/ and DATA/val/<label>/")
    p.add_argument("--repository", required=True, type=Path, help="model repository to export into")
    p.add_argument("--name", required=True, help="model name (a folder of the repository)")
    p.add_argument("--arch", default="model3", choices=ARCHITECTURES)
    p.add_argument("--preset", default=None,
                   help="configuration of --arch (config.py): default compact on CPU, paper on CUDA")
    p.add_argument("--color", choices=sorted(COLORS), default=None,
                   help="the model's colour (default: rgb; a paper preset is always rgb)")
    p.add_argument("--num-points", type=int, default=None,
                   help="K, the interest points (graph nodes) a graph model takes (default: the preset's; "
                        "model1 takes K/3 from each of its maps)")
    p.add_argument("--nms", type=int, default=None,
                   help="non-maximum suppression window before top-k, trained in (odd, >= 3; 0 = off; "
                        "default: the preset's, off)")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"epochs (default {CPU_EPOCHS} on CPU, {CUDA_EPOCHS} on CUDA)")
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop after this many optimizer steps (smoke runs); still validates and exports")
    p.add_argument("--batch-size", type=int, default=64, help="images per step, per process (default 64)")
    p.add_argument("--lr", type=float, default=2e-3, help="peak AdamW learning rate (default 2e-3)")
    p.add_argument("--weight-decay", type=float, default=0.02)
    p.add_argument("--label-smoothing", type=float, default=0.0,
                   help="cross-entropy label smoothing (default 0: it caps the confidence, which the ECE counts)")
    p.add_argument("--val-fraction", type=float, default=0.15,
                   help="share of each class held out when DATA has no val/ (default 0.15)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument("--workers", type=int, default=None,
                   help="DataLoader worker processes per training process (default: 1 on CPU, "
                        "up to 8 on CUDA)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads per process (default: the usable cores left by the loader's workers, "
                        "divided among the processes)")
    p.add_argument("--backbone-weights", type=Path, default=None,
                   help="pretrained trunk: a torchvision-format ResNet-50 state dict for the paper presets, or a "
                        "gcnserve checkpoint; every trunk tensor must be in it with its shape")
    p.add_argument("--freeze-backbone", action="store_true", help="train the rest with the trunk frozen")
    p.add_argument("--resume", action="store_true", help="continue from CHECKPOINTS/last.pt")
    p.add_argument("--checkpoints", type=Path, default=None, help="checkpoint folder (default REPO/.fit/NAME)")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--no-calibration", action="store_true",
                   help="export without a temperature (by default one is fitted on the validation images and "
                        "stored in gcnserve.json; calibration.py)")
    return p.parse_args(argv)


def _usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class Context:
    """This process's place: rank, world size, device; rank 0 logs,
    validates and exports."""

    def __init__(self, device_arg: Optional[str]) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        wanted = device_arg or ("cuda" if torch.cuda.is_available() else "cpu")
        self.device = torch.device(wanted)
        if self.device.type == "cuda":
            if not torch.cuda.is_available():
                raise FitError(f"--device {wanted}: this torch has no usable CUDA")
            if self.device.index is None:
                self.device = torch.device("cuda", local_rank % torch.cuda.device_count())
            torch.cuda.set_device(self.device)
        if self.world > 1:
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def log(self, message: str) -> None:
        if self.main:
            print(message, flush=True)

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def broadcast(self, value: Any) -> Any:
        """rank 0's `value`, on every rank."""
        if self.world == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def sum(self, value: float) -> float:
        if self.world == 1:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t.item())

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def choose_config(args: argparse.Namespace, device: torch.device, num_classes: int) -> Tuple[str, ModelConfig]:
    """(preset name, the preset with the folder's class count and colour,
    --num-points and --nms; mean and std still the preset's)."""
    name = args.preset or ("paper" if device.type == "cuda" else "compact")
    config = preset(name, args.arch)
    color = args.color or "rgb"
    if color != config.color:
        config = config.replace(color=color, channels=COLORS[color], mean=(0.5,) * COLORS[color],
                                std=(0.25,) * COLORS[color])
    changes: Dict[str, Any] = {"num_classes": num_classes}
    if args.num_points is not None:
        changes["num_points"] = args.num_points
    if args.nms is not None:
        changes["nms"] = args.nms
    return name, config.replace(**changes)


@torch.no_grad()
def validation_logits(model: nn.Module, loader: DataLoader, device: torch.device) -> Tuple[torch.Tensor, torch.Tensor, int]:
    """(logits [N, classes] float32 on the CPU, labels [N], unreadable images skipped) over `loader`."""
    model.eval()
    logits: List[torch.Tensor] = []
    labels: List[torch.Tensor] = []
    skipped = 0
    for x, y, s in _bar(loader, desc="val", leave=False):
        skipped += s
        if len(y):
            logits.append(logits_of(model(x.to(device, non_blocking=True))).float().cpu())
            labels.append(y)
    if not labels:
        return torch.empty(0, 0), torch.empty(0, dtype=torch.long), skipped
    return torch.cat(logits), torch.cat(labels), skipped


def validate(model: nn.Module, loader: DataLoader, device: torch.device, num_classes: int) -> Dict[str, Any]:
    """Loss, accuracy, per-class accuracy and expected calibration error
    (ECE_BINS equal-width confidence bins; calibration.py) over `loader`."""
    logits, y, skipped = validation_logits(model, loader, device)
    if not len(y):
        return {"images": 0, "skipped": skipped, "accuracy": 0.0, "loss": math.inf, "ece": 1.0,
                "class_accuracy": [0.0] * num_classes}
    p = F.softmax(logits, 1)
    correct = (p.argmax(1) == y).double()
    loss = F.nll_loss(p.clamp_min(1e-12).log(), y).item()
    class_accuracy = [correct[y == c].mean().item() if (y == c).any() else float("nan") for c in range(num_classes)]
    return {"images": len(y), "skipped": skipped, "accuracy": correct.mean().item(), "loss": loss,
            "ece": expected_calibration_error(p, y, ECE_BINS), "class_accuracy": class_accuracy}


def next_version(model_dir: Path) -> int:
    versions = [int(p.name) for p in model_dir.iterdir() if p.name.isdigit()] if model_dir.is_dir() else []
    return max(versions, default=0) + 1


def _metrics(result: Dict[str, Any], labels: Sequence[str], epoch: int, folder: ImageFolder) -> Dict[str, float]:
    metrics = {"val_accuracy": result["accuracy"], "val_loss": result["loss"], "val_ece": result["ece"],
               "val_images": float(result["images"]), "train_images": float(len(folder.train)),
               "epoch": float(epoch)}
    for label, accuracy in zip(labels, result["class_accuracy"]):
        if math.isfinite(accuracy):
            metrics[f"val_accuracy[{label}]"] = accuracy
    return {k: v for k, v in metrics.items() if math.isfinite(v)}


def fit(args: argparse.Namespace, ctx: Context) -> Optional[Path]:
    started = time.time()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    cuda = ctx.device.type == "cuda"
    cores = _usable_cores()
    workers = args.workers if args.workers is not None else (min(8, max(1, cores // ctx.world)) if cuda else 1)
    # The loader's workers have cores of their own: torch threads that share
    # a core with them (or with another process) spin against each other
    # (2 threads beside a busy core ran a step 4x slower than 1, here).
    threads = args.threads or max(1, (cores - (0 if cuda else workers * ctx.world)) // ctx.world)
    torch.set_num_threads(threads)
    checkpoints = args.checkpoints or args.repository / ".fit" / args.name
    last_path, best_path = checkpoints / "last.pt", checkpoints / "best.pt"

    folder = scan(args.data, args.val_fraction, args.seed)
    preset_name, config = choose_config(args, ctx.device, len(folder.labels))
    model = build_model(config)  # mean and std do not shape it: measured below
    state: Optional[Dict[str, Any]] = None
    if args.backbone_weights is not None and not args.resume:
        copied = load_backbone(model, args.backbone_weights)  # WeightsError before any training
        ctx.log(f"loaded {copied} {pretrained_part(model)[0]} tensors from {args.backbone_weights}")
    if args.resume:
        if not last_path.is_file():
            raise FitError(f"--resume: {last_path} does not exist")
        state = torch.load(str(last_path), map_location="cpu")
        if state["labels"] != folder.labels:
            raise FitError(f"--resume: {last_path} was trained on the labels {state['labels']}, "
                           f"{args.data} has {folder.labels}")
        saved = ModelConfig.from_dict(state["config"])
        if saved.replace(mean=config.mean, std=config.std) != config:
            raise FitError(f"--resume: {last_path} was trained with another --arch, --preset or --color")
        config = saved
    else:
        stats = None
        if ctx.main:
            stats = measure_statistics(folder.train, input_meta(config), workers)
        stats = ctx.broadcast(stats)
        if stats.readable == 0:
            raise FitError(f"{args.data}: none of the {len(folder.train)} training images could be decoded")
        if stats.unreadable:
            ctx.log(f"{stats.unreadable} of {len(folder.train)} training images cannot be decoded; "
                    f"they are skipped and counted each epoch")
        config = config.replace(mean=stats.mean, std=stats.std)
    model.config = config
    meta = input_meta(config)
    trunk = pretrained_part(model)[1]
    if args.freeze_backbone:
        for p in trunk.parameters():
            p.requires_grad_(False)
    model.to(ctx.device)
    if cuda:
        model.to(memory_format=torch.channels_last)
    trained = [p for p in model.parameters() if p.requires_grad]
    ddp: nn.Module = model
    if ctx.world > 1:
        ddp = nn.parallel.DistributedDataParallel(model, device_ids=[ctx.device.index] if cuda else None)

    train_set = PhotoDataset(folder.train, meta, None if args.no_augment else Augment(), seed=args.seed)
    sampler = DistributedSampler(train_set, num_replicas=ctx.world, rank=ctx.rank, shuffle=True, seed=args.seed,
                                 drop_last=len(train_set) >= ctx.world * args.batch_size)
    sampler = EpochSampler(sampler)
    train_loader = loader(train_set, args.batch_size, workers, sampler, drop_last=len(sampler) >= args.batch_size,
                          pin_memory=cuda)
    val_loader = loader(PhotoDataset(folder.val, meta), max(64, args.batch_size), workers if ctx.main else 0,
                        pin_memory=cuda)
    epochs = args.epochs or (CUDA_EPOCHS if cuda else CPU_EPOCHS)
    steps_per_epoch = len(train_loader)
    total_steps = epochs * steps_per_epoch if args.max_steps is None else min(args.max_steps,
                                                                              epochs * steps_per_epoch)
    optimizer = torch.optim.AdamW(trained, lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, cosine_with_warmup(total_steps, min(300, max(1, total_steps // 10))))
    scaler = torch.cuda.amp.GradScaler(enabled=cuda)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.float16)) if cuda else contextlib.nullcontext

    history: List[Dict[str, Any]] = []
    start_epoch, step = 0, 0
    best: Dict[str, Any] = {"accuracy": -1.0, "loss": math.inf}
    if state is not None:
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        history, start_epoch, step, best = state["history"], state["epoch"], state["step"], state["best"]
        ctx.log(f"resumed from {last_path} after epoch {start_epoch} (step {step})")

    n_params = sum(p.numel() for p in model.parameters())
    ctx.log(f"{args.data}: {len(folder.labels)} classes, {len(folder.train)} train / {len(folder.val)} val images"
            f" ({'held out' if folder.held_out else 'val/'}); {args.arch}/{preset_name} "
            f"{config.input_width}x{config.input_height} {config.color}, {n_params:,} parameters; "
            f"{epochs} epochs of {steps_per_epoch} steps; device {ctx.device}, {ctx.world} process(es), "
            f"{threads} thread(s) and {workers} loader worker(s) each"
            + (", mixed precision, channels-last" if cuda else ""))
    checkpoints.mkdir(parents=True, exist_ok=True)

    for epoch in range(start_epoch, epochs):
        if step >= total_steps:
            break
        ddp.train()
        if args.freeze_backbone:
            trunk.eval()  # frozen BatchNorm statistics too
        sampler.set_epoch(epoch)
        epoch_started = time.time()
        seen, correct, loss_sum, skipped = 0, 0, 0.0, 0
        bar = _bar(train_loader, desc=f"epoch {epoch + 1}/{epochs}", total=steps_per_epoch, disable=not ctx.main)
        for x, y, s in bar:
            skipped += s
            if step >= total_steps:
                break
            if not len(y):
                continue  # every image of the batch was unreadable
            x = x.to(ctx.device, non_blocking=True)
            if cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            y = y.to(ctx.device, non_blocking=True)
            with autocast():
                logits = logits_of(ddp(x))
                loss = F.cross_entropy(logits.float(), y, label_smoothing=args.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            seen += len(y)
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}", refresh=False)
        bar.close()
        train_seconds = time.time() - epoch_started
        skipped = int(ctx.sum(skipped))
        record: Dict[str, Any] = {"epoch": epoch + 1, "step": step, "train_loss": loss_sum / max(1, seen),
                                  "train_accuracy": correct / max(1, seen), "skipped": skipped,
                                  "train_seconds": train_seconds}
        if ctx.main:
            result = validate(model, val_loader, ctx.device, len(folder.labels))
            record.update({f"val_{k}": v for k, v in result.items()})
            improved = (result["accuracy"], -result["loss"]) > (best["accuracy"], -best["loss"])
            if improved:
                best = {"accuracy": result["accuracy"], "loss": result["loss"], "epoch": epoch + 1,
                        "result": result}
                _save({"state_dict": model.state_dict(), "config": config.to_dict(), "labels": folder.labels,
                       "epoch": epoch + 1, "val": result}, best_path)
            history.append(record)
            _save({"state_dict": model.state_dict(), "optimizer": optimizer.state_dict(),
                   "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "epoch": epoch + 1,
                   "step": step, "history": history, "best": best, "config": config.to_dict(),
                   "labels": folder.labels}, last_path)
            per_class = " ".join(f"{a:.2f}" for a in result["class_accuracy"])
            ctx.log(f"epoch {epoch + 1}/{epochs}: train loss {record['train_loss']:.4f} acc "
                    f"{record['train_accuracy']:.4f} | val acc {result['accuracy']:.4f} (per class {per_class}) "
                    f"ECE {result['ece']:.4f} | {train_seconds:.0f} s"
                    + (f" | {skipped} unreadable images skipped" if skipped else "")
                    + (f", {result['skipped']} in val" if result["skipped"] else ""))
        ctx.barrier()

    path = None
    if ctx.main:
        saved = torch.load(str(best_path), map_location="cpu")
        final = build_model(config)
        final.load_state_dict(saved["state_dict"])
        version = next_version(args.repository / args.name)
        calibration = None
        if not args.no_calibration:
            logits, labels, _ = validation_logits(final, val_loader, torch.device("cpu"))
            calibration = calibrate(logits, labels) if len(labels) else None
        path = export_model(final, config, args.repository, args.name, version, folder.labels,
                            dataset=folder.root.resolve().name or "folder",
                            metrics=_metrics(saved["val"], folder.labels, saved["epoch"], folder),
                            reference_batches=(x for x, _, _ in val_loader), reference_split="val",
                            calibration=calibration)
        ctx.log(f"best epoch {saved['epoch']}: val accuracy {saved['val']['accuracy']:.4f}, ECE "
                f"{saved['val']['ece']:.4f}"
                + (f" ({calibration['validation_ece_after']:.4f} at temperature {calibration['temperature']:.3f})"
                   if calibration else "")
                + f"; exported {path} (version {version}) in {time.time() - started:.0f} s")
    ctx.barrier()
    return path


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    for flag in ("epochs", "max_steps", "batch_size", "threads"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            print(f"fit: --{flag.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 2
    ctx = None
    try:
        ctx = Context(args.device)
        fit(args, ctx)
    except (FolderError, WeightsError, FitError, ExportError, FileExistsError) as e:
        print(f"fit: {e}", file=sys.stderr)
        return 2 if not isinstance(e, ExportError) else 1
    except ValueError as e:  # a preset or configuration that does not exist or fit
        print(f"fit: {e}", file=sys.stderr)
        return 2
    finally:
        if ctx is not None:
            ctx.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
