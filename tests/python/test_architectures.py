"""Contract tests for every architecture (model1, model2, model3, resnet) on
its tiny preset: shapes, levels, graph invariants, the NMS and de-duplication
options, scripting and the export round trip."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gcnserve_model import export
from gcnserve_model.config import ARCHITECTURES, FASHION_MNIST_LABELS, PRESETS_BY_ARCH, ModelConfig, preset
from gcnserve_model.graph import cells_covered, non_maxima, normalize_adjacency, similarity_adjacency, top_k_nodes
from gcnserve_model.metadata import build_metadata, read_metadata, validate_metadata
from gcnserve_model.models import Model1, Model2, Model3, ResNetBaseline, build_model

GRAPH_KEYS = {"logits", "points", "point_scores", "point_levels", "adjacency"}
GRAPH_ARCHS = ("model1", "model2", "model3")


def make(arch: str, name: str = "tiny", **changes) -> tuple:
    config = preset(name, arch).replace(**changes)
    torch.manual_seed(0)
    return build_model(config).eval(), config


def forward(model: torch.nn.Module, config: ModelConfig, n: int = 3, seed: int = 0) -> dict:
    x = torch.randn(n, config.channels, config.input_height, config.input_width,
                    generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return model(x)


def check_graph(out: dict, config: ModelConfig, n: int) -> None:
    k = config.num_points
    assert set(out) == GRAPH_KEYS
    assert out["logits"].shape == (n, config.num_classes) and torch.isfinite(out["logits"]).all()
    assert out["points"].shape == (n, k, 2) and out["points"].dtype == torch.float32
    assert out["point_scores"].shape == (n, k) and out["point_scores"].dtype == torch.float32
    assert out["point_levels"].shape == (n, k) and out["point_levels"].dtype == torch.int64
    assert out["adjacency"].shape == (n, k, k) and out["adjacency"].dtype == torch.float32
    scores = out["point_scores"]
    assert (scores >= 0).all() and (scores <= 1).all()
    points = out["points"]
    assert (points > 0).all()
    assert (points[..., 0] < config.input_width).all() and (points[..., 1] < config.input_height).all()
    adj = out["adjacency"]
    assert torch.isfinite(adj).all() and (adj >= 0).all()
    torch.testing.assert_close(adj, adj.transpose(1, 2))
    assert (adj.sum(-1) > 0).all(), "every node has a positive degree"
    assert (adj.diagonal(dim1=1, dim2=2) > 0).all(), "self-loops from + I"
    # Points of one level are distinct cells; levels differ in cell size.
    for sample_points, sample_levels in zip(points, out["point_levels"]):
        pairs = {(tuple(p), int(l)) for p, l in zip(sample_points.tolist(), sample_levels.tolist())}
        assert len(pairs) == k


@pytest.mark.parametrize("arch", GRAPH_ARCHS)
@pytest.mark.parametrize("n", [1, 3])
def test_graph_models_follow_the_contract(arch: str, n: int) -> None:
    model, config = make(arch)
    out = forward(model, config, n)
    check_graph(out, config, n)
    scores = out["point_scores"]
    assert (scores[:, :-1] >= scores[:, 1:]).all(), "points come best first"


def test_single_map_models_have_level_zero_and_cell_centres() -> None:
    for arch in ("model2", "model3"):
        model, config = make(arch)
        out = forward(model, config)
        assert (out["point_levels"] == 0).all()
        cell = config.stride
        offsets = torch.remainder(out["points"], cell)
        torch.testing.assert_close(offsets, torch.full_like(offsets, cell / 2))


def test_model1_takes_a_third_of_its_points_from_each_map() -> None:
    model, config = make("model1")
    assert isinstance(model, Model1)
    assert [s for s, _, _ in config.feature_maps] == [2, 4, 8]
    out = forward(model, config)
    per_map = config.num_points // 3
    for levels, points in zip(out["point_levels"], out["points"]):
        counts = torch.bincount(levels, minlength=3)
        assert counts.tolist() == [per_map] * 3
        for level, stride in enumerate((2, 4, 8)):
            at_level = points[levels == level]
            offsets = torch.remainder(at_level, stride)
            torch.testing.assert_close(offsets, torch.full_like(offsets, stride / 2))


def test_similarity_models_adjacency_is_bounded() -> None:
    # Cosine through a ReLU is in [0, 1]; normalised with self-loops, so is every entry.
    for arch in ("model1", "model2"):
        model, config = make(arch)
        adj = forward(model, config)["adjacency"]
        assert (adj <= 1).all()


def test_similarity_adjacency_stays_finite_for_huge_and_negative_features() -> None:
    nodes = torch.tensor([[[1e30, -1e30, 0.0], [-1e30, 1e30, 0.0], [0.0, 0.0, 0.0], [3.0, -2.0, 1.0]]])
    adj = normalize_adjacency(similarity_adjacency(nodes))
    assert torch.isfinite(adj).all() and (adj >= 0).all()
    torch.testing.assert_close(adj, adj.transpose(1, 2))
    assert adj[0, 2, 2] == 1.0, "a zero node links only to itself"


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_scripted_equals_eager(arch: str) -> None:
    model, config = make(arch)
    scripted = torch.jit.script(model)
    x = torch.randn(2, config.channels, config.input_height, config.input_width)
    with torch.no_grad():
        eager, script = model(x), scripted(x)
    assert set(script) == set(eager)
    for key in eager:
        torch.testing.assert_close(script[key], eager[key], rtol=0, atol=1e-6)


def test_resnet_baseline_returns_logits_only() -> None:
    model, config = make("resnet")
    assert isinstance(model, ResNetBaseline)
    out = forward(model, config, 2)
    assert set(out) == {"logits"} and out["logits"].shape == (2, 10)
    assert config.num_points == 0 and not config.has_graph and config.feature_maps == ()
    with pytest.raises(ValueError, match="num_points must be 0"):
        config.replace(num_points=4)


@pytest.mark.parametrize("arch, attention", [("model1", "project"), ("model2", "attention"), ("model3", "attention")])
def test_training_gradients_reach_the_attention(arch: str, attention: str) -> None:
    config = preset("tiny", arch)
    torch.manual_seed(0)
    model = build_model(config).train()
    model(torch.randn(2, config.channels, config.input_height, config.input_width))["logits"].sum().backward()
    grads = [p.grad for p in getattr(model, attention).parameters()]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)
    if arch == "model1":  # g comes from the fully connected layers
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.global_fc.parameters())


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_all_presets_build_and_script(arch: str) -> None:
    for name, config in PRESETS_BY_ARCH[arch].items():
        assert config.architecture == arch
        model = build_model(config).eval()
        torch.jit.script(model)
    assert {"tiny", "compact", "paper", "tiny-imagenet"} <= set(PRESETS_BY_ARCH[arch])


@pytest.mark.parametrize("arch", ("model1", "model2", "resnet"))
def test_compact_presets_forward(arch: str) -> None:
    model, config = make(arch, "compact")
    out = forward(model, config, 2)
    if config.has_graph:
        check_graph(out, config, 2)
    else:
        assert set(out) == {"logits"}


@pytest.mark.parametrize("changes, message", [
    (dict(architecture="model1", blocks_per_stage=(1, 1, 1)), "at least 4 stages"),
    (dict(architecture="model1", blocks_per_stage=(1, 1, 1, 1), num_points=10), "split evenly"),
    (dict(nms=2), "odd window"),
    (dict(dedup=True), "model1 option"),
    (dict(attention_dim=-1), "attention_dim"),
])
def test_config_validates_the_new_fields(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        preset("tiny").replace(**changes)


def test_model1_map_must_hold_its_points() -> None:
    # 32x32 input: the stride-8 map has 16 cells, so 17 per map cannot fit.
    with pytest.raises(ValueError, match="exceeds the 16 cells"):
        preset("tiny", "model1").replace(num_points=51)


# --- NMS and de-duplication -------------------------------------------------

def test_non_maxima_marks_cells_below_their_neighbourhood_maximum() -> None:
    scores = torch.tensor([[0.1, 0.9, 0.2, 0.1,
                            0.3, 0.8, 0.1, 0.7,
                            0.1, 0.2, 0.1, 0.1,
                            0.6, 0.1, 0.1, 0.5]])
    demoted = non_maxima(scores, 4, 4, 3)
    kept = (~demoted[0]).nonzero().flatten().tolist()
    assert kept == [1, 7, 12, 15], "local maxima of 3x3 windows"
    _, node_scores, positions = top_k_nodes(torch.ones(1, 2, 4, 4), scores, 5, 4, 4, demoted)
    # The four maxima first, best first, then the best suppressed cell (0.8).
    torch.testing.assert_close(node_scores, torch.tensor([[0.9, 0.7, 0.6, 0.5, 0.8]]))


@pytest.mark.parametrize("arch", GRAPH_ARCHS)
def test_nms_keeps_the_contract(arch: str) -> None:
    model, config = make(arch, nms=3)
    check_graph(forward(model, config), config, 3)


def test_cells_covered_finds_finer_cells_inside_taken_coarse_cells() -> None:
    taken = torch.tensor([[[12.0, 4.0]]])  # the stride-8 cell at column 1, row 0 (x 8..16, y 0..8)
    covered = cells_covered(taken, 8.0, 4, 4, 4.0).view(4, 4)  # a 4x4 map of stride 4 (16x16 input)
    expected = torch.zeros(4, 4, dtype=torch.bool)
    expected[0:2, 2:4] = True
    assert torch.equal(covered, expected)


def test_model1_dedup_takes_no_cell_inside_a_coarser_taken_cell() -> None:
    model, config = make("model1", dedup=True, nms=3)
    out = forward(model, config, n=4, seed=3)
    check_graph(out, config, 4)
    strides = {0: 2.0, 1: 4.0, 2: 8.0}
    for points, levels in zip(out["points"], out["point_levels"]):
        for i in range(len(points)):
            for j in range(len(points)):
                li, lj = int(levels[i]), int(levels[j])
                if li < lj:  # i finer than j: i's centre must lie outside j's cell
                    cell = strides[lj]
                    same = torch.equal(torch.floor(points[i] / cell), torch.floor(points[j] / cell))
                    assert not same, f"point {points[i].tolist()} (level {li}) inside {points[j].tolist()} (level {lj})"


def test_model1_without_dedup_can_repeat_a_place() -> None:
    # Documented behaviour, not a requirement: with dedup off, some finer
    # point usually lies inside a taken coarser cell. Check the option matters.
    plain = forward(make("model1")[0], preset("tiny", "model1"), n=4, seed=3)
    deduped = forward(make("model1", dedup=True)[0], preset("tiny", "model1"), n=4, seed=3)
    assert not torch.equal(plain["points"], deduped["points"])


# --- export -------------------------------------------------------------------

@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_export_round_trip(tmp_path: Path, arch: str) -> None:
    model, config = make(arch)
    path = export.export_model(model, config, tmp_path, arch, 1, FASHION_MNIST_LABELS,
                               metrics={"test_accuracy": 0.5})
    meta = read_metadata(path)
    assert meta["architecture"] == arch and meta["name"] == arch
    assert meta["num_points"] == config.num_points
    if arch == "resnet":
        assert meta["num_points"] == 0 and "adjacency" not in meta
    else:
        assert meta["adjacency"] == ("euclidean" if arch == "model3" else "similarity")
    loaded = torch.jit.load(str(path))
    x = torch.randn(2, config.channels, config.input_height, config.input_width)
    with torch.no_grad():
        got, want = loaded(x), model(x)
    assert set(got) == set(want)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=1e-6)


def test_resnet_metadata_rules() -> None:
    meta = build_metadata(preset("tiny", "resnet"), "r", list(FASHION_MNIST_LABELS), "fashion-mnist")
    with pytest.raises(ValueError, match="no adjacency"):
        validate_metadata({**meta, "adjacency": "euclidean"})
    with pytest.raises(ValueError, match="num_points must be 0"):
        validate_metadata({**meta, "num_points": 3})
    with pytest.raises(ValueError, match="lacks"):
        validate_metadata({k: v for k, v in build_metadata(
            preset("tiny", "model2"), "m", list(FASHION_MNIST_LABELS), "x").items() if k != "adjacency"})


@pytest.mark.parametrize("arch", ("model1", "resnet"))
def test_cli_exports_each_architecture(tmp_path: Path, arch: str) -> None:
    assert export.main(["--arch", arch, "--preset", "tiny", "--repository", str(tmp_path)]) == 0
    meta = read_metadata(tmp_path / arch / "1" / "model.pt")
    assert meta["architecture"] == arch


def test_cli_takes_the_configuration_from_a_training_checkpoint(tmp_path: Path) -> None:
    model, config = make("model1", dedup=True)
    torch.save({"state_dict": model.state_dict(), "config": config.to_dict()}, tmp_path / "best.pt")
    repo = tmp_path / "repo"
    assert export.main(["--checkpoint", str(tmp_path / "best.pt"), "--repository", str(repo)]) == 0
    loaded = torch.jit.load(str(repo / "model1" / "1" / "model.pt"))
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)["points"], model(x)["points"])
    # A --preset that disagrees with the checkpoint is refused.
    assert export.main(["--checkpoint", str(tmp_path / "best.pt"), "--arch", "model1", "--preset", "compact",
                        "--repository", str(repo), "--version", "2"]) == 1
