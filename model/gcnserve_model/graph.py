"""Graph construction and graph convolution over selected feature-map cells.

Every function here is TorchScript-compatible: the exported models call them
inside `forward`.
"""
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def top_k_nodes(features: Tensor, scores: Tensor, k: int, input_height: int,
                input_width: int, demoted: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor]:
    """Takes the k best-scoring cells of a feature map as graph nodes.

    features: [N, C, H, W]; scores: [N, H*W] in row-major order, in [0, 1].
    demoted: optional bool [N, H*W]; those cells (suppressed by NMS, or
    already covered by another map's points) rank after every other cell, so
    they are taken only when too few others remain and K stays fixed.
    Returns, best first (by rank: any demoted cells come last):
      nodes [N, K, C]: the feature vectors, each multiplied by its score.
        Gradients do not flow through the top-k indices; through this
        product they reach the attention branch (MODELS.md).
      node_scores [N, K].
      positions [N, K, 2]: x, y of each cell's centre in input-tensor
        pixels, x = (col + 0.5) * input_width / W, y likewise.
    """
    n, c, h, w = features.size(0), features.size(1), features.size(2), features.size(3)
    if k > h * w:
        raise ValueError(f"cannot take {k} nodes from a {h}x{w} feature map")
    if demoted is None:
        node_scores, indices = torch.topk(scores, k, dim=1)
    else:
        # Scores are in [0, 1], so subtracting 2 puts every demoted cell
        # below every other while keeping their order among themselves.
        _, indices = torch.topk(scores - 2.0 * demoted.to(scores.dtype), k, dim=1)
        node_scores = torch.gather(scores, 1, indices)
    flat = features.flatten(2).transpose(1, 2)  # [N, H*W, C]
    picked = torch.gather(flat, 1, indices.unsqueeze(-1).expand(n, k, c))
    nodes = picked * node_scores.unsqueeze(-1)
    rows = torch.div(indices, w, rounding_mode="floor")
    cols = indices - rows * w
    xs = (cols.to(features.dtype) + 0.5) * (float(input_width) / float(w))
    ys = (rows.to(features.dtype) + 0.5) * (float(input_height) / float(h))
    return nodes, node_scores, torch.stack([xs, ys], dim=-1)


