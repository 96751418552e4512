"""The export contract's forward(): keys, shapes, dtypes and graph invariants."""
from __future__ import annotations

import pytest
import torch

from gcnserve_model.config import PRESETS, ModelConfig, preset
from gcnserve_model.models import Model3, build_model

CONTRACT_KEYS = {"logits", "points", "point_scores", "point_levels", "adjacency"}


def check_contract(out: dict, config: ModelConfig, n: int) -> None:
    k = config.num_points
    assert set(out) == CONTRACT_KEYS
    assert out["logits"].shape == (n, config.num_classes) and out["logits"].dtype == torch.float32
    assert out["points"].shape == (n, k, 2) and out["points"].dtype == torch.float32
    assert out["point_scores"].shape == (n, k) and out["point_scores"].dtype == torch.float32
    assert out["point_levels"].shape == (n, k) and out["point_levels"].dtype == torch.int64
    assert out["adjacency"].shape == (n, k, k) and out["adjacency"].dtype == torch.float32

    assert torch.isfinite(out["logits"]).all()
    points = out["points"]
    assert (points >= 0).all()
    assert (points[..., 0] <= config.input_width).all() and (points[..., 1] <= config.input_height).all()
    # Distinct cells, so distinct points.
    for sample in points:
        assert len({tuple(p) for p in sample.tolist()}) == k
    scores = out["point_scores"]
    assert (scores >= 0).all() and (scores <= 1).all()
    assert (scores[:, :-1] >= scores[:, 1:]).all(), "points come best first"
    assert (out["point_levels"] == 0).all()
    adj = out["adjacency"]
    assert torch.isfinite(adj).all() and (adj >= 0).all()
    torch.testing.assert_close(adj, adj.transpose(1, 2))
    assert (adj.sum(-1) > 0).all()
    assert (adj.diagonal(dim1=1, dim2=2) > 0).all(), "self-loops from + I"


@pytest.mark.parametrize("n", [1, 3])
def test_tiny_model3_follows_the_contract(tiny_model: torch.nn.Module, tiny_config: ModelConfig, n: int) -> None:
    x = torch.randn(n, tiny_config.channels, tiny_config.input_height, tiny_config.input_width)
    with torch.no_grad():
        check_contract(tiny_model(x), tiny_config, n)


@pytest.mark.parametrize("n", [1, 3])
def test_scripted_model_equals_eager(tiny_model: torch.nn.Module, tiny_config: ModelConfig, n: int) -> None:
    scripted = torch.jit.script(tiny_model)
    x = torch.randn(n, tiny_config.channels, tiny_config.input_height, tiny_config.input_width)
    with torch.no_grad():
        eager, script = tiny_model(x), scripted(x)
    check_contract(script, tiny_config, n)
    for key in CONTRACT_KEYS:
        torch.testing.assert_close(script[key], eager[key], rtol=0, atol=1e-6)


def test_adjacency_is_the_normalized_inverse_distance_of_the_points(tiny_model: torch.nn.Module) -> None:
    with torch.no_grad():
        out = tiny_model(torch.randn(1, 1, 32, 32))
    points, adj = out["points"][0], out["adjacency"][0]
    raw = 1.0 / (1.0 + torch.cdist(points, points) / 8.0)  # tiny's stride is 8
    raw.fill_diagonal_(0)
    with_loops = raw + torch.eye(len(points))
    d = with_loops.sum(-1).rsqrt()
    torch.testing.assert_close(adj, d[:, None] * with_loops * d[None, :])


def test_training_gradients_reach_the_attention(tiny_config: ModelConfig) -> None:
    torch.manual_seed(0)
    model = build_model(tiny_config).train()
    out = model(torch.randn(2, 1, 32, 32))
    out["logits"].sum().backward()
    grad = model.attention.score.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_wrong_channel_count_is_a_clear_error(tiny_model: torch.nn.Module) -> None:
    scripted = torch.jit.script(tiny_model)
    with pytest.raises(Exception, match=r"expected input \[N, 1, H, W\]"):
        scripted(torch.randn(1, 3, 32, 32))


def test_presets_build_and_script() -> None:
    for name, config in PRESETS.items():
        model = build_model(config).eval()
        assert isinstance(model, Model3)
        torch.jit.script(model)
    assert PRESETS["paper"].feature_height == 28 and PRESETS["paper"].num_points == 120
    assert PRESETS["compact"].feature_height * PRESETS["compact"].feature_width >= PRESETS["compact"].num_points


def test_compact_preset_forward() -> None:
    config = preset("compact")
    model = build_model(config).eval()
    with torch.no_grad():
        check_contract(model(torch.randn(2, 1, 64, 64)), config, 2)


@pytest.mark.parametrize("changes, message", [
    (dict(num_points=17), "exceeds the 16 cells"),
    (dict(input_height=30), "multiple of the trunk stride 8"),
    (dict(color="rgb"), "needs 3 channels"),
    (dict(architecture="model9"), "architecture"),
    (dict(std=(0.0,)), "std must be positive"),
    (dict(blocks_per_stage=()), "blocks_per_stage"),
])
def test_config_validates(tiny_config: ModelConfig, changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tiny_config.replace(**changes)


def test_config_round_trips_through_a_dict(tiny_config: ModelConfig) -> None:
    assert ModelConfig.from_dict(tiny_config.to_dict()) == tiny_config
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")
