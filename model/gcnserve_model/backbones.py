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


# torchvision's ResNet-50: Bottleneck blocks per stage (layer1..layer4).
RESNET50_BLOCKS = (3, 4, 6, 3)
RESNET50_WIDTH = 64


class ResNet50Trunk(nn.Module):
    """torchvision's ResNet-50 (the report's trunk), cut after `stages` of
    its four stages: the 7x7 stride-2 stem, BatchNorm, ReLU, the 3x3
    stride-2 max-pool, then layer1 .. layer<stages> of Bottleneck blocks.

    Its parameter names are torchvision's (conv1.*, bn1.*, layer1.0.conv1.*,
    ...), so a torchvision state dict loads into it by name (weights.py).
    stages=2 ends at layer2: 512 channels at stride 8, the map the report's
    Model2 and Model3 read (8x8 for 64x64, 28x28 for 224x224); stages=4 is
    the whole trunk (2048 channels, stride 32), the baseline's. A gray model
    gets a one-channel stem. Stages not built are identities (no
    parameters), which keeps forward scriptable.
    """

    def __init__(self, in_channels: int, stages: int) -> None:
        super().__init__()
        if not 1 <= stages <= len(RESNET50_BLOCKS):
            raise ValueError(f"ResNet50Trunk has 1 to 4 stages, not {stages}")
        from torchvision.models import resnet50  # torchvision only for this trunk
        full = resnet50(weights=None)
        self.conv1 = full.conv1 if in_channels == 3 else nn.Conv2d(
            in_channels, RESNET50_WIDTH, kernel_size=7, stride=2, padding=3, bias=False)
        if in_channels != 3:
            nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.bn1 = full.bn1
        self.relu = full.relu
        self.maxpool = full.maxpool
        layers = [full.layer1, full.layer2, full.layer3, full.layer4]
        self.layer1: nn.Module = layers[0]
        self.layer2: nn.Module = layers[1] if stages >= 2 else nn.Identity()
        self.layer3: nn.Module = layers[2] if stages >= 3 else nn.Identity()
        self.layer4: nn.Module = layers[3] if stages >= 4 else nn.Identity()
        self.out_channels: int = RESNET50_WIDTH * 4 * 2 ** (stages - 1)
        self.stride: int = 2 ** (stages + 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def build_trunk(kind: str, in_channels: int, width: int, blocks_per_stage: Sequence[int]) -> nn.Module:
    """The trunk ModelConfig.trunk names: "basic" (ResNetTrunk) or
    "resnet50" (ResNet50Trunk, as many stages as blocks_per_stage lists)."""
    if kind == "basic":
        return ResNetTrunk(in_channels, width, blocks_per_stage)
    if kind == "resnet50":
        return ResNet50Trunk(in_channels, len(blocks_per_stage))
    raise ValueError(f"unknown trunk {kind!r}: 'basic' or 'resnet50'")


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
