"""explain.py: points against the deciding objects, random points and
cells, the fixed prior, and the deletion test."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from gcnserve_model import explain
from gcnserve_model.config import preset
from gcnserve_model.export import export_model
from gcnserve_model.idx import FASHION_MNIST_DIR
from gcnserve_model.models import build_model
from gcnserve_model.relations import LABELS, write_set


def test_boxes_and_points_meet_at_the_original_scale() -> None:
    mask = explain.boxes_mask([[2, 3, 5, 6], [10, 0, 12, 1]], 16, 8)
    assert mask.shape == (8, 16) and mask.sum() == 9 + 2
    assert mask[3, 2] and mask[5, 4] and not mask[6, 4] and not mask[3, 5]
    objects = mask[None]
    # Input 32x16 is the 16x8 original twice over: (4.5, 6.5) -> pixel (2, 3).
    points = np.array([[[4.5, 6.5], [10.0, 12.0], [21.0, 1.0]]])
    assert explain.on_objects(points, objects, 32, 16).tolist() == [[True, False, True]]


def test_the_fixed_prior_is_the_cells_most_often_on_an_object() -> None:
    objects = np.zeros((4, 16, 16), dtype=bool)
    objects[:, 0:4, 12:16] = True  # cell (0, 3) of a 4x4 grid, in every image
    objects[:2, 12:16, 0:4] = True  # cell (3, 0), in half
    assert explain.fixed_prior(objects, 16, 16, 4, 2).tolist() == [3, 12]
    hits = explain.cells_on_objects(objects, 16, 16, 4)
    assert hits.shape == (4, 16) and hits[:, 3].all() and hits[:, 12].tolist() == [True, True, False, False]


def test_mask_cells_fills_the_cells_with_the_median() -> None:
    x = torch.zeros(2, 1, 8, 8)
    x[0, 0, :4, :4] = 5.0
    x[1] += 1.0
    flags = np.zeros((2, 4), dtype=bool)
    flags[0, 0] = flags[1, 3] = True
    out = explain.mask_cells(x, [(4, flags)])
    assert out[0, 0, :4, :4].eq(0).all() and out[0, 0, 4:, 4:].eq(0).all()  # median of image 0 is 0
    assert out[1].eq(1).all()
    assert x[0, 0, 0, 0] == 5.0  # a copy


class BrightestCell(nn.Module):
    """A model that looks at one place: the brightest 4x4 cell of a 16x16
    input, whose column says the class (left half 0, right half 1)."""

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        cells = torch.nn.functional.avg_pool2d(x[:, :1], 4).flatten(1)  # [N, 16]
        best = cells.argmax(1)
        col, row = best % 4, best // 4
        right = (col >= 2).float() * (cells.max(1).values > 0.5).float()
        logits = torch.stack([1 - right, right], 1) * 4
        points = torch.stack([(col.float() + 0.5) * 4, (row.float() + 0.5) * 4], 1)[:, None]
        return {"logits": logits, "points": points, "point_scores": torch.ones(len(x), 1),
                "point_levels": torch.zeros(len(x), 1, dtype=torch.long), "adjacency": torch.ones(len(x), 1, 1)}


def test_a_model_that_looks_at_the_object_beats_the_baselines_and_loses_it_when_deleted() -> None:
    rng = np.random.default_rng(0)
    n = 200
    labels = rng.integers(0, 2, n)
    x = torch.zeros(n, 1, 16, 16)
    objects = np.zeros((n, 16, 16), dtype=bool)
    for i, label in enumerate(labels):
        col, row = int(rng.integers(0, 2)) + 2 * int(label), int(rng.integers(0, 4))
        x[i, 0, row * 4:row * 4 + 4, col * 4:col * 4 + 4] = 1.0
        objects[i, row * 4:row * 4 + 4, col * 4:col * 4 + 4] = True
    loaded = explain.Loaded(BrightestCell(), {"height": 16, "width": 16}, ["left", "right"], "model3", [4])
    evidence = explain.Evidence("toy", x, labels, objects)
    result = explain.explain(loaded, evidence, objects, seed=1)
    shares, deletion = result["points_on_objects"], result["deletion"]
    assert result["accuracy"] == 1.0 and result["num_points"] == 1 and result["grid_positions"] == 16
    assert shares["model"] == 1.0 and shares["random_point"] == pytest.approx(1 / 16)
    assert shares["random_cells"] == pytest.approx(1 / 16) and shares["best"] == 1.0
    # The prior: the cell most often lit over the training masks (here the same images), about 1 in 8.
    assert 0 < shares["fixed_prior"] < 0.25
    # Deleting the one cell it looks at leaves nothing bright: every right image becomes "left".
    assert deletion["points_deleted"] == pytest.approx(1 - labels.mean())
    assert deletion["random_cells_deleted"] > 0.85
    assert deletion["cost_ratio"] > 3
    goals = explain.goals(result)
    assert goals == {"points_at_most_a_quarter_of_the_grid": True, "points_above_prior_by_10": True,
                     "deletion_costs_3x_random": True}


def test_model1_points_count_per_map() -> None:
    config = preset("tiny", "model1").replace(color="rgb", channels=3, mean=(0.5,) * 3, std=(0.25,) * 3,
                                              num_classes=4)
    torch.manual_seed(0)
    model = build_model(config).eval()
    loaded = explain.Loaded(model, explain.input_meta(config), list(LABELS), "model1", [2, 4, 8])
    n = 6
    objects = np.zeros((n, 64, 64), dtype=bool)
    objects[:, 10:30, 10:30] = True
    evidence = explain.Evidence("toy", torch.randn(n, 3, 32, 32), np.arange(n) % 4, objects)
    result = explain.explain(loaded, evidence, objects)
    assert [level["points"] for level in result["per_level"]] == [4, 4, 4]
    assert result["grid_positions"] == 16 * 16 + 8 * 8 + 4 * 4
    assert len(result["per_level"][0]["prior_cells"]) == 4


def test_cli_on_a_generated_set(tmp_path: Path, capsys) -> None:
    write_set(tmp_path / "train", 16, seed=0)
    write_set(tmp_path / "test", 8, seed=1)
    config = preset("tiny").replace(color="rgb", channels=3, mean=(0.3,) * 3, std=(0.2,) * 3, num_classes=4)
    torch.manual_seed(0)
    path = export_model(build_model(config), config, tmp_path / "repo", "relations", 1, list(LABELS),
                        dataset="relations")
    out = tmp_path / "explain.json"
    assert explain.main(["--model", str(path), "--relations", str(tmp_path / "test"), "--prior",
                         str(tmp_path / "train"), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["images"] == 8 and result["num_points"] == 8 and result["grid_positions"] == 16
    assert set(result["goals"]) == {"points_at_most_a_quarter_of_the_grid", "points_above_prior_by_10",
                                    "deletion_costs_3x_random"}
    assert not result["goals"]["points_at_most_a_quarter_of_the_grid"]  # 8 of a 4x4 grid's 16
    assert 0 < result["points_on_objects"]["random_point"] < 0.3
    assert json.loads(capsys.readouterr().out)["images"] == 8


@pytest.mark.skipif(not FASHION_MNIST_DIR.exists(), reason="needs dataset-fashion-mnist")
def test_cli_on_fashion_mnist(tmp_path: Path) -> None:
    config = preset("tiny")
    torch.manual_seed(0)
    path = export_model(build_model(config), config, tmp_path, "model3", 1, [str(i) for i in range(10)])
    out = tmp_path / "explain.json"
    assert explain.main(["--model", str(path), "--fashion-mnist", "test", "--limit", "40", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    shares = result["points_on_objects"]
    assert result["images"] == 40 and "goals" not in result
    assert 0.3 < shares["random_point"] < 0.6 and 0 < shares["fixed_prior"] <= shares["best"]


def test_deleting_the_best_points_only() -> None:
    loaded = explain.Loaded(TwoPoints(), {"height": 16, "width": 16}, ["a", "b"], "model3", [4])
    x = torch.rand(50, 1, 16, 16)
    objects = np.zeros((50, 16, 16), dtype=bool)
    objects[:, :4, :4] = True
    evidence = explain.Evidence("toy", x, np.zeros(50, dtype=np.int64), objects)
    everything = explain.explain(loaded, evidence, objects)
    best = explain.explain(loaded, evidence, objects, delete_top=1)
    assert everything["deletion"]["points"] == 2 and best["deletion"]["points"] == 1
    # The model answers "a" only while its best point's cell (0) is untouched and bright.
    assert best["deletion"]["points_deleted"] == 0.0
    assert everything["points_on_objects"] == best["points_on_objects"]


class TwoPoints(nn.Module):
    """Looks at cells 0 (best) and 5 of a 4x4 grid; says "a" while cell 0 is not flat."""

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        n = len(x)
        spread = x[:, 0, :4, :4].flatten(1).std(1)
        logits = torch.stack([spread, torch.full_like(spread, 0.01)], 1)
        points = torch.tensor([[2.0, 2.0], [6.0, 6.0]]).expand(n, 2, 2)
        return {"logits": logits, "points": points, "point_scores": torch.tensor([[0.9, 0.5]]).expand(n, 2),
                "point_levels": torch.zeros(n, 2, dtype=torch.long), "adjacency": torch.ones(n, 2, 2)}
