"""The drift reference: its bins, its validation, and exports that carry it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gcnserve_model import export, reference
from gcnserve_model.config import FASHION_MNIST_LABELS, ModelConfig
from gcnserve_model.idx import FASHION_MNIST_DIR
from gcnserve_model.metadata import read_metadata, validate_metadata


def batches(config: ModelConfig, n: int = 3, size: int = 40):
    generator = torch.Generator().manual_seed(5)
    return [torch.randn(size, config.channels, config.input_height, config.input_width, generator=generator)
            for _ in range(n)]


def test_signals_are_in_input_relative_coordinates() -> None:
    output = {"logits": torch.tensor([[2.0, 0.0]]), "points": torch.tensor([[[0.0, 0.0], [16.0, 16.0]]]),
              "point_scores": torch.tensor([[0.2, 0.6]]), "adjacency": torch.full((1, 2, 2), 0.5)}
    s = reference.signals_of(output, 32, 32)
    assert s["predicted_class"][0] == 0
    assert s["confidence"][0] == pytest.approx(torch.softmax(torch.tensor([2.0, 0.0]), 0)[0].item())
    assert s["attention"][0] == pytest.approx(0.4)
    assert (s["centroid_x"][0], s["centroid_y"][0]) == (0.25, 0.25)
    assert s["spread"][0] == pytest.approx(0.125 ** 0.5)
    assert s["border"][0] == 0.5 and s["adjacency"][0] == 0.5


def test_decile_edges_fall_between_the_values() -> None:
    values = np.repeat([0.1, 0.2, 0.3], [50, 30, 20])
    assert reference.decile_edges(values) == pytest.approx([0.15, 0.25])


def test_reference_of_a_model(tiny_model, tiny_config: ModelConfig) -> None:
    ref = reference.compute_reference(tiny_model, batches(tiny_config), 10, tiny_config.input_height,
                                      tiny_config.input_width, "random")
    assert ref["images"] == 120
    assert set(ref["signals"]) == set(reference.SCORE_SIGNALS) | set(reference.GRAPH_SIGNALS)
    for name, signal in ref["signals"].items():
        assert sum(signal["fractions"]) == pytest.approx(1)
    reference.validate_reference(ref, 10, has_graph=True)
    with pytest.raises(ValueError, match="needs a graph"):
        reference.validate_reference(ref, 10, has_graph=False)
    broken = {**ref, "signals": {**ref["signals"], "confidence": {"edges": [0.9, 0.5], "fractions": [0.2, 0.3, 0.5]}}}
    with pytest.raises(ValueError, match="ascend"):
        reference.validate_reference(broken, 10, has_graph=True)


def test_export_carries_the_reference(tmp_path: Path, tiny_model, tiny_config: ModelConfig) -> None:
    path = export.export_model(tiny_model, tiny_config, tmp_path, "m", 1, FASHION_MNIST_LABELS,
                               reference_batches=batches(tiny_config), reference_split="random")
    meta = read_metadata(path)
    assert meta["reference"]["split"] == "random" and meta["reference"]["images"] == 120
    validate_metadata(meta)


@pytest.mark.skipif(not FASHION_MNIST_DIR.exists(), reason="needs dataset-fashion-mnist")
def test_rewrite_keeps_the_weights(tmp_path: Path, tiny_model, tiny_config: ModelConfig) -> None:
    path = export.export_model(tiny_model, tiny_config, tmp_path, "m", 1, FASHION_MNIST_LABELS)
    before = torch.jit.load(str(path)).state_dict()
    meta = reference.rewrite_with_reference(path, limit=100)
    assert read_metadata(path)["reference"] == meta["reference"]
    assert meta["reference"]["images"] == 100
    after = torch.jit.load(str(path)).state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_bundled_exports_carry_a_reference() -> None:
    repository = Path(__file__).resolve().parents[2] / "model" / "repository"
    for path in sorted(repository.glob("*/[0-9]*/model.pt")):
        meta = read_metadata(path)
        # Fashion-MNIST's 5,000 validation images; a fit export (relations), its own validation images.
        assert meta["reference"]["images"] == 5000 if meta["dataset"] == "fashion-mnist" else \
            meta["reference"]["images"] >= 100, path
        assert set(meta["reference"]["signals"]) >= set(reference.SCORE_SIGNALS), path
