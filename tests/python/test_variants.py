"""variants.py and evaluate --variant: the test images as a camera might give them."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gcnserve_model import evaluate, variants
from gcnserve_model.config import preset
from gcnserve_model.idx import FASHION_MNIST_DIR
from gcnserve_model.models import build_model


def square() -> np.ndarray:
    image = np.zeros((1, 28, 28), np.uint8)
    image[0, 4:24, 10:18] = 200
    return image


def test_inverted_is_dark_on_light_and_keeps_the_place() -> None:
    image = square()
    inverted = variants.apply(image, "inverted")
    assert inverted[0, 0, 0] == 255 and inverted[0, 10, 12] == 55
    np.testing.assert_array_equal(variants.geometry(image, "inverted"), image)


def test_rotation_and_scale_keep_the_centre_and_fill_with_background() -> None:
    image = square()
    for name in ("rotated15", "scaled70"):
        moved = variants.apply(image, name)
        assert moved.shape == image.shape and moved.dtype == np.uint8
        assert moved[0, 14, 13] == 200 and moved[0, 0, 0] == 0
        np.testing.assert_array_equal(variants.geometry(image, name), moved)
    # 70 %: the 20-pixel-tall bar is 14 tall
    rows = np.nonzero(variants.apply(image, "scaled70")[0, :, 14] > 100)[0]
    assert 13 <= len(rows) <= 15
    # 15 degrees: the bar's top leans left (counter-clockwise)
    top = np.nonzero(variants.apply(image, "rotated15")[0, 6] > 100)[0]
    assert top.mean() < 13.5
    with pytest.raises(ValueError, match="unknown variant"):
        variants.apply(image, "blurred")


@pytest.mark.skipif(not FASHION_MNIST_DIR.exists(), reason="needs dataset-fashion-mnist")
def test_evaluate_on_a_variant(tmp_path: Path) -> None:
    config = preset("tiny")
    torch.manual_seed(0)
    torch.save({"state_dict": build_model(config).state_dict(), "config": config.to_dict()}, tmp_path / "best.pt")
    assert evaluate.main(["--checkpoint", str(tmp_path / "best.pt"), "--limit", "30", "--variant", "inverted",
                          "--out", str(tmp_path / "inverted.json")]) == 0
    result = json.loads((tmp_path / "inverted.json").read_text())
    assert result["variant"] == "inverted" and result["images"] == 30
    # The garment is where it was: the share of garment pixels is the clean images'.
    clean = evaluate.evaluate(*evaluate.load_for_evaluation(tmp_path / "best.pt", None), "test", limit=30)
    assert result["points_on_garment"]["uniform_random_share"] == clean["points_on_garment"]["uniform_random_share"]
