"""camera.py's augmentation, and train.py's --camera-augment and --init."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gcnserve_model import camera, train, variants
from gcnserve_model.camera import CameraAugment
from gcnserve_model.config import preset
from gcnserve_model.data import FashionMNIST, input_meta
from gcnserve_model.idx import FASHION_MNIST_DIR
from gcnserve_model.models import build_model
from gcnserve_model.preprocess import preprocess

needs_dataset = pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="dataset-fashion-mnist is not installed")

NOTHING = CameraAugment(flip=0, affine=0, invert=0, tone=0, gamma=0, blur=0, noise=0)


def _garment() -> np.ndarray:
    image = np.zeros((28, 28), dtype=np.uint8)
    image[6:22, 9:19] = 200
    image[6:10, 5:23] = 150  # sleeves
    return image


def test_nothing_drawn_leaves_the_image_and_inversion_alone_inverts() -> None:
    image = _garment()
    rng = np.random.default_rng(0)
    out = NOTHING(image, rng)
    assert out.dtype == np.uint8 and out.shape == image.shape and np.array_equal(out, image)
    inverted = CameraAugment(flip=0, affine=0, invert=1, tone=0, gamma=0, blur=0, noise=0)(image, rng)
    assert np.array_equal(inverted, 255 - image)


def test_warp_matches_the_variants_and_shifts_by_whole_pixels() -> None:
    image = _garment()
    assert np.array_equal(camera.warp(image, 0.0, 1.0), image)
    assert np.array_equal(camera.warp(image, 15.0, 1.0), variants.apply(image[None], "rotated15")[0])
    assert np.array_equal(camera.warp(image, 0.0, 0.7), variants.apply(image[None], "scaled70")[0])
    moved = camera.warp(image, 0.0, 1.0, 2.0, -1.0)
    assert np.array_equal(moved[5:21, 11:21], image[6:22, 9:19])


def test_the_settings_draw_repeatably_and_change_images() -> None:
    image = _garment()
    for setting in camera.SETTINGS.values():
        a = [setting(image, np.random.default_rng(7)) for _ in range(2)]
        assert np.array_equal(a[0], a[1])
        drawn = [setting(image, np.random.default_rng(seed)) for seed in range(40)]
        assert all(d.dtype == np.uint8 and d.shape == (28, 28) for d in drawn)
        assert sum(not np.array_equal(d, image) for d in drawn) >= 30
        # Both polarities occur: a light background (inverted) in some, dark in others.
        corners = [int(d[0, 0]) for d in drawn]
        assert min(corners) < 60 and max(corners) > 180


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="probability"):
        CameraAugment(invert=1.5)
    with pytest.raises(ValueError, match="min_scale"):
        CameraAugment(min_scale=1.2, max_scale=1.0)


@needs_dataset
def test_camera_items_are_the_served_preprocessing_of_the_augmented_image() -> None:
    config = preset("tiny")
    dataset = FashionMNIST("train", config, augment=True, limit=3, seed=4, camera=camera.CAMERA)
    replay = np.random.default_rng(4)
    for i in range(3):
        x, _ = dataset[i]
        ok, png = cv2.imencode(".png", camera.CAMERA(dataset.raw(i), replay))
        assert ok
        np.testing.assert_array_equal(x.numpy(), preprocess(png.tobytes(), input_meta(config)))


def _args(out: Path, *extra: str):
    return train.parse_args(["--arch", "model3", "--preset", "tiny", "--epochs", "1", "--batch-size", "16",
                             "--train-limit", "32", "--val-limit", "16", "--warmup-steps", "1",
                             "--out", str(out), "--device", "cpu", *extra])


@needs_dataset
def test_camera_training_validates_on_the_variants_and_selects_on_their_mean(tmp_path: Path) -> None:
    train.train(_args(tmp_path, "--camera-augment", "mild"))
    record = json.loads((tmp_path / "history.json").read_text())[0]
    assert sorted(record["val_variant_accuracy"]) == sorted(variants.VARIANTS)
    best = torch.load(str(tmp_path / "best.pt"))
    assert best["camera_augment"] == camera.MILD.to_dict()
    assert train.selection_score(record) == pytest.approx(
        (record["val_accuracy"] + sum(record["val_variant_accuracy"].values())) / 4)
    assert train.selection_score({"val_accuracy": 0.5}) == 0.5  # without the variants, as before


@needs_dataset
def test_init_starts_every_weight_from_a_checkpoint_or_an_export(tmp_path: Path) -> None:
    from gcnserve_model import export
    config = preset("tiny")
    torch.manual_seed(3)
    source = build_model(config).eval()
    torch.save({"state_dict": source.state_dict(), "config": config.to_dict()}, tmp_path / "source.pt")
    exported = export.export_model(source, config, tmp_path / "repo", "model3", 1,
                                   [str(i) for i in range(config.num_classes)])
    for path in (tmp_path / "source.pt", exported):
        target = build_model(config)
        train.load_init(target, path)
        for key, value in source.state_dict().items():
            torch.testing.assert_close(target.state_dict()[key], value, rtol=0, atol=0, msg=key)
    # train --init with no step taken (lr 0) leaves the weights as they were.
    train.train(_args(tmp_path / "run", "--init", str(exported), "--lr", "0"))
    trained = torch.load(str(tmp_path / "run" / "last.pt"))["state_dict"]
    for key, value in source.state_dict().items():
        if not key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            torch.testing.assert_close(trained[key], value, rtol=0, atol=0, msg=key)


def test_every_check_gives_a_28x28_uint8_image_repeatably() -> None:
    image = _garment()
    for name, check in camera.CHECKS.items():
        a, b = check(image, np.random.default_rng(1)), check(image, np.random.default_rng(1))
        assert a.dtype == np.uint8 and a.shape == (28, 28), name
        assert np.array_equal(a, b), name
        assert not np.array_equal(a, image), name


@needs_dataset
def test_the_checks_cli_measures_an_export(tmp_path: Path) -> None:
    from gcnserve_model import export
    config = preset("tiny")
    torch.manual_seed(0)
    path = export.export_model(build_model(config).eval(), config, tmp_path / "repo", "model3", 1,
                               [str(i) for i in range(config.num_classes)])
    out = tmp_path / "checks.json"
    assert camera.main(["--model", str(path), "--check", "blurred", "--check", "noisy", "--limit", "12",
                        "--out", str(out)]) == 0
    figures = json.loads(out.read_text())["results"][str(path)]
    assert sorted(figures) == ["blurred", "noisy"]
    assert all(0 <= f["accuracy"] <= 1 and 0 <= f["ece"] <= 1 and f["temperature"] == 1.0 for f in figures.values())
