"""Attention heads that score every position of a feature map."""
import math

import torch
from torch import Tensor, nn

from .backbones import BasicBlock


class ResidualAttention(nn.Module):
    """Model3's attention: a residual block, then a 1x1 convolution to one
    logit per position; the score is its sigmoid, in [0, 1].

    forward: features [N, C, H, W] -> scores [N, H*W], positions in row-major
    order (index = row * W + col).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = BasicBlock(channels, channels)
        self.score = nn.Conv2d(channels, 1, kernel_size=1)
        nn.init.zeros_(self.score.bias)

    def forward(self, features: Tensor) -> Tensor:
        logits = self.score(self.block(features))  # [N, 1, H, W]
        return torch.sigmoid(logits.flatten(1))


class DELFAttention(nn.Module):
    """Model2's attention, after DELF (Noh et al., 2017): two 1x1
    convolutions with a ReLU between them give one logit per position.
    DELF puts a softplus on it; here a sigmoid gives scores in [0, 1] like
    the other models', so the score that weights a node stays bounded.

    forward: features [N, C, H, W] -> scores [N, H*W], row-major.
    """

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, hidden, kernel_size=1)
        self.relu = nn.ReLU(inplace=True)
        self.score = nn.Conv2d(hidden, 1, kernel_size=1)
        nn.init.zeros_(self.score.bias)

    def forward(self, features: Tensor) -> Tensor:
        return torch.sigmoid(self.score(self.relu(self.conv1(features))).flatten(1))


class GlobalDotAttention(nn.Module):
    """Model1's attention, after "Learn to Pay Attention" (Jetley et al.,
    2018), dot-product form: the compatibility of local feature l_i with the
    global vector g is c_i = <l_i, g>.

    The paper normalises c over positions with a softmax. Here the score is
    sigmoid(c_i / sqrt(D)) instead: the same ranking (both are monotonic in
    c_i), but a softmax over a 32x32 map gives weights near 1/1024, which
    would shrink every node (nodes are features times score); dividing by
    sqrt(D) keeps the sigmoid out of saturation at initialisation.

    forward: local [N, D, H, W], g [N, D] -> scores [N, H*W], row-major.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scale: float = 1.0 / math.sqrt(dim)

    def forward(self, local: Tensor, g: Tensor) -> Tensor:
        compatibility = torch.bmm(g.unsqueeze(1), local.flatten(2)).squeeze(1)  # [N, H*W]
        return torch.sigmoid(compatibility * self.scale)
