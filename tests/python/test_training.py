"""data.py, train.py and evaluate.py on tiny configurations."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gcnserve_model import evaluate, train
from gcnserve_model.config import preset
from gcnserve_model.data import FashionMNIST, input_meta, shift_image, split_indices
from gcnserve_model.idx import FASHION_MNIST_DIR
from gcnserve_model.models import build_model
from gcnserve_model.preprocess import preprocess

needs_dataset = pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="dataset-fashion-mnist is not installed")


def test_split_is_fixed_disjoint_and_complete() -> None:
    train_idx, val_idx = split_indices(60000)
    assert len(train_idx) == 55000 and len(val_idx) == 5000
    assert not set(train_idx) & set(val_idx)
    assert len(set(train_idx) | set(val_idx)) == 60000
    again = split_indices(60000)
    assert np.array_equal(again[1], val_idx)


def test_shift_image_pads_with_zeros() -> None:
    image = np.arange(16, dtype=np.uint8).reshape(4, 4) + 1
    moved = shift_image(image, 1, -2)  # right by 1, up by 2
    assert np.array_equal(moved[:2, 1:], image[2:, :3])
    assert (moved[:, 0] == 0).all() and (moved[2:] == 0).all()
    assert np.array_equal(shift_image(image, 0, 0), image)
    assert (shift_image(image, 5, 0) == 0).all()


@needs_dataset
@pytest.mark.parametrize("arch, name", [("model3", "compact"), ("model2", "paper"), ("model3", "tiny")])
def test_dataset_tensors_equal_the_served_preprocessing(arch: str, name: str) -> None:
    config = preset(name, arch)
    dataset = FashionMNIST("test", config, limit=5)
    for i in range(5):
        ok, png = cv2.imencode(".png", dataset.raw(i))
        assert ok
        served = preprocess(png.tobytes(), input_meta(config))
        x, label = dataset[i]
        assert x.shape == (config.channels, config.input_height, config.input_width)
        assert label == int(dataset.labels[i])
        np.testing.assert_array_equal(x.numpy(), served)


@needs_dataset
def test_augmented_items_are_served_preprocessing_of_a_moved_image() -> None:
    config = preset("tiny")
    dataset = FashionMNIST("train", config, augment=True, max_shift=2, limit=4, seed=1)
    x, _ = dataset[0]
    assert x.shape == (1, 32, 32) and x.dtype == torch.float32
    # Same rng draws, replayed by hand.
    replay = np.random.default_rng(1)
    image = dataset.raw(0)
    if replay.random() < 0.5:
        image = image[:, ::-1]
    dx, dy = replay.integers(-2, 3, size=2)
    image = np.ascontiguousarray(shift_image(image, int(dx), int(dy)))
    ok, png = cv2.imencode(".png", image)
    np.testing.assert_array_equal(x.numpy(), preprocess(png.tobytes(), input_meta(config)))


def _train(out: Path, *extra: str) -> dict:
    args = train.parse_args(["--arch", "model3", "--preset", "tiny", "--epochs", "2", "--batch-size", "16",
                             "--train-limit", "64", "--val-limit", "32", "--warmup-steps", "2",
                             "--out", str(out), "--device", "cpu", *extra])
    return train.train(args)


@needs_dataset
def test_train_checkpoints_and_resumes_to_the_same_weights(tmp_path: Path) -> None:
    straight = _train(tmp_path / "a")
    assert straight["epochs"] == 2
    for name in ("last.pt", "best.pt", "history.json"):
        assert (tmp_path / "a" / name).is_file()
    history = json.loads((tmp_path / "a" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(0 <= h["val_accuracy"] <= 1 for h in history)

    _train(tmp_path / "b", "--stop-after", "1")
    assert len(json.loads((tmp_path / "b" / "history.json").read_text())) == 1
    _train(tmp_path / "b", "--resume")
    a = torch.load(str(tmp_path / "a" / "last.pt"))["state_dict"]
    b = torch.load(str(tmp_path / "b" / "last.pt"))["state_dict"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)

    best = torch.load(str(tmp_path / "a" / "best.pt"))
    assert set(best) >= {"state_dict", "config", "epoch", "val_accuracy"}


@needs_dataset
def test_train_resume_refuses_another_configuration(tmp_path: Path) -> None:
    _train(tmp_path, "--stop-after", "1")
    args = train.parse_args(["--arch", "model2", "--preset", "tiny", "--epochs", "2", "--train-limit", "64",
                             "--val-limit", "32", "--out", str(tmp_path), "--resume", "--device", "cpu"])
    with pytest.raises(ValueError, match="another configuration"):
        train.train(args)


def test_points_on_garment_maps_input_pixels_to_the_original_image() -> None:
    images = np.zeros((1, 28, 28), dtype=np.uint8)
    images[0, 10:14, 20:24] = 200  # a small garment: rows 10-13, columns 20-23
    # 64x64 input: x 48 -> 48 * 28 / 64 = 21 (on); x 8 -> 3.5 (off).
    points = np.array([[[48.0, 26.0], [8.0, 26.0], [52.0, 30.0]]])
    on = evaluate.points_on_garment(points, images, 64, 64)
    assert on.tolist() == [[True, False, True]]
    stats = evaluate.point_statistics(points, images, 64, 64, [8])
    assert stats["model_share"] == pytest.approx(2 / 3)
    assert stats["uniform_random_share"] == pytest.approx(16 / 784)
    assert 0 <= stats["random_cells_share"] <= 1 and stats["best_possible_share"] <= 1



def test_repeated_points_are_those_inside_a_coarser_maps_cell() -> None:
    # Level 0 has stride 2, level 1 stride 8. (9, 9) lies in the stride-8
    # cell of (12, 12); (17, 1) does not; the stride-8 point itself is not
    # repeated, nor is a point of the same map in the same cell.
    points = np.array([[[12.0, 12.0], [9.0, 9.0], [17.0, 1.0], [13.0, 13.0]]])
    levels = np.array([[1, 0, 0, 1]])
    assert evaluate.repeated_points(points, levels, [2, 8]).tolist() == [[False, True, False, False]]
    images = np.zeros((1, 28, 28), dtype=np.uint8)
    stats = evaluate.point_statistics(points, images, 64, 64, [2, 8], levels)
    assert stats["repeated_share"] == 0.25
    assert evaluate.point_statistics(points[:, :2], images, 64, 64, [8])["repeated_share"] == 0.0

def test_grid_centres_are_row_major_cell_centres() -> None:
    centres = evaluate.grid_centres(64, 32, 4, 2)
    assert centres.shape == (8, 2)
    assert centres[0].tolist() == [8.0, 8.0] and centres[1].tolist() == [24.0, 8.0]
    assert centres[4].tolist() == [8.0, 24.0]


@needs_dataset
@pytest.mark.parametrize("arch", ["model1", "model3", "resnet"])
def test_evaluate_reports_accuracy_confusion_and_points(arch: str) -> None:
    config = preset("tiny", arch)
    torch.manual_seed(0)
    model = build_model(config).eval()
    result = evaluate.evaluate(model, config, "test", limit=40)
    assert result["images"] == 40 and 0 <= result["accuracy"] <= 1
    confusion = np.array(result["confusion_matrix"])
    assert confusion.shape == (10, 10) and confusion.sum() == 40
    assert len(result["per_class_accuracy"]) == 10
    if config.has_graph:
        stats = result["points_on_garment"]
        assert stats["num_points"] == config.num_points
        assert len(stats["per_level"]) == len(config.feature_maps)
    else:
        assert "points_on_garment" not in result


@needs_dataset
def test_evaluate_cli_on_a_checkpoint_and_on_an_export(tmp_path: Path, capsys) -> None:
    from gcnserve_model import export
    config = preset("tiny")
    torch.manual_seed(0)
    model = build_model(config).eval()
    torch.save({"state_dict": model.state_dict(), "config": config.to_dict()}, tmp_path / "best.pt")
    assert evaluate.main(["--checkpoint", str(tmp_path / "best.pt"), "--limit", "30",
                          "--out", str(tmp_path / "eval.json")]) == 0
    from_checkpoint = json.loads((tmp_path / "eval.json").read_text())
    path = export.export_model(model, config, tmp_path / "repo", "model3", 1, from_checkpoint["labels"])
    assert evaluate.main(["--model", str(path), "--limit", "30", "--out", str(tmp_path / "eval2.json")]) == 0
    from_export = json.loads((tmp_path / "eval2.json").read_text())
    assert from_export["accuracy"] == from_checkpoint["accuracy"]
    assert from_export["points_on_garment"]["model_share"] == from_checkpoint["points_on_garment"]["model_share"]
    assert from_export["calibration"]["temperature"] == 1.0  # no calibration in the export: T = 1

    # An export's calibration.temperature makes the probabilities evaluate reports.
    c = {"method": "temperature", "temperature": 0.05, "validation_ece_before": 0.0, "validation_ece_after": 0.0}
    calibrated = export.export_model(model, config, tmp_path / "repo", "model3", 2, from_checkpoint["labels"],
                                     calibration=c)
    assert evaluate.main(["--model", str(calibrated), "--limit", "30", "--out", str(tmp_path / "eval3.json")]) == 0
    figures = json.loads((tmp_path / "eval3.json").read_text())
    assert figures["accuracy"] == from_export["accuracy"]
    assert figures["calibration"]["temperature"] == 0.05
    assert figures["calibration"]["ece_uncalibrated"] == pytest.approx(from_export["calibration"]["ece"])
    assert figures["calibration"]["mean_confidence"] > from_export["calibration"]["mean_confidence"]



@needs_dataset
def test_evaluate_options_change_a_checkpoint_but_not_an_export(tmp_path: Path) -> None:
    from gcnserve_model import export
    config = preset("tiny", "model1")
    torch.manual_seed(0)
    model = build_model(config).eval()
    torch.save({"state_dict": model.state_dict(), "config": config.to_dict()}, tmp_path / "best.pt")
    plain = tmp_path / "plain.json"
    with_options = tmp_path / "options.json"
    assert evaluate.main(["--checkpoint", str(tmp_path / "best.pt"), "--limit", "20", "--out", str(plain)]) == 0
    assert evaluate.main(["--checkpoint", str(tmp_path / "best.pt"), "--limit", "20", "--nms", "3",
                          "--dedup", "on", "--out", str(with_options)]) == 0
    assert json.loads(plain.read_text())["options"] == {"nms": 0, "dedup": False}
    assert json.loads(with_options.read_text())["options"] == {"nms": 3, "dedup": True}
    reloaded, changed = evaluate.load_for_evaluation(tmp_path / "best.pt", None, {"nms": 3, "dedup": True})
    assert (changed.nms, changed.dedup) == (3, True) and (reloaded.nms, reloaded.dedup) == (3, True)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[key], value)
    path = export.export_model(model, config, tmp_path / "repo", "model1", 1, [str(i) for i in range(10)])
    with pytest.raises(ValueError, match="only be changed for a --checkpoint"):
        evaluate.load_for_evaluation(None, path, {"nms": 3})


def test_backbone_weights_come_from_another_models_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(1)
    baseline = build_model(preset("tiny", "resnet"))
    torch.save({"state_dict": baseline.state_dict()}, tmp_path / "resnet.pt")
    torch.manual_seed(2)
    model3 = build_model(preset("tiny", "model3"))
    copied = train.load_backbone(model3, tmp_path / "resnet.pt")
    assert copied == len(baseline.trunk.state_dict())
    for key, value in baseline.trunk.state_dict().items():
        torch.testing.assert_close(model3.trunk.state_dict()[key], value)
    with pytest.raises(ValueError, match="resnet.pt does not fit the model's backbone"):
        train.load_backbone(build_model(preset("tiny", "model1")), tmp_path / "resnet.pt")


def test_cell_touches_garment_uses_the_cells_original_pixels() -> None:
    images = np.zeros((1, 28, 28), dtype=np.uint8)
    images[0, 0, 4] = 255  # x 4 in the original is x 9.1 in a 64-pixel input: cell column 1 (x 8..16)
    touch = evaluate.cells_touching_garment(images, 64, 64, 8).reshape(8, 8)
    # Column 1 of the original's 3.5-pixel cells spans x 3..6 (3.5..7 widened to whole pixels).
    assert touch[0].tolist() == [False, True, False, False, False, False, False, False]
    assert not touch[1:].any()
    stats = evaluate.point_statistics(np.array([[[12.0, 4.0], [36.0, 36.0]]]), images, 64, 64, [8])
    assert stats["model_cell_touches_garment"] == 0.5
    assert stats["random_cell_touches_garment"] == pytest.approx(1 / 64)


def test_mcnemar_exact_matches_the_binomial_tail() -> None:
    from gcnserve_model.compare import mcnemar_exact, paired
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0
    # 0 against 6: both tails of Bin(6, 1/2) at the extremes, 2 / 64.
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(6, 0) == mcnemar_exact(0, 6)
    # 1 against 9: 2 * (1 + 10) / 1024.
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    first = np.array([True, True, False, False, True])
    second = np.array([True, False, True, False, False])
    counts = paired(first, second)
    assert (counts["only_first_right"], counts["only_second_right"]) == (2, 1)
    assert (counts["both_right"], counts["both_wrong"]) == (1, 1)
    assert counts["first_accuracy"] == pytest.approx(0.6)


@needs_dataset
def test_compare_cli_on_a_checkpoint_and_its_export(tmp_path: Path, capsys) -> None:
    from gcnserve_model import compare, export
    config = preset("tiny")
    torch.manual_seed(0)
    model = build_model(config).eval()
    torch.save({"state_dict": model.state_dict(), "config": config.to_dict()}, tmp_path / "best.pt")
    path = export.export_model(model, config, tmp_path / "repo", "model3", 1, [str(i) for i in range(10)])
    assert compare.main(["--checkpoint", str(tmp_path / "best.pt"), "--checkpoint", str(path),
                         "--limit", "40"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 40
    assert result["only_first_right"] == result["only_second_right"] == 0, "the same model twice"
    assert result["mcnemar_exact_p"] == 1.0
