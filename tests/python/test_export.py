"""Export round trip: the file, its metadata, and its outputs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

import pytest
import torch

from gcnserve_model import export
from gcnserve_model.config import FASHION_MNIST_LABELS, ModelConfig
from gcnserve_model.metadata import INPUT_KEYS, METADATA_FILE, TOP_LEVEL_KEYS, read_metadata, validate_metadata


def load(path: Path):
    extra = {METADATA_FILE: ""}
    module = torch.jit.load(str(path), _extra_files=extra)
    return module, json.loads(extra[METADATA_FILE])


def test_round_trip(tmp_path: Path, tiny_model: torch.nn.Module, tiny_config: ModelConfig) -> None:
    path = export.export_model(tiny_model, tiny_config, tmp_path, "model3", 1, FASHION_MNIST_LABELS,
                               metrics={"test_accuracy": 0.5})
    assert path == tmp_path / "model3" / "1" / "model.pt"
    assert sorted(p.name for p in (tmp_path / "model3").iterdir()) == ["1"], "no temporary left behind"
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]

    module, meta = load(path)
    assert set(meta) == set(TOP_LEVEL_KEYS)
    assert set(meta["input"]) == set(INPUT_KEYS)
    assert meta == {
        "name": "model3",
        "architecture": "model3",
        "input": {"height": 32, "width": 32, "channels": 1, "color": "gray",
                  "mean": list(tiny_config.mean), "std": list(tiny_config.std), "resize": "area_or_linear"},
        "labels": list(FASHION_MNIST_LABELS),
        "num_points": 8,
        "adjacency": "euclidean",
        "dataset": "fashion-mnist",
        "metrics": {"test_accuracy": 0.5},
    }
    assert read_metadata(path) == meta

    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        got, want = module(x), tiny_model(x)
    assert set(got) == set(want)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=1e-6)


def test_existing_version_needs_overwrite(tmp_path: Path, tiny_model, tiny_config) -> None:
    export.export_model(tiny_model, tiny_config, tmp_path, "m", 2, FASHION_MNIST_LABELS)
    with pytest.raises(FileExistsError, match="overwrite"):
        export.export_model(tiny_model, tiny_config, tmp_path, "m", 2, FASHION_MNIST_LABELS)
    path = export.export_model(tiny_model, tiny_config, tmp_path, "m", 2, FASHION_MNIST_LABELS,
                               metrics={"test_accuracy": 0.75}, overwrite=True)
    assert read_metadata(path)["metrics"] == {"test_accuracy": 0.75}
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("name, version, message", [
    (".hidden", 1, "model name"), ("a/b", 1, "model name"), ("m", 0, "positive"),
])
def test_bad_names_and_versions(tmp_path: Path, tiny_model, tiny_config, name, version, message) -> None:
    with pytest.raises(ValueError, match=message):
        export.export_model(tiny_model, tiny_config, tmp_path, name, version, FASHION_MNIST_LABELS)


def test_a_model_that_differs_from_its_file_never_lands(tmp_path: Path, tiny_config) -> None:
    class Drifting(torch.nn.Module):
        """Scripts fine, but the scripted outputs differ from the eager ones."""
        def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
            logits = x.flatten(1)[:, :10]
            if torch.jit.is_scripting():
                logits = logits + 1.0
            return {"logits": logits}

    with pytest.raises(export.ExportError, match="logits differs"):
        export.export_model(Drifting(), tiny_config, tmp_path, "m", 1, FASHION_MNIST_LABELS)
    assert not (tmp_path / "m" / "1").exists()
    assert list((tmp_path / "m").iterdir()) == []


def test_cli(tmp_path: Path, capsys) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\n")
    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"test_accuracy": 0.9, "epochs": 3}')
    repo = tmp_path / "repo"
    rc = export.main(["--preset", "tiny", "--repository", str(repo), "--name", "pets", "--version", "7",
                      "--labels", str(labels), "--metrics-json", str(metrics), "--seed", "3"])
    assert rc == 0
    path = repo / "pets" / "7" / "model.pt"
    assert capsys.readouterr().out.strip() == str(path)
    module, meta = load(path)
    assert meta["labels"] == ["cat", "dog"] and meta["metrics"] == {"test_accuracy": 0.9, "epochs": 3}
    assert module(torch.zeros(1, 1, 32, 32))["logits"].shape == (1, 2)

    assert export.main(["--preset", "tiny", "--repository", str(repo), "--name", "pets", "--version", "7"]) == 1
    assert "exists" in capsys.readouterr().err


def test_cli_random_weights_default_to_no_reference_nor_calibration(tmp_path: Path) -> None:
    # Random weights' answers are no reference for traffic and have nothing
    # to calibrate; each is asked for by name.
    assert export.main(["--preset", "tiny", "--repository", str(tmp_path)]) == 0
    _, meta = load(tmp_path / "model3" / "1" / "model.pt")
    assert "reference" not in meta and "calibration" not in meta
    assert export.main(["--preset", "tiny", "--repository", str(tmp_path), "--version", "2", "--reference", "val"]) == 0
    _, meta = load(tmp_path / "model3" / "2" / "model.pt")
    assert meta["reference"]["images"] == 5000 and "calibration" not in meta


def test_offline_batches_hold_the_same_pixels_at_any_input_size() -> None:
    from gcnserve_model.reference import offline_batch_size
    assert offline_batch_size({"height": 64, "width": 64}) == 250
    assert offline_batch_size({"height": 28, "width": 28}) > 250
    assert offline_batch_size({"height": 224, "width": 224}) == 20
    assert offline_batch_size({"height": 4096, "width": 4096}) == 1


def test_cli_loads_a_checkpoint(tmp_path: Path, tiny_config) -> None:
    torch.manual_seed(42)
    from gcnserve_model.models import build_model
    trained = build_model(tiny_config).eval()
    torch.save({"state_dict": trained.state_dict()}, tmp_path / "ckpt.pt")
    assert export.main(["--preset", "tiny", "--repository", str(tmp_path), "--checkpoint", str(tmp_path / "ckpt.pt"),
                        "--metrics-json", '{"test_accuracy": 0.91}']) == 0
    module, meta = load(tmp_path / "model3" / "1" / "model.pt")
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(module(x)["logits"], trained(x)["logits"], rtol=0, atol=1e-6)
    assert meta["metrics"] == {"test_accuracy": 0.91}


@pytest.mark.parametrize("mutate, message", [
    (lambda m: m.pop("labels"), "lacks"),
    (lambda m: m["input"].update(resize="nearest"), "resize"),
    (lambda m: m["input"].update(mean=[0.1, 0.2]), "mean"),
    (lambda m: m.update(metrics={"acc": "high"}), "metrics"),
    (lambda m: m.update(adjacency="knn"), "adjacency"),
])
def test_validate_metadata_names_the_problem(tmp_path: Path, tiny_model, tiny_config, mutate, message) -> None:
    path = export.export_model(tiny_model, tiny_config, tmp_path, "m", 1, FASHION_MNIST_LABELS)
    meta = read_metadata(path)
    mutate(meta)
    with pytest.raises(ValueError, match=message):
        validate_metadata(meta)
