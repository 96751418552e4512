from __future__ import annotations

import math

import pytest
import torch

from gcnserve_model.graph import (GCN, GCNLayer, euclidean_adjacency, normalize_adjacency,
                                  similarity_adjacency, top_k_nodes)


def test_top_k_nodes_picks_best_cells_with_centre_positions() -> None:
    n, c, h, w = 2, 3, 4, 4
    features = torch.arange(n * c * h * w, dtype=torch.float32).reshape(n, c, h, w)
    scores = torch.zeros(n, h * w)
    scores[0, 5] = 0.9  # row 1, col 1
    scores[0, 14] = 0.8  # row 3, col 2
    scores[1, 3] = 0.7  # row 0, col 3
    scores[1, 12] = 0.6  # row 3, col 0
    nodes, node_scores, positions = top_k_nodes(features, scores, 2, 32, 64)

    assert nodes.shape == (n, 2, c) and node_scores.shape == (n, 2) and positions.shape == (n, 2, 2)
    torch.testing.assert_close(node_scores, torch.tensor([[0.9, 0.8], [0.7, 0.6]]))
    # Input 64 wide, 32 high over a 4x4 map: cells are 16 x 8 pixels.
    torch.testing.assert_close(positions[0], torch.tensor([[1.5 * 16, 1.5 * 8], [2.5 * 16, 3.5 * 8]]))
    torch.testing.assert_close(positions[1], torch.tensor([[3.5 * 16, 0.5 * 8], [0.5 * 16, 3.5 * 8]]))
    torch.testing.assert_close(nodes[0, 0], features[0, :, 1, 1] * 0.9)
    torch.testing.assert_close(nodes[1, 1], features[1, :, 3, 0] * 0.6)


def test_top_k_nodes_lets_gradients_reach_the_scores() -> None:
    features = torch.rand(1, 4, 2, 2)
    scores = torch.rand(1, 4, requires_grad=True)
    nodes, _, _ = top_k_nodes(features, scores, 3, 16, 16)
    nodes.sum().backward()
    assert scores.grad is not None and (scores.grad != 0).sum() == 3


def test_top_k_nodes_refuses_more_nodes_than_cells() -> None:
    with pytest.raises(ValueError, match="cannot take 5 nodes from a 2x2"):
        top_k_nodes(torch.rand(1, 1, 2, 2), torch.rand(1, 4), 5, 16, 16)


def test_euclidean_adjacency_weighs_neighbours_more_and_has_zero_diagonal() -> None:
    positions = torch.tensor([[[4.0, 4.0], [12.0, 4.0], [4.0, 28.0]]])
    adj = euclidean_adjacency(positions, 8.0)
    assert torch.all(adj.diagonal(dim1=1, dim2=2) == 0)
    assert adj[0, 0, 1].item() == pytest.approx(0.5)  # one cell apart
    assert adj[0, 0, 2].item() == pytest.approx(0.25)  # three cells apart
    assert adj[0, 1, 2].item() == pytest.approx(1 / (1 + math.hypot(8, 24) / 8))
    torch.testing.assert_close(adj, adj.transpose(1, 2))


def test_similarity_adjacency_is_finite_non_negative_and_bounded() -> None:
    nodes = torch.tensor([[[1e20, 0.0], [-1e20, 0.0], [3.0, 4.0], [0.0, 0.0]]])
    adj = similarity_adjacency(nodes)
    assert torch.isfinite(adj).all()
    assert (adj >= 0).all() and (adj <= 1 + 1e-6).all()
    assert torch.all(adj.diagonal(dim1=1, dim2=2) == 0)
    assert adj[0, 0, 1] == 0  # opposite directions: dropped, not negative
    assert adj[0, 0, 2].item() == pytest.approx(0.6)
    assert torch.all(adj[0, 3] == 0)  # a zero vector links to nothing
    torch.testing.assert_close(adj, adj.transpose(1, 2))


def test_normalize_adjacency_matches_the_formula() -> None:
    adj = torch.tensor([[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    norm = normalize_adjacency(adj)
    with_loops = adj[0] + torch.eye(3)
    d = torch.diag(with_loops.sum(1).rsqrt())
    torch.testing.assert_close(norm[0], d @ with_loops @ d)
    assert norm[0, 2, 2] == 1.0  # an isolated node keeps its own features


def test_gcn_layer_is_relu_of_a_x_w() -> None:
    torch.manual_seed(0)
    layer = GCNLayer(4, 3)
    x = torch.randn(2, 5, 4)
    adj = normalize_adjacency(torch.rand(2, 5, 5))
    expected = torch.relu(adj @ x @ layer.weight.weight.t())
    torch.testing.assert_close(layer(x, adj), expected)
    assert GCN(4, 6)(x, adj).shape == (2, 5, 6)
    assert len(GCN(4, 6).layers) == 3
