"""Model configurations and the named presets.

A `ModelConfig` is everything needed to build a model and to describe its
input in the export metadata. It validates itself on construction, so an
invalid configuration never exists.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Tuple

# The ten Fashion-MNIST classes, in label-index order.
FASHION_MNIST_LABELS: Tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# Pixel statistics of the Fashion-MNIST training set, on the [0, 1] scale.
FASHION_MNIST_MEAN = 0.2860
FASHION_MNIST_STD = 0.3530

ARCHITECTURES = ("model1", "model2", "model3", "resnet")
# Model1 taps its VGG stages 1, 2 and 3: maps at strides 2, 4 and 8.
MODEL1_MAP_STAGES = (1, 2, 3)
COLORS = {"gray": 1, "rgb": 3}
# "basic": backbones.ResNetTrunk (BasicBlocks, 3x3 stride-1 stem; the compact
# presets). "resnet50": torchvision's ResNet-50 cut after len(blocks_per_stage)
# stages (backbones.ResNet50Trunk; the report's trunk, the paper presets).
TRUNKS = ("basic", "resnet50")
RESNET50_BLOCKS = (3, 4, 6, 3)

# ImageNet's pixel statistics ([0, 1] scale), which torchvision's pretrained
# ResNet-50 was trained with: the paper presets' defaults. fit.py measures
# the user's own training images instead.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of one model and the shape of its input.

    The backbone halves the resolution once per stage, so its stride is
    2 ** len(blocks_per_stage); the input must be a multiple of it. With
    trunk "resnet50" (model2, model3, resnet) the trunk is torchvision's
    ResNet-50 (stem of stride 4, then stages of Bottlenecks, the second and
    later halving the resolution): stride 2 ** (stages + 1), `width` must
    be 64 and `blocks_per_stage` the first stages of (3, 4, 6, 3).
    `blocks_per_stage` counts BasicBlocks per ResNet stage (model2, model3,
    resnet) or 3x3 convolutions per VGG stage (model1, which needs at least
    four stages: it takes its maps from stages 1, 2, 3 at strides 2, 4, 8
    and its global vector g from after the last).

    Graph models: `num_points` is K, the nodes forward returns (metadata
    num_points); model1 takes K / 3 from each of its three maps. Each map
    must hold the points taken from it. The resnet baseline has no graph:
    num_points must be 0.
    """

    architecture: str = "model3"
    input_height: int = 32  # pixels of the tensor the model takes
    input_width: int = 32
    channels: int = 1  # 1 for gray, 3 for rgb; must agree with `color`
    color: str = "gray"  # "gray" | "rgb"
    num_classes: int = 10
    width: int = 8  # channels of the first trunk stage; doubles per stage
    blocks_per_stage: Tuple[int, ...] = (1, 1, 1)
    num_points: int = 8  # k: graph nodes taken from the attention map
    gcn_dim: int = 16  # width of each of the three GCN layers
    hidden: int = 16  # hidden width of the classifier MLP
    mean: Tuple[float, ...] = (FASHION_MNIST_MEAN,)  # per channel, [0, 1] scale
    std: Tuple[float, ...] = (FASHION_MNIST_STD,)
    # model1: width of the projected local features l_i and of g (0: the
    # channels of the stride-8 map). model2: hidden width of the DELF
    # attention's first 1x1 convolution (0: the trunk's channels).
    attention_dim: int = 0
    # Spatial non-maximum suppression before top-k: a cell is preferred only
    # when its score is the largest in the nms x nms window around it
    # (odd, >= 3; 0 = off). Suppressed cells are still taken, after all
    # others, when a map has too few maxima, so K never changes.
    nms: int = 0
    # model1: do not take a cell inside a cell already taken from a coarser
    # map (same fall-back as nms). Off by default.
    dedup: bool = False
    # The trunk of model2, model3 and resnet (TRUNKS); model1's VGG backbone
    # is its own.
    trunk: str = "basic"

    def __post_init__(self) -> None:
        # Accept lists (from JSON) but store tuples, so configs stay hashable.
        object.__setattr__(self, "blocks_per_stage", tuple(int(b) for b in self.blocks_per_stage))
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))
        self._validate()

    def _validate(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture {self.architecture!r} is not one of {ARCHITECTURES}")
        if self.color not in COLORS:
            raise ValueError(f"color {self.color!r} is not one of {sorted(COLORS)}")
        if self.channels != COLORS[self.color]:
            raise ValueError(f"color {self.color!r} needs {COLORS[self.color]} channels, not {self.channels}")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"mean and std need one value per channel ({self.channels})")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std must be positive, got {self.std}")
        for field in ("num_classes", "width", "gcn_dim", "hidden"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be at least 1, got {getattr(self, field)}")
        if self.attention_dim < 0:
            raise ValueError(f"attention_dim must be at least 0, got {self.attention_dim}")
        if self.nms != 0 and (self.nms < 3 or self.nms % 2 == 0):
            raise ValueError(f"nms must be 0 (off) or an odd window of at least 3, got {self.nms}")
        if self.dedup and self.architecture != "model1":
            raise ValueError("dedup is a model1 option: only it takes points from several maps")
        if not self.blocks_per_stage or any(b < 1 for b in self.blocks_per_stage):
            raise ValueError(f"blocks_per_stage needs at least one stage of at least one block, got {self.blocks_per_stage}")
        if self.trunk not in TRUNKS:
            raise ValueError(f"trunk {self.trunk!r} is not one of {TRUNKS}")
        if self.trunk == "resnet50":
            stages = len(self.blocks_per_stage)
            if self.architecture == "model1":
                raise ValueError("model1 has its own VGG backbone: trunk must be 'basic'")
            if self.width != 64 or self.blocks_per_stage != RESNET50_BLOCKS[:stages]:
                raise ValueError(f"trunk resnet50 is torchvision's: width 64 and blocks_per_stage the first "
                                 f"stages of {RESNET50_BLOCKS}, got width {self.width}, {self.blocks_per_stage}")
        if self.architecture == "model1" and len(self.blocks_per_stage) < 4:
            raise ValueError(f"model1 needs at least 4 stages (maps at strides 2, 4, 8, then g), "
                             f"got blocks_per_stage {self.blocks_per_stage}")
        for name, size in (("input_height", self.input_height), ("input_width", self.input_width)):
            if size < self.stride or size % self.stride:
                raise ValueError(f"{name} {size} must be a positive multiple of the trunk stride {self.stride}")
        if self.architecture == "resnet":
            if self.num_points != 0:
                raise ValueError(f"the resnet baseline has no graph: num_points must be 0, got {self.num_points}")
            return
        if self.num_points < 1:
            raise ValueError(f"num_points must be at least 1, got {self.num_points}")
        maps = self.feature_maps
        if self.num_points % len(maps):
            raise ValueError(f"num_points {self.num_points} must split evenly over the {len(maps)} maps")
        per_map = self.num_points // len(maps)
        for stride, h, w in maps:
            if per_map > h * w:
                raise ValueError(
                    f"num_points {per_map} per map exceeds the {h * w} cells of the "
                    f"{h}x{w} feature map (stride {stride})")

    @property
    def stride(self) -> int:
        """Input pixels per cell of the backbone's last map. A ResNet stage
        halves the resolution in its first block; a VGG stage (model1) pools
        before it, so model1's first stage keeps stride 1."""
        stages = len(self.blocks_per_stage)
        if self.trunk == "resnet50":
            return 2 ** (stages + 1)  # the stem and max-pool take 4, layer1 keeps it
        return 2 ** (stages - 1) if self.architecture == "model1" else 2 ** stages

    @property
    def feature_height(self) -> int:
        return self.input_height // self.stride

    @property
    def feature_width(self) -> int:
        return self.input_width // self.stride

    @property
    def feature_maps(self) -> Tuple[Tuple[int, int, int], ...]:
        """(stride, height, width) of each map the graph nodes come from, in
        point_levels order; empty for the resnet baseline."""
        if self.architecture == "resnet":
            return ()
        strides = [2 ** s for s in MODEL1_MAP_STAGES] if self.architecture == "model1" else [self.stride]
        return tuple((s, self.input_height // s, self.input_width // s) for s in strides)

    @property
    def has_graph(self) -> bool:
        return self.architecture != "resnet"

    def replace(self, **changes: Any) -> "ModelConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown ModelConfig fields: {sorted(unknown)}")
        return cls(**values)


_GRAY = dict(channels=1, color="gray", mean=(FASHION_MNIST_MEAN,), std=(FASHION_MNIST_STD,))
# Fashion-MNIST is gray; an rgb model sees it as three equal channels, so the
# same statistics apply to each. Users training on their own data set their own.
_RGB = dict(channels=3, color="rgb", mean=(FASHION_MNIST_MEAN,) * 3, std=(FASHION_MNIST_STD,) * 3)
_IMAGENET = dict(channels=3, color="rgb", mean=IMAGENET_MEAN, std=IMAGENET_STD)
# The report's trunk: ResNet-50 up to layer2 (512 channels, stride 8), or whole.
_LAYER2 = dict(trunk="resnet50", width=64, blocks_per_stage=RESNET50_BLOCKS[:2])
_WHOLE = dict(trunk="resnet50", width=64, blocks_per_stage=RESNET50_BLOCKS)

PRESETS: Dict[str, ModelConfig] = {
    # For tests and smoke runs: exports in about a second.
    "tiny": ModelConfig(
        input_height=32, input_width=32, **_GRAY, width=8, blocks_per_stage=(1, 1, 1),
        num_points=8, gcn_dim=16, hidden=16),
    # Trains on a 2-core CPU: Fashion-MNIST's 28x28 images upscaled to 64x64
    # give the report's 8x8 map and k=40 (MODELS.md, Model3).
    "compact": ModelConfig(
        input_height=64, input_width=64, **_GRAY, width=16, blocks_per_stage=(1, 1, 1),
        num_points=40, gcn_dim=64, hidden=64),
    # The report's datasets: ResNet-50's layer2, an 8x8 map for Tiny-ImageNet's
    # 64x64 (k=40), 28x28 for Imagenette's 224x224 (k=120); 256-wide GCN.
    "tiny-imagenet": ModelConfig(
        input_height=64, input_width=64, **_IMAGENET, **_LAYER2, num_points=40, gcn_dim=256, hidden=256),
    "imagenette": ModelConfig(
        input_height=224, input_width=224, **_IMAGENET, **_LAYER2, num_points=120, gcn_dim=256, hidden=256),
}


# Model1: a VGG-like backbone (convolutions per stage), maps at strides
# 2, 4, 8 projected to attention_dim, K / 3 points from each.
MODEL1_PRESETS: Dict[str, ModelConfig] = {
    "tiny": ModelConfig(
        architecture="model1", input_height=32, input_width=32, **_GRAY, width=8, blocks_per_stage=(1, 1, 1, 1),
        num_points=12, attention_dim=16, gcn_dim=16, hidden=16),
    # The report's 64x64 input: maps 32x32, 16x16, 8x8; 40 points each.
    "compact": ModelConfig(
        architecture="model1", input_height=64, input_width=64, **_GRAY, width=16, blocks_per_stage=(1, 1, 1, 1),
        num_points=120, attention_dim=64, gcn_dim=64, hidden=64),
    # Tiny-ImageNet's 64x64: VGG-16's convolutions (2, 2, 3, 3, 3; widths 64
    # to 512), 256-wide local features and g, 3 x 40 points, as in the report
    # (which has no Imagenette figure for Model1).
    "tiny-imagenet": ModelConfig(
        architecture="model1", input_height=64, input_width=64, **_IMAGENET, width=64,
        blocks_per_stage=(2, 2, 3, 3, 3), num_points=120, attention_dim=256, gcn_dim=256, hidden=256),
}

# Model2: the ResNet trunk ends at the intermediate map the attention reads
# (stride 8); DELF-style attention; similarity adjacency.
MODEL2_PRESETS: Dict[str, ModelConfig] = {
    "tiny": ModelConfig(
        architecture="model2", input_height=32, input_width=32, **_GRAY, width=8, blocks_per_stage=(1, 1, 1),
        num_points=8, attention_dim=16, gcn_dim=16, hidden=16),
    "compact": ModelConfig(
        architecture="model2", input_height=64, input_width=64, **_GRAY, width=16, blocks_per_stage=(1, 1, 1),
        num_points=40, attention_dim=64, gcn_dim=64, hidden=64),
    # ResNet-50's layer2 (512 channels, stride 8), DELF attention 512 wide,
    # a 256-wide GCN: 8x8 map and k=40 at 64x64; 28x28 and k=120 at 224x224.
    "tiny-imagenet": ModelConfig(
        architecture="model2", input_height=64, input_width=64, **_IMAGENET, **_LAYER2,
        num_points=40, attention_dim=512, gcn_dim=256, hidden=256),
    "imagenette": ModelConfig(
        architecture="model2", input_height=224, input_width=224, **_IMAGENET, **_LAYER2,
        num_points=120, attention_dim=512, gcn_dim=256, hidden=256),
}

# The baseline: the same trunks, global average pooling, one linear layer.
RESNET_PRESETS: Dict[str, ModelConfig] = {
    "tiny": ModelConfig(
        architecture="resnet", input_height=32, input_width=32, **_GRAY, width=8, blocks_per_stage=(1, 1, 1),
        num_points=0),
    # Model3 compact's trunk, for a like-for-like comparison.
    "compact": ModelConfig(
        architecture="resnet", input_height=64, input_width=64, **_GRAY, width=16, blocks_per_stage=(1, 1, 1),
        num_points=0),
    # torchvision's whole ResNet-50 (2048 channels, stride 32), its fc
    # replaced by one for the user's classes.
    "tiny-imagenet": ModelConfig(
        architecture="resnet", input_height=64, input_width=64, **_IMAGENET, **_WHOLE, num_points=0),
    "imagenette": ModelConfig(
        architecture="resnet", input_height=224, input_width=224, **_IMAGENET, **_WHOLE, num_points=0),
}

# "paper": each architecture's report configuration, the default on CUDA
# (fit.py): Model3 and the baseline on Imagenette's 224x224, Model1 and
# Model2 on Tiny-ImageNet's 64x64 (where the report describes them).
PAPER_PRESET = {"model1": "tiny-imagenet", "model2": "tiny-imagenet", "model3": "imagenette",
                "resnet": "imagenette"}
for _arch, _presets in (("model1", MODEL1_PRESETS), ("model2", MODEL2_PRESETS), ("model3", PRESETS),
                        ("resnet", RESNET_PRESETS)):
    _presets["paper"] = _presets[PAPER_PRESET[_arch]]

# Presets of every architecture: PRESETS_BY_ARCH[architecture][preset name].
# PRESETS (above) are Model3's.
PRESETS_BY_ARCH: Dict[str, Dict[str, ModelConfig]] = {
    "model1": MODEL1_PRESETS, "model2": MODEL2_PRESETS, "model3": PRESETS, "resnet": RESNET_PRESETS}


def preset(name: str, architecture: str = "model3") -> ModelConfig:
    """The preset called `name` of `architecture`; ValueError naming the choices otherwise."""
    if architecture not in PRESETS_BY_ARCH:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {sorted(PRESETS_BY_ARCH)}")
    presets = PRESETS_BY_ARCH[architecture]
    try:
        return presets[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(presets)}") from None
