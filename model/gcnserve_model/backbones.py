"""Convolutional trunks that turn an image into a feature map."""
from typing import List, Sequence

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


class VGGBackbone(nn.Module):
    """A VGG-style backbone that also hands out intermediate maps (Model1).

    Stage i has `convs_per_stage[i]` 3x3 convolutions (each with BatchNorm
    and ReLU) of min(width * 2**i, 8 * width) channels, then a 2x2 max pool.
    forward returns the output of every stage BEFORE its pool, so stage i's
    map has stride 2**i: Model1 takes stages 1, 2, 3 (strides 2, 4, 8) as
    its local maps. Tapping before the pool keeps the local features at a
    finer resolution for the same depth, which is what "Learn to Pay
    Attention" got by moving VGG's first pools later. `out_channels[i]`
    are the channels of stage i.
    """

    def __init__(self, in_channels: int, width: int, convs_per_stage: Sequence[int]) -> None:
        super().__init__()
        if not convs_per_stage:
            raise ValueError("VGGBackbone needs at least one stage")
        stages = []
        channels = in_channels
        out_channels = []
        for i, convs in enumerate(convs_per_stage):
            out = min(width * 2 ** i, 8 * width)
            layers = []
            for _ in range(convs):
                layers += [conv3x3(channels, out), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
                channels = out
            stages.append(nn.Sequential(*layers))
            out_channels.append(out)
        self.stages = nn.ModuleList(stages)
        self.pool = nn.MaxPool2d(2)
        self.out_channels: List[int] = out_channels
        init_weights(self)

    def forward(self, x: Tensor) -> List[Tensor]:
        maps: List[Tensor] = []
        for i, stage in enumerate(self.stages):
            if i > 0:
                x = self.pool(x)
            x = stage(x)
            maps.append(x)
        return maps


def init_weights(module: nn.Module) -> None:
    """He initialisation for convolutions, identity for BatchNorm."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
