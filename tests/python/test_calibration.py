"""calibration.py: the temperature fitted on validation logits, its place in
gcnserve.json, and the exports (export.py, fit.py) that carry it."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from gcnserve_model import calibration, export
from gcnserve_model.calibration import (Calibrated, calibrate, expected_calibration_error, fit_temperature,
                                        temperature_of, validate_calibration)
from gcnserve_model.config import FASHION_MNIST_LABELS, ModelConfig
from gcnserve_model.idx import FASHION_MNIST_DIR
from gcnserve_model.metadata import read_metadata, validate_metadata
from gcnserve_model.models import build_model


def sampled(temperature: float, n: int = 20000, classes: int = 5, seed: int = 0):
    """Logits and labels drawn from softmax(logits / temperature): T is the truth."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, classes, generator=generator) * 3
    labels = torch.multinomial(torch.softmax(logits / temperature, 1), 1, generator=generator).squeeze(1)
    return logits, labels


@pytest.mark.parametrize("truth", [0.5, 1.0, 2.5])
def test_the_fitted_temperature_is_the_one_the_labels_were_drawn_at(truth: float) -> None:
    logits, labels = sampled(truth)
    assert fit_temperature(logits, labels) == pytest.approx(truth, rel=0.05)


def test_calibration_lowers_the_ece_of_an_overconfident_model_and_keeps_the_answers() -> None:
    logits, labels = sampled(2.0)  # the logits are twice as sure as the labels warrant
    c = calibrate(logits, labels)
    assert c["method"] == "temperature" and c["temperature"] > 1.5
    assert c["validation_ece_after"] < c["validation_ece_before"] / 3
    assert torch.equal((logits / c["temperature"]).argmax(1), logits.argmax(1))
    validate_calibration(c)


def test_ece_of_known_cases() -> None:
    labels = torch.tensor([0, 0, 1, 1])
    right = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert expected_calibration_error(right, labels) == 0.0
    # all at 0.8 confidence, 2 of 4 right: |0.5 - 0.8|
    p = torch.tensor([[0.8, 0.2], [0.2, 0.8], [0.2, 0.8], [0.8, 0.2]])
    assert expected_calibration_error(p, labels) == pytest.approx(0.3)
    # two bins: 0.95 all right (gap 0.05), 0.6 none right (gap 0.6), half the images each
    p = torch.tensor([[0.95, 0.05], [0.05, 0.95], [0.6, 0.4], [0.6, 0.4]])
    assert expected_calibration_error(p, torch.tensor([0, 1, 1, 1])) == pytest.approx(0.5 * 0.05 + 0.5 * 0.6)


@pytest.mark.parametrize("broken, message", [
    ({"method": "platt", "temperature": 1.0, "validation_ece_before": 0.1, "validation_ece_after": 0.1}, "method"),
    ({"method": "temperature", "temperature": 0.0, "validation_ece_before": 0.1, "validation_ece_after": 0.1},
     "positive"),
    ({"method": "temperature", "temperature": math.inf, "validation_ece_before": 0.1,
      "validation_ece_after": 0.1}, "finite"),
    ({"method": "temperature", "temperature": 1.0, "validation_ece_before": 0.1}, "validation_ece_after"),
    ({"method": "temperature", "temperature": 1.0, "validation_ece_before": 0.1, "validation_ece_after": 0.1,
      "bias": 2}, "unknown"),
])
def test_bad_calibrations_are_refused(broken, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_calibration(broken)


def test_an_export_carries_its_calibration_and_its_reference_is_calibrated(tmp_path: Path, tiny_model,
                                                                           tiny_config: ModelConfig) -> None:
    generator = torch.Generator().manual_seed(2)
    inputs = [torch.randn(50, 1, 32, 32, generator=generator) for _ in range(2)]
    c = {"method": "temperature", "temperature": 0.001, "validation_ece_before": 0.2, "validation_ece_after": 0.1}
    path = export.export_model(tiny_model, tiny_config, tmp_path, "m", 1, FASHION_MNIST_LABELS,
                               reference_batches=iter(inputs), calibration=c)
    meta = read_metadata(path)
    assert meta["calibration"] == c and temperature_of(meta) == 0.001
    # At T = 0.001 the random model is sure of everything: the reference's
    # confidence is the calibrated one, above 0.99.
    assert sum(meta["reference"]["signals"]["confidence"]["fractions"][-2:]) > 0.9
    uncalibrated = export.export_model(tiny_model, tiny_config, tmp_path, "m", 2, FASHION_MNIST_LABELS,
                                       reference_batches=iter(inputs))
    plain = read_metadata(uncalibrated)
    assert "calibration" not in plain and temperature_of(plain) == 1.0
    assert sum(plain["reference"]["signals"]["confidence"]["fractions"][-2:]) < 0.1
    meta["calibration"]["temperature"] = -1
    with pytest.raises(ValueError, match="positive"):
        validate_metadata(meta)


def test_calibrated_divides_the_logits_only(tiny_model) -> None:
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        plain, scaled = tiny_model(x), Calibrated(tiny_model, 4.0)(x)
    torch.testing.assert_close(scaled["logits"], plain["logits"] / 4.0)
    torch.testing.assert_close(scaled["points"], plain["points"])


@pytest.mark.skipif(not FASHION_MNIST_DIR.exists(), reason="needs dataset-fashion-mnist")
def test_export_cli_calibrates_a_checkpoint_on_fashion_mnist_and_not_random_weights(tmp_path: Path,
                                                                                   tiny_config) -> None:
    torch.manual_seed(1)
    torch.save({"state_dict": build_model(tiny_config).state_dict()}, tmp_path / "ckpt.pt")
    assert export.main(["--preset", "tiny", "--repository", str(tmp_path), "--checkpoint",
                        str(tmp_path / "ckpt.pt")]) == 0
    meta = read_metadata(tmp_path / "model3" / "1" / "model.pt")
    assert meta["calibration"]["temperature"] > 0
    assert export.main(["--preset", "tiny", "--repository", str(tmp_path), "--version", "2"]) == 0
    assert "calibration" not in read_metadata(tmp_path / "model3" / "2" / "model.pt")
    assert export.main(["--preset", "tiny", "--repository", str(tmp_path), "--version", "3", "--checkpoint",
                        str(tmp_path / "ckpt.pt"), "--calibration", "none"]) == 0
    assert "calibration" not in read_metadata(tmp_path / "model3" / "3" / "model.pt")


@pytest.mark.skipif(not FASHION_MNIST_DIR.exists(), reason="needs dataset-fashion-mnist")
def test_rewrite_adds_a_calibration_and_keeps_the_weights(tmp_path: Path, tiny_model, tiny_config) -> None:
    path = export.export_model(tiny_model, tiny_config, tmp_path, "m", 1, FASHION_MNIST_LABELS,
                               reference_batches=[torch.randn(20, 1, 32, 32)])
    before = torch.jit.load(str(path)).state_dict()
    meta = calibration.rewrite_with_calibration(path, limit=300)
    assert read_metadata(path)["calibration"] == meta["calibration"]
    assert meta["reference"]["images"] == 300  # computed again, from the calibrated probabilities
    after = torch.jit.load(str(path)).state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_bundled_exports_carry_a_calibration() -> None:
    repository = Path(__file__).resolve().parents[2] / "model" / "repository"
    for path in sorted(repository.glob("*/[0-9]*/model.pt")):
        c = read_metadata(path)["calibration"]
        assert 0.5 < c["temperature"] < 2.0, path