def non_maxima(scores: Tensor, height: int, width: int, window: int) -> Tensor:
    """Spatial non-maximum suppression: bool [N, H*W], True where a cell's
    score is below the largest in the window x window neighbourhood around it
    (ties are all kept). Top-k on a smooth map otherwise takes clusters of
    neighbours (MODELS.md)."""
    grid = scores.reshape(scores.size(0), 1, height, width)
    local_max = F.max_pool2d(grid, kernel_size=window, stride=1, padding=window // 2)
    return (grid < local_max).flatten(1)


def cells_covered(taken: Tensor, taken_cell: float, height: int, width: int, cell: float) -> Tensor:
    """De-duplication across maps: bool [N, H*W], True for each cell (of size
    `cell`, on an H x W map) whose centre lies inside the cell of size
    `taken_cell` around any point of `taken` [N, M, 2] (input pixels).

    Maps of strides 2, 4, 8 nest, so a finer cell whose centre is inside a
    coarser taken cell lies wholly inside it: the same place, seen twice.
    """
    rows = torch.arange(height, device=taken.device, dtype=taken.dtype)
    cols = torch.arange(width, device=taken.device, dtype=taken.dtype)
    xs = ((cols + 0.5) * cell).repeat(height)  # row-major, like scores
    ys = ((rows + 0.5) * cell).repeat_interleave(width)
    centre_col = torch.floor(xs / taken_cell)  # [H*W]
    centre_row = torch.floor(ys / taken_cell)
    taken_col = torch.floor(taken[..., 0] / taken_cell)  # [N, M]
    taken_row = torch.floor(taken[..., 1] / taken_cell)
    same = (centre_col.view(1, -1, 1) == taken_col.unsqueeze(1)) & (centre_row.view(1, -1, 1) == taken_row.unsqueeze(1))
    return same.any(dim=2)


def sort_nodes_by_score(nodes: Tensor, scores: Tensor, points: Tensor,
                        levels: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Orders nodes from several maps best first (stable). The graph does not
    care about node order; callers of the contract read points best first."""
    scores, order = torch.sort(scores, dim=1, descending=True, stable=True)
    nodes = torch.gather(nodes, 1, order.unsqueeze(-1).expand(-1, -1, nodes.size(2)))
    points = torch.gather(points, 1, order.unsqueeze(-1).expand(-1, -1, 2))
    levels = torch.gather(levels, 1, order)
    return nodes, scores, points, levels


def _zero_diagonal(adjacency: Tensor) -> Tensor:
    k = adjacency.size(-1)
    eye = torch.eye(k, dtype=torch.bool, device=adjacency.device)
    return adjacency.masked_fill(eye, 0.0)


def euclidean_adjacency(positions: Tensor, cell: float) -> Tensor:
    """Inverse-distance weights between node positions [N, K, 2].

    A_ij = 1 / (1 + d_ij / cell): 1/2 between neighbouring cells, falling
    towards 0 with distance, so closer nodes weigh more; always finite and in
    (0, 1]. `cell` is the trunk stride in pixels. The diagonal is defined as
    0: the self-loop comes from normalize_adjacency's + I.
    """
    diff = positions.unsqueeze(2) - positions.unsqueeze(1)  # [N, K, K, 2]
    distance = torch.sqrt((diff * diff).sum(-1))
    return _zero_diagonal(1.0 / (1.0 + distance / cell))


def similarity_adjacency(nodes: Tensor, eps: float = 1e-6) -> Tensor:
    """Feature-similarity weights A = X Xᵀ made safe to normalise.

    Raw dot products can be huge or negative (MODELS.md). Here each node
    vector [N, K, C] is scaled to unit length first, so A_ij is the cosine
    similarity in [-1, 1]; ReLU then drops dissimilar pairs. Result: finite,
    symmetric, in [0, 1], diagonal 0 (the self-loop comes from
    normalize_adjacency's + I). Vectors are divided by their largest |entry|
    before the norm so that the squares cannot overflow; a vector whose
    largest |entry| is below `eps` counts as zero and links to nothing.
    """
    largest = nodes.abs().amax(dim=-1, keepdim=True).clamp_min(eps)
    unit = F.normalize(nodes / largest, p=2.0, dim=-1, eps=eps)
    return _zero_diagonal(torch.relu(torch.bmm(unit, unit.transpose(1, 2))))


def normalize_adjacency(adjacency: Tensor) -> Tensor:
    """D^-1/2 (A + I) D^-1/2 for a batch [N, K, K] of non-negative A.

    With A >= 0 each degree of A + I is at least 1, so D^-1/2 is finite.
    Symmetric A gives a symmetric result.
    """
    k = adjacency.size(-1)
    eye = torch.eye(k, dtype=adjacency.dtype, device=adjacency.device)
    with_loops = adjacency + eye
    inv_sqrt_degree = torch.rsqrt(with_loops.sum(-1))  # [N, K]
    return inv_sqrt_degree.unsqueeze(-1) * with_loops * inv_sqrt_degree.unsqueeze(-2)


class GCNLayer(nn.Module):
    """One graph convolution: X' = ReLU(Â X W), no bias."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Linear(in_dim, out_dim, bias=False)

    def forward(self, x: Tensor, adjacency: Tensor) -> Tensor:
        # Â (X W): multiplying by W first is cheaper when out_dim < in_dim.
        return torch.relu(torch.bmm(adjacency, self.weight(x)))


class GCN(nn.Module):
    """A stack of GCNLayers (three in the report): in_dim -> dim -> ... -> dim."""

    def __init__(self, in_dim: int, dim: int, num_layers: int = 3) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError("GCN needs at least one layer")
        dims = [in_dim] + [dim] * num_layers
        self.layers = nn.ModuleList([GCNLayer(a, b) for a, b in zip(dims[:-1], dims[1:])])
        self.out_dim: int = dim

    def forward(self, x: Tensor, adjacency: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x, adjacency)
        return x
