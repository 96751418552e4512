"""Attention heads that score every position of a feature map."""
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
