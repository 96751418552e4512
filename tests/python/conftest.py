"""Shared fixtures. Makes model/ importable without PYTHONPATH and keeps
torch to one thread: these machines have two cores and build C++ too."""
from __future__ import annotations

import sys
from pathlib import Path

MODEL_DIR = Path(__file__).resolve().parents[2] / "model"
if str(MODEL_DIR) not in sys.path:
    sys.path.insert(0, str(MODEL_DIR))

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from gcnserve_model.config import PRESETS, ModelConfig  # noqa: E402
from gcnserve_model.models import build_model  # noqa: E402


@pytest.fixture
def tiny_config() -> ModelConfig:
    return PRESETS["tiny"]


@pytest.fixture
def tiny_model(tiny_config: ModelConfig) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(tiny_config).eval()
