"""Convolutional trunks that turn an image into a feature map."""
from typing import Sequence

import torch
from torch import Tensor, nn


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    # No bias: a BatchNorm follows every convolution.
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """ResNet's two-convolution residual block: relu(F(x) + shortcut(x)).

    The shortcut is the identity when shape is kept, else a strided 1x1
    convolution with BatchNorm (ResNet's option B).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNetTrunk(nn.Module):
    """A ResNet-style trunk of BasicBlocks.

    A 3x3 stride-1 stem (conv, BN, ReLU) with `width` channels, then one stage
    per entry of `blocks_per_stage`. Stage i has width * 2**i channels and its
    first block has stride 2, so the output has `out_channels` channels and
    `stride` = 2 ** stages input pixels per cell (8 for three stages).
    """

    def __init__(self, in_channels: int, width: int, blocks_per_stage: Sequence[int]) -> None:
        super().__init__()
        if not blocks_per_stage:
            raise ValueError("ResNetTrunk needs at least one stage")
        self.stem = nn.Sequential(conv3x3(in_channels, width), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        stages = []
        channels = width
        for i, blocks in enumerate(blocks_per_stage):
            out_channels = width * 2 ** i
            layers = [BasicBlock(channels, out_channels, stride=2)]
            layers += [BasicBlock(out_channels, out_channels) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*layers))
            channels = out_channels
        self.stages = nn.Sequential(*stages)
        self.out_channels: int = channels
        self.stride: int = 2 ** len(blocks_per_stage)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.stages(self.stem(x))


def init_weights(module: nn.Module) -> None:
    """He initialisation for convolutions, identity for BatchNorm."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
