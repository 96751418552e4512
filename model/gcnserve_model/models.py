"""The served models, built from a ModelConfig.

Every model's forward follows the export contract (docs/design.md): it
takes a normalized float32 [N, C, H, W] batch and returns a Dict[str, Tensor]
with `logits` and, for the graph models, the graph it used (`points`,
`point_scores`, `point_levels`, `adjacency`). The resnet baseline returns
`logits` alone. Models must stay scriptable with torch.jit.script.

Shared parts: the trunks (backbones.py), the attention heads (attention.py),
top-k node selection, adjacency, normalisation and the GCN (graph.py), and
`_SingleMapGraphModel` below, the whole of Model2 and Model3 but for their
attention head and adjacency.
"""
from typing import Dict, List, Optional

import torch
from torch import Tensor, nn

from .attention import DELFAttention, GlobalDotAttention, ResidualAttention
from .backbones import VGGBackbone, build_trunk, init_weights
from .config import MODEL1_MAP_STAGES, ModelConfig
from .graph import (GCN, cells_covered, euclidean_adjacency, non_maxima, normalize_adjacency,
                    similarity_adjacency, sort_nodes_by_score, top_k_nodes)

__all__ = ["Model1", "Model2", "Model3", "ResNetBaseline", "ModelConfig", "build_model", "classifier_head"]


