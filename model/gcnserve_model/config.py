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

ARCHITECTURES = ("model3",)
COLORS = {"gray": 1, "rgb": 3}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of one model and the shape of its input.

    The trunk halves the resolution once per stage, so its stride is
    2 ** len(blocks_per_stage) (8 for three stages); the input must be a
    multiple of it and the feature map must hold at least `num_points` cells.
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
        for field in ("num_classes", "width", "num_points", "gcn_dim", "hidden"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be at least 1, got {getattr(self, field)}")
        if not self.blocks_per_stage or any(b < 1 for b in self.blocks_per_stage):
            raise ValueError(f"blocks_per_stage needs at least one stage of at least one block, got {self.blocks_per_stage}")
        for name, size in (("input_height", self.input_height), ("input_width", self.input_width)):
            if size < self.stride or size % self.stride:
                raise ValueError(f"{name} {size} must be a positive multiple of the trunk stride {self.stride}")
        cells = self.feature_height * self.feature_width
        if self.num_points > cells:
            raise ValueError(
                f"num_points {self.num_points} exceeds the {cells} cells of the "
                f"{self.feature_height}x{self.feature_width} feature map")

    @property
    def stride(self) -> int:
        """Input pixels per feature-map cell."""
        return 2 ** len(self.blocks_per_stage)

    @property
    def feature_height(self) -> int:
        return self.input_height // self.stride

    @property
    def feature_width(self) -> int:
        return self.input_width // self.stride

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
    # The report's 224x224 configuration: 28x28 map, k=120, 256-wide GCN.
    "paper": ModelConfig(
        input_height=224, input_width=224, **_RGB, width=64, blocks_per_stage=(3, 4, 6),
        num_points=120, gcn_dim=256, hidden=256),
}


def preset(name: str) -> ModelConfig:
    """The preset called `name`; ValueError naming the choices otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
