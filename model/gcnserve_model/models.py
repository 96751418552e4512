"""The served models, built from a ModelConfig.

Every model's forward follows the export contract (shared/DESIGN.md): it
takes a normalized float32 [N, C, H, W] batch and returns a Dict[str, Tensor]
with `logits` and the graph it used. Models must stay scriptable with
torch.jit.script.
"""
from typing import Dict

import torch
from torch import Tensor, nn

from .attention import ResidualAttention
from .backbones import ResNetTrunk
from .config import ModelConfig
from .graph import GCN, euclidean_adjacency, normalize_adjacency, top_k_nodes

__all__ = ["Model3", "ModelConfig", "build_model", "classifier_head"]


def classifier_head(in_dim: int, hidden: int, num_classes: int) -> nn.Sequential:
    """The MLP on the mean of the node features: Linear, ReLU, Linear."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_classes))


class Model3(nn.Module):
    """The report's Model3.

    trunk (stride 8) -> residual attention -> top-k cells as nodes (features
    times score) -> inverse-Euclidean adjacency of the cell centres ->
    D^-1/2 (A + I) D^-1/2 -> three GCN layers -> mean over nodes -> MLP.

    forward(x [N, C, H, W]) returns:
      logits [N, classes]; points [N, K, 2] (x, y in input pixels);
      point_scores [N, K]; point_levels [N, K] int64 (all 0: one map);
      adjacency [N, K, K], the normalized matrix the GCN used.
    """

    # The dataclass is for Python callers (export); TorchScript skips it.
    __jit_ignored_attributes__ = ["config"]

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.architecture != "model3":
            raise ValueError(f"Model3 cannot be built from architecture {config.architecture!r}")
        self.config = config
        self.trunk = ResNetTrunk(config.channels, config.width, config.blocks_per_stage)
        self.attention = ResidualAttention(self.trunk.out_channels)
        self.gcn = GCN(self.trunk.out_channels, config.gcn_dim, num_layers=3)
        self.head = classifier_head(config.gcn_dim, config.hidden, config.num_classes)
        self.channels: int = config.channels
        self.num_points: int = config.num_points
        self.cell: float = float(self.trunk.stride)

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        if x.dim() != 4 or x.size(1) != self.channels:
            raise ValueError(f"expected input [N, {self.channels}, H, W], got {x.size()}")
        features = self.trunk(x)
        scores = self.attention(features)
        nodes, point_scores, points = top_k_nodes(features, scores, self.num_points, x.size(2), x.size(3))
        adjacency = normalize_adjacency(euclidean_adjacency(points, self.cell))
        embedded = self.gcn(nodes, adjacency)
        logits = self.head(embedded.mean(dim=1))
        return {
            "logits": logits,
            "points": points,
            "point_scores": point_scores,
            "point_levels": torch.zeros_like(point_scores, dtype=torch.long),
            "adjacency": adjacency,
        }


def build_model(config: ModelConfig) -> nn.Module:
    """The model `config.architecture` names, randomly initialised."""
    if config.architecture == "model3":
        return Model3(config)
    raise ValueError(f"no model for architecture {config.architecture!r}")
