"""Training and preset figures for model/RESULTS.md ("Training on a folder of
photos"), measured on this machine; nothing here is a test.

    PYTHONPATH=model /usr/bin/python3 bench/fit_figures.py loader DATA [--steps 30] [--threads 1] [--workers 1]
    PYTHONPATH=model /usr/bin/python3 bench/fit_figures.py presets [--threads 1]

loader: fit.py's default model (Model3 compact, rgb 64x64) and its training
  step, three ways, alternating: the model alone on batches already in
  memory (forward, backward, AdamW step); the DataLoader alone (fit.py's
  loader: PhotoDataset with its augmentation, decoding in --workers
  processes that live across epochs); and the two together, as fit.py
  trains, epoch after epoch. --steps steps of each per round. Prints images/s of each and the
  ratio together / model alone (the share of the model's rate the loader
  lets through; fit.py's goal: at least 0.9).
presets: per architecture and preset, parameters, multiply-adds of one image
  (convolutions and linear layers, counted by hooks; the graph's K x K
  products are left out) and the forward's median ms at batch 1 and 16
  (eval, no_grad, --threads torch threads).
Prints one JSON object per line.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DistributedSampler

from gcnserve_model.config import PRESETS_BY_ARCH, preset
from gcnserve_model.data import input_meta
from gcnserve_model.folder import Augment, EpochSampler, PhotoDataset, loader, scan
from gcnserve_model.models import build_model


def fit_default_config(classes: int):
    return preset("compact").replace(color="rgb", channels=3, mean=(0.5,) * 3, std=(0.25,) * 3,
                                     num_classes=classes)


def loader_figures(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    folder = scan(args.data)
    config = fit_default_config(len(folder.labels))
    dataset = PhotoDataset(folder.train, input_meta(config), Augment(), seed=0)
    model = build_model(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step(x, y):
        loss = F.cross_entropy(model(x)["logits"], y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    sampler = EpochSampler(DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=0))
    batches = loader(dataset, args.batch_size, args.workers, sampler, drop_last=True)  # fit.py's
    epoch = [0]

    def stream():
        """Batches of fit.py's loader, epoch after epoch, as fit.py draws them."""
        while True:
            sampler.set_epoch(epoch[0])
            epoch[0] += 1
            yield from batches

    source = stream()
    x, y, _ = next(source)
    for _ in range(3):
        step(x, y)  # warm-up
    rounds = {"model": [], "loader": [], "together": []}
    for _ in range(args.rounds):
        started = time.perf_counter()
        for _ in range(args.steps):
            step(x, y)
        rounds["model"].append(args.steps * args.batch_size / (time.perf_counter() - started))
        started = time.perf_counter()
        n = sum(len(next(source)[1]) for _ in range(args.steps))
        rounds["loader"].append(n / (time.perf_counter() - started))
        started, n = time.perf_counter(), 0
        for _ in range(args.steps):
            xb, yb, _ = next(source)
            step(xb, yb)
            n += len(yb)
        rounds["together"].append(n / (time.perf_counter() - started))
    medians = {k: statistics.median(v) for k, v in rounds.items()}
    print(json.dumps({"figure": "training images/s", "threads": args.threads, "workers": args.workers,
                      "batch_size": args.batch_size, "steps": args.steps, "rounds": rounds,
                      "median": medians, "together_over_model": medians["together"] / medians["model"]}))


def multiply_adds(model: nn.Module, x: torch.Tensor) -> int:
    total = [0]

    def conv(m: nn.Conv2d, _, out):
        total[0] += out.numel() // out.size(0) * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear(m: nn.Linear, _, out):
        total[0] += out.numel() // out.size(0) * m.in_features

    hooks = [m.register_forward_hook(conv if isinstance(m, nn.Conv2d) else linear)
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x[:1])
    for h in hooks:
        h.remove()
    return total[0]


def preset_figures(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    for arch, presets in PRESETS_BY_ARCH.items():
        for name, config in presets.items():
            if name == "paper":
                continue  # an alias (config.PAPER_PRESET)
            model = build_model(config).eval()
            row = {"figure": "preset", "arch": arch, "preset": name, "trunk": config.trunk,
                   "input": f"{config.input_width}x{config.input_height} {config.color}",
                   "points": config.num_points,
                   "parameters": sum(p.numel() for p in model.parameters())}
            x = torch.randn(16, config.channels, config.input_height, config.input_width)
            row["multiply_adds"] = multiply_adds(model, x)
            for batch in (1, 16):
                times = []
                with torch.no_grad():
                    for i in range(args.repeats + 1):
                        started = time.perf_counter()
                        model(x[:batch])
                        if i:
                            times.append((time.perf_counter() - started) * 1000)
                row[f"forward_ms_batch{batch}"] = round(statistics.median(times), 2)
            print(json.dumps(row), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    lo = sub.add_parser("loader")
    lo.add_argument("data", type=Path)
    lo.add_argument("--steps", type=int, default=30)
    lo.add_argument("--rounds", type=int, default=3)
    lo.add_argument("--batch-size", type=int, default=64)
    lo.add_argument("--threads", type=int, default=1)
    lo.add_argument("--workers", type=int, default=1)
    pr = sub.add_parser("presets")
    pr.add_argument("--threads", type=int, default=1)
    pr.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    loader_figures(args) if args.what == "loader" else preset_figures(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
