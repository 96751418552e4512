"""Exports a model as <repository>/<name>/<version>/model.pt.

The file is TorchScript (torch.jit.script, not trace) with the metadata
inside as the extra file gcnserve.json. Before the file appears in the
repository it is loaded back, its metadata parsed and its outputs compared
with the eager model's; a file that fails never lands. Writing goes through
a hidden temporary file or folder and a rename, so a server scanning the
repository never sees half a model.

    PYTHONPATH=model /usr/bin/python3 -m gcnserve_model.export --preset tiny --repository /tmp/repo
    PYTHONPATH=model /usr/bin/python3 -m gcnserve_model.export --arch model1 --preset tiny --repository /tmp/repo \
        --name model1
    PYTHONPATH=model /usr/bin/python3 -m gcnserve_model.export --checkpoint /tmp/train/best.pt \
        --repository model/repository --metrics-json '{"test_accuracy": 0.9}'
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from .calibration import Calibrated, calibrate, logits_and_labels
from .config import ARCHITECTURES, FASHION_MNIST_LABELS, PRESETS_BY_ARCH, ModelConfig, preset
from .metadata import METADATA_FILE, build_metadata, validate_metadata
from .models import build_model
from .reference import compute_reference, fashion_mnist_batches, fashion_mnist_labelled_batches

MODEL_FILE = "model.pt"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ExportError(RuntimeError):
    """The exported file does not behave like the model it came from."""


def script_model(model: nn.Module) -> torch.jit.ScriptModule:
    model.eval()  # BatchNorm uses running statistics in the served model
    return torch.jit.script(model)


def verify_export(path: Path, model: nn.Module, config: ModelConfig, batch_size: int = 2,
                  atol: float = 1e-5) -> Dict[str, Any]:
    """Loads `path` back and checks it against the eager `model`.

    Returns the parsed metadata; raises ExportError on any mismatch.
    """
    extra = {METADATA_FILE: ""}
    loaded = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    try:
        meta = json.loads(extra[METADATA_FILE])
        validate_metadata(meta)
    except ValueError as e:  # json.JSONDecodeError is a ValueError
        raise ExportError(f"{path}: bad {METADATA_FILE}: {e}") from e
    generator = torch.Generator().manual_seed(1234)
    x = torch.randn(batch_size, config.channels, config.input_height, config.input_width, generator=generator)
    model.eval()
    with torch.no_grad():
        expected = model(x)
        actual = loaded(x)
    if set(actual) != set(expected):
        raise ExportError(f"{path}: outputs {sorted(actual)} differ from the eager model's {sorted(expected)}")
    for key, want in expected.items():
        got = actual[key]
        if got.shape != want.shape or got.dtype != want.dtype:
            raise ExportError(f"{path}: {key} is {got.dtype}{list(got.shape)}, eager gives {want.dtype}{list(want.shape)}")
        if not torch.allclose(got.double(), want.double(), atol=atol, rtol=0.0):
            diff = (got.double() - want.double()).abs().max().item()
            raise ExportError(f"{path}: {key} differs from the eager model by up to {diff:g} (allowed {atol:g})")
    return meta


def export_model(model: nn.Module, config: ModelConfig, repository: Path, name: str, version: int,
                 labels: Sequence[str], dataset: str = "fashion-mnist",
                 metrics: Optional[Mapping[str, float]] = None, overwrite: bool = False,
                 reference_batches: Optional[Iterable[torch.Tensor]] = None,
                 reference_split: str = "val", calibration: Optional[Mapping[str, Any]] = None) -> Path:
    """Scripts `model`, verifies it and writes it into `repository`.

    With `reference_batches` (input batches of the validation split) the
    metadata carries the drift reference of the model's answers on them
    (reference.py). With `calibration` (calibration.calibrate's) the
    metadata carries it, and the reference's probabilities are the
    calibrated ones the server will serve. Returns the path of the written
    model.pt. Refuses to replace an existing version unless `overwrite`.
    """
    if not _NAME.match(name):
        raise ValueError(f"model name {name!r} must be letters, digits, '.', '_' or '-', not starting with '.', '_' or '-'")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be a positive integer, got {version!r}")
    if len(labels) != config.num_classes:
        raise ValueError(f"{len(labels)} labels for {config.num_classes} classes")
    reference = None
    if reference_batches is not None:
        answering = model if calibration is None else Calibrated(model, calibration["temperature"])
        reference = compute_reference(answering, reference_batches, config.num_classes, config.input_height,
                                      config.input_width, reference_split)
    meta = build_metadata(config, name, labels, dataset, metrics, reference, calibration)
    model_dir = Path(repository) / name
    version_dir = model_dir / str(version)
    target = version_dir / MODEL_FILE
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite (--overwrite) to replace it")
    model_dir.mkdir(parents=True, exist_ok=True)

    scripted = script_model(model)
    extra = {METADATA_FILE: json.dumps(meta, indent=2)}
    # Hidden names: the server only reads numeric version folders and model.pt.
    if version_dir.exists():
        fd, tmp_name = tempfile.mkstemp(prefix=f".{MODEL_FILE}.", suffix=".tmp", dir=version_dir)
        os.close(fd)
        tmp_file = Path(tmp_name)
        try:
            torch.jit.save(scripted, str(tmp_file), _extra_files=extra)
            verify_export(tmp_file, model, config)
            os.chmod(tmp_file, 0o644)  # mkstemp makes it 0600
            os.replace(tmp_file, target)
        finally:
            tmp_file.unlink(missing_ok=True)
    else:
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{version}.", suffix=".tmp", dir=model_dir))
        try:
            torch.jit.save(scripted, str(tmp_dir / MODEL_FILE), _extra_files=extra)
            verify_export(tmp_dir / MODEL_FILE, model, config)
            os.chmod(tmp_dir, 0o755)  # mkdtemp makes it 0700
            os.rename(tmp_dir, version_dir)
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    return target


def read_checkpoint(path: Path) -> Tuple[Dict[str, Any], Optional[ModelConfig]]:
    """(state_dict, config) of a checkpoint: a bare state_dict (config None),
    or a dict holding one under "state_dict" and, from train.py, its
    "config"."""
    state = torch.load(str(path), map_location="cpu")
    config = None
    if isinstance(state, dict) and "state_dict" in state:
        if "config" in state:
            config = ModelConfig.from_dict(state["config"])
        state = state["state_dict"]
    return state, config


def load_checkpoint(model: nn.Module, path: Path) -> None:
    """Loads a state_dict, or a dict holding one under "state_dict"."""
    model.load_state_dict(read_checkpoint(path)[0])


def resolve_config(arch: str, preset_name: Optional[str], checkpoint_config: Optional[ModelConfig],
                   num_classes: int, nms: Optional[int] = None, dedup: Optional[bool] = None) -> ModelConfig:
    """The configuration to export: the checkpoint's when it carries one
    (a --preset given as well must agree with it), else --arch/--preset."""
    if checkpoint_config is not None:
        config = checkpoint_config
        if preset_name is not None:
            named = preset(preset_name, arch).replace(num_classes=config.num_classes, nms=config.nms,
                                                      dedup=config.dedup)
            if named != config:
                raise ValueError(f"the checkpoint was not trained as {arch}/{preset_name}; "
                                 f"leave --preset out to use its own configuration")
    elif preset_name is None:
        raise ValueError("--preset is needed unless the checkpoint carries its configuration (train.py's do)")
    else:
        config = preset(preset_name, arch).replace(num_classes=num_classes)
    changes: Dict[str, Any] = {}
    if nms is not None:
        changes["nms"] = nms
    if dedup:
        changes["dedup"] = True
    return config.replace(**changes) if changes else config


def read_labels(path: Path) -> list:
    labels = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not labels:
        raise ValueError(f"{path} lists no labels")
    return labels


def read_metrics(value: str) -> Dict[str, float]:
    """A JSON object given inline ('{"test_accuracy": 0.9}') or as a file path."""
    text = value if value.lstrip().startswith("{") else Path(value).read_text(encoding="utf-8")
    metrics = json.loads(text)
    if not isinstance(metrics, dict):
        raise ValueError("--metrics-json must hold a JSON object")
    for key, number in metrics.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            raise ValueError(f"metric {key!r} must be a finite number, got {number!r}")
    return metrics


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Export a gcnserve model as TorchScript with its metadata.")
    parser.add_argument("--arch", default="model3", choices=ARCHITECTURES, help="architecture (default: model3)")
    parser.add_argument("--preset", choices=sorted({n for presets in PRESETS_BY_ARCH.values() for n in presets}),
                        help="model configuration of --arch; optional with a checkpoint from train.py, "
                             "which carries its own")
    parser.add_argument("--nms", type=int, help="override: non-maximum suppression window (0 = off)")
    parser.add_argument("--dedup", action="store_true", help="override: model1's de-duplication across maps")
    parser.add_argument("--repository", required=True, type=Path, help="model repository folder")
    parser.add_argument("--name", help="model name, a folder of the repository (default: the architecture)")
    parser.add_argument("--version", default=1, type=int, help="positive version number (default: 1)")
    parser.add_argument("--checkpoint", type=Path, help="state_dict to load; without it, random weights from --seed")
    parser.add_argument("--seed", default=0, type=int, help="seed for random initialisation (default: 0)")
    parser.add_argument("--labels", type=Path, help="file with one label per line; sets the number of classes "
                        "(default: the ten Fashion-MNIST labels)")
    parser.add_argument("--dataset", default="fashion-mnist", help="dataset name recorded in the metadata")
    parser.add_argument("--metrics-json", help="metrics to record: a JSON object inline or a file holding one")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing version")
    parser.add_argument("--reference", choices=("val", "none"),
                        help="drift reference of the answers on Fashion-MNIST's validation split, or none "
                             "(default: val for a --checkpoint with the Fashion-MNIST labels; none otherwise, "
                             "as random weights' answers are no reference for a trained model's traffic)")
    parser.add_argument("--calibration", choices=("val", "none"),
                        help="fit a temperature on Fashion-MNIST's validation split (calibration.py) and record it "
                             "(default: val for a --checkpoint with the Fashion-MNIST labels; none otherwise, as "
                             "random weights have nothing to calibrate)")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        labels = read_labels(args.labels) if args.labels else list(FASHION_MNIST_LABELS)
        state, checkpoint_config = read_checkpoint(args.checkpoint) if args.checkpoint else (None, None)
        config = resolve_config(args.arch, args.preset, checkpoint_config, len(labels), args.nms, args.dedup)
        metrics = read_metrics(args.metrics_json) if args.metrics_json else {}
        torch.manual_seed(args.seed)
        model = build_model(config)
        if state is not None:
            model.load_state_dict(state)
        trained_on_fashion_mnist = state is not None and not args.labels
        reference = args.reference or ("val" if trained_on_fashion_mnist else "none")
        meta_input = build_metadata(config, "m", labels, args.dataset)["input"]
        batches = fashion_mnist_batches(meta_input) if reference == "val" else None
        calibration = None
        if (args.calibration or ("val" if trained_on_fashion_mnist else "none")) == "val":
            if args.labels:
                raise ValueError("--calibration val fits on Fashion-MNIST's validation split: not with --labels")
            calibration = calibrate(*logits_and_labels(model, fashion_mnist_labelled_batches(meta_input)))
        path = export_model(model, config, args.repository, args.name or config.architecture, args.version, labels,
                            dataset=args.dataset, metrics=metrics, overwrite=args.overwrite,
                            reference_batches=batches, reference_split="fashion-mnist val",
                            calibration=calibration)
    except (ValueError, OSError, ExportError, RuntimeError) as e:
        print(f"export failed: {e}", file=sys.stderr)
        return 1
    if calibration is not None:
        print(f"calibration: temperature {calibration['temperature']:.4f}, validation ECE "
              f"{calibration['validation_ece_before']:.4f} -> {calibration['validation_ece_after']:.4f}",
              file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