def classifier_head(in_dim: int, hidden: int, num_classes: int) -> nn.Sequential:
    """The MLP on the mean of the node features: Linear, ReLU, Linear."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_classes))


def _check_input(x: Tensor, channels: int) -> None:
    if x.dim() != 4 or x.size(1) != channels:
        raise ValueError(f"expected input [N, {channels}, H, W], got {x.size()}")


def _demoted_by_nms(scores: Tensor, height: int, width: int, window: int) -> Optional[Tensor]:
    return non_maxima(scores, height, width, window) if window > 0 else None


def _check_architecture(config: ModelConfig, architecture: str, cls: str) -> None:
    if config.architecture != architecture:
        raise ValueError(f"{cls} cannot be built from architecture {config.architecture!r}")


class _SingleMapGraphModel(nn.Module):
    """What Model2 and Model3 share: a ResNet trunk (stride 8) -> an
    attention head giving one score per cell -> top-k cells as nodes
    (features times score) -> an adjacency -> D^-1/2 (A + I) D^-1/2 -> three
    GCN layers -> mean over nodes -> MLP. They differ in the attention head
    and in the adjacency: inverse-Euclidean distance between the cell centres
    (`euclidean`) or the similarity of the node features.

    forward(x [N, C, H, W]) returns:
      logits [N, classes]; points [N, K, 2] (x, y in input pixels);
      point_scores [N, K]; point_levels [N, K] int64 (all 0: one map);
      adjacency [N, K, K], the normalized matrix the GCN used.
    """

    __jit_ignored_attributes__ = ["config"]

    def __init__(self, config: ModelConfig, trunk: nn.Module, attention: nn.Module,
                 euclidean: bool) -> None:
        super().__init__()
        self.config = config
        self.trunk = trunk
        self.attention = attention
        self.gcn = GCN(trunk.out_channels, config.gcn_dim, num_layers=3)
        self.head = classifier_head(config.gcn_dim, config.hidden, config.num_classes)
        self.channels: int = config.channels
        self.num_points: int = config.num_points
        self.cell: float = float(config.stride)
        self.nms: int = config.nms
        self.euclidean: bool = euclidean

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        _check_input(x, self.channels)
        features = self.trunk(x)
        scores = self.attention(features)
        demoted = _demoted_by_nms(scores, features.size(2), features.size(3), self.nms)
        nodes, point_scores, points = top_k_nodes(features, scores, self.num_points, x.size(2), x.size(3), demoted)
        if self.euclidean:
            adjacency = normalize_adjacency(euclidean_adjacency(points, self.cell))
        else:
            adjacency = normalize_adjacency(similarity_adjacency(nodes))
        embedded = self.gcn(nodes, adjacency)
        logits = self.head(embedded.mean(dim=1))
        return {
            "logits": logits,
            "points": points,
            "point_scores": point_scores,
            "point_levels": torch.zeros_like(point_scores, dtype=torch.long),
            "adjacency": adjacency,
        }


class Model3(_SingleMapGraphModel):
    """The report's Model3: residual-block attention and inverse-Euclidean
    adjacency of the cell centres (see _SingleMapGraphModel)."""

    def __init__(self, config: ModelConfig) -> None:
        _check_architecture(config, "model3", "Model3")
        trunk = build_trunk(config.trunk, config.channels, config.width, config.blocks_per_stage)
        super().__init__(config, trunk, ResidualAttention(trunk.out_channels), euclidean=True)


class Model2(_SingleMapGraphModel):
    """The report's Model2: DELF-style 1x1-convolution attention on the
    intermediate map (stride 8; the report used ResNet-50's layer2, 512
    channels; later layers would not feed the graph, so they are not built)
    and similarity adjacency (cosine through a ReLU,
    graph.similarity_adjacency); see _SingleMapGraphModel."""

    def __init__(self, config: ModelConfig) -> None:
        _check_architecture(config, "model2", "Model2")
        trunk = build_trunk(config.trunk, config.channels, config.width, config.blocks_per_stage)
        channels = trunk.out_channels
        super().__init__(config, trunk, DELFAttention(channels, config.attention_dim or channels),
                         euclidean=False)


class Model1(nn.Module):
    """The report's Model1.

    VGG-like backbone; its stages 1, 2, 3 give maps at strides 2, 4, 8 (32x32,
    16x16, 8x8 for 64x64), each projected by a 1x1 convolution to
    attention_dim channels: the local features l_i. The last stage, averaged
    over space and passed through two fully connected layers, gives the
    global vector g. "Learn to Pay Attention" scores c_i = <l_i, g>
    (attention.GlobalDotAttention). From each map the K/3 best cells become
    nodes (l_i times score), with point_levels 0, 1, 2 for strides 2, 4, 8.
    All K nodes form one graph: similarity adjacency, D^-1/2 (A + I) D^-1/2,
    three GCN layers, mean over nodes, MLP.

    Options (config): `nms` suppresses non-maxima on each map before its
    top-k; `dedup` takes the maps coarse to fine and demotes any cell lying
    inside a cell already taken from a coarser map. Both keep K fixed.

    forward returns the contract's keys, nodes sorted best first across maps.
    """

    __jit_ignored_attributes__ = ["config"]

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        _check_architecture(config, "model1", "Model1")
        self.config = config
        self.backbone = VGGBackbone(config.channels, config.width, config.blocks_per_stage)
        # Coarse to fine (strides 8, 4, 2), the order forward visits them in,
        # so that de-duplication keeps a coarse cell and demotes the finer
        # cells inside it.
        self.map_stages: List[int] = sorted(MODEL1_MAP_STAGES, reverse=True)
        map_channels = [self.backbone.out_channels[s] for s in self.map_stages]
        dim = config.attention_dim or map_channels[0]
        self.project = nn.ModuleList([nn.Conv2d(c, dim, kernel_size=1, bias=False) for c in map_channels])
        last = self.backbone.out_channels[-1]
        self.global_fc = nn.Sequential(nn.Linear(last, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
        self.attention = GlobalDotAttention(dim)
        self.gcn = GCN(dim, config.gcn_dim, num_layers=3)
        self.head = classifier_head(config.gcn_dim, config.hidden, config.num_classes)
        init_weights(self.project)
        self.channels: int = config.channels
        self.points_per_map: int = config.num_points // len(MODEL1_MAP_STAGES)
        self.nms: int = config.nms
        self.dedup: bool = config.dedup

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        _check_input(x, self.channels)
        maps = self.backbone(x)
        g = self.global_fc(maps[-1].mean(dim=(2, 3)))
        height, width = x.size(2), x.size(3)
        nodes_list: List[Tensor] = []
        scores_list: List[Tensor] = []
        points_list: List[Tensor] = []
        levels_list: List[Tensor] = []
        cells_taken: List[float] = []  # cell size, in input pixels, of each entry of points_list
        for i, projection in enumerate(self.project):
            local = projection(maps[self.map_stages[i]])
            h, w = local.size(2), local.size(3)
            cell = float(height) / float(h)
            scores = self.attention(local, g)
            demoted = _demoted_by_nms(scores, h, w, self.nms)
            if self.dedup:
                for taken, taken_cell in zip(points_list, cells_taken):
                    covered = cells_covered(taken, taken_cell, h, w, cell)
                    demoted = covered if demoted is None else demoted | covered
            nodes, point_scores, points = top_k_nodes(local, scores, self.points_per_map, height, width, demoted)
            level = self.map_stages[i] - 1  # stages 1, 2, 3 are levels 0, 1, 2
            nodes_list.append(nodes)
            scores_list.append(point_scores)
            points_list.append(points)
            levels_list.append(torch.full_like(point_scores, level, dtype=torch.long))
            cells_taken.append(cell)
        nodes, point_scores, points, levels = sort_nodes_by_score(
            torch.cat(nodes_list, 1), torch.cat(scores_list, 1), torch.cat(points_list, 1), torch.cat(levels_list, 1))
        adjacency = normalize_adjacency(similarity_adjacency(nodes))
        embedded = self.gcn(nodes, adjacency)
        logits = self.head(embedded.mean(dim=1))
        return {
            "logits": logits,
            "points": points,
            "point_scores": point_scores,
            "point_levels": levels,
            "adjacency": adjacency,
        }


class ResNetBaseline(nn.Module):
    """The report's baseline: ResNet trunk, global average pooling, one
    linear layer. forward returns {"logits": [N, classes]} and no graph."""

    __jit_ignored_attributes__ = ["config"]

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        _check_architecture(config, "resnet", "ResNetBaseline")
        self.config = config
        self.trunk = build_trunk(config.trunk, config.channels, config.width, config.blocks_per_stage)
        self.fc = nn.Linear(self.trunk.out_channels, config.num_classes)
        self.channels: int = config.channels

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        _check_input(x, self.channels)
        return {"logits": self.fc(self.trunk(x).mean(dim=(2, 3)))}


_MODELS = {"model1": Model1, "model2": Model2, "model3": Model3, "resnet": ResNetBaseline}


def build_model(config: ModelConfig) -> nn.Module:
    """The model `config.architecture` names, randomly initialised."""
    try:
        cls = _MODELS[config.architecture]
    except KeyError:
        raise ValueError(f"no model for architecture {config.architecture!r}") from None
    return cls(config)
