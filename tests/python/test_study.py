"""study.py: configurations trained over seeds through fit, measured on a
generated test set, summarised with paired tests."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gcnserve_model import study
from gcnserve_model.relations import write_set


def test_tags_name_what_changes_the_model() -> None:
    assert study.tag_of("model3", ["--num-points", "8", "--no-augment"]) == "model3-k8"
    assert study.tag_of("model2", ["--nms", "3", "--num-points", "8"]) == "model2-k8-nms3"
    assert study.tag_of("resnet", ["--nms", "0"]) == "resnet"


def test_a_study_trains_measures_resumes_and_compares(tmp_path: Path, capsys) -> None:
    write_set(tmp_path / "train", 40, seed=0)
    write_set(tmp_path / "test", 16, seed=1)
    work = tmp_path / "work"
    common = ["--train", str(tmp_path / "train"), "--test", str(tmp_path / "test"), "--work", str(work),
              "--seeds", "0", "1", "--epochs", "1"]
    fit = ["--", "--preset", "tiny", "--no-augment", "--batch-size", "16", "--workers", "0"]
    assert study.main(["run", *common, "--arch", "model3", *fit, "--num-points", "4"]) == 0
    assert study.main(["run", *common, "--arch", "resnet", *fit]) == 0
    runs = study.read_runs(work)
    assert [r["name"] for r in runs] == ["model3-k4-s0", "model3-k4-s1", "resnet-s0", "resnet-s1"]
    first = runs[0]
    assert first["command"].startswith("cd model && nice -n 10 /usr/bin/python3 -m gcnserve_model.fit ")
    assert "--seed 0" in first["command"] and len(first["predicted"]) == 16 == first["test_images"]
    assert first["explain"]["num_points"] == 4 and "deletion" in first["explain"]
    assert first["temperature"] > 0  # fit's calibration
    assert "points_on_objects" not in runs[2]["explain"]  # the baseline has no points

    assert study.main(["run", *common, "--arch", "resnet", *fit]) == 0  # nothing left to do
    assert "measured already" in capsys.readouterr().out
    assert len(study.read_runs(work)) == 4

    assert study.main(["measure", "--train", str(tmp_path / "train"), "--test", str(tmp_path / "test"),
                       "--work", str(work)]) == 0
    again = study.read_runs(work)
    assert [r["predicted"] for r in again] == [r["predicted"] for r in runs]
    assert again[0]["command"] == first["command"]

    out = tmp_path / "summary.json"
    assert study.main(["summarize", "--work", str(work), "--out", str(out)]) == 0
    summary = json.loads(out.read_text())
    assert set(summary["configurations"]) == {"model3-k4", "resnet"}
    assert summary["configurations"]["model3-k4"]["test_accuracy"]["n"] == 2
    (pair,) = summary["pairs"]
    assert pair["first"] == "model3-k4" and pair["seeds"] == [0, 1] and len(pair["mcnemar_per_seed"]) == 2
    assert pair["mcnemar_pooled"]["images"] == 32


def test_summaries_of_known_runs() -> None:
    labels = [0, 1, 2, 3] * 5
    def record(tag: str, seed: int, right: int) -> dict:
        predicted = [y if i < right else (y + 1) % 4 for i, y in enumerate(labels)]
        return {"name": f"{tag}-s{seed}", "tag": tag, "seed": seed, "labels": labels, "predicted": predicted,
                "test_accuracy": right / 20, "best_val_accuracy": 0.5, "test_ece": 0.1, "test_ece_uncalibrated": 0.2,
                "fit_wall_seconds": 1.0, "test_class_accuracy": {"left-near": 1.0}, "explain": {}}
    runs = [record("a", s, 20) for s in range(3)] + [record("b", s, 10 + s) for s in range(3)]
    summary = study.summarize(runs)
    b = summary["configurations"]["b"]["test_accuracy"]
    assert b["mean"] == pytest.approx(0.55) and b["std"] == pytest.approx(0.05)
    (pair,) = summary["pairs"]
    assert pair["mean_difference"] == pytest.approx(0.45)
    assert pair["mcnemar_pooled"]["only_first_right"] == 10 + 9 + 8 and pair["mcnemar_pooled"]["only_second_right"] == 0
    assert pair["mcnemar_pooled"]["mcnemar_exact_p"] < 1e-6
    assert pair["paired_t_p"] is not None and pair["paired_t_p"] < 0.01


def test_near_and_far_follow_the_models_label_order() -> None:
    labels = [0, 1, 2, 3] * 5  # fit sorts the folders: left-far, left-near, right-far, right-near
    predicted = [y if y in (1, 3) else (y + 1) % 4 for y in labels]  # every far image wrong
    run = {"name": "a-s0", "tag": "a", "seed": 0, "labels": labels, "predicted": predicted, "test_accuracy": 0.5,
           "best_val_accuracy": 0.5, "test_ece": 0.1, "test_ece_uncalibrated": 0.1, "fit_wall_seconds": 1.0,
           "test_class_accuracy": {}, "explain": {},
           "label_names": ["left-far", "left-near", "right-far", "right-near"]}
    entry = study.summarize([run])["configurations"]["a"]
    assert entry["test_accuracy_near"]["mean"] == 1.0 and entry["test_accuracy_far"]["mean"] == 0.0
    del run["label_names"]
    assert study.summarize([run])["configurations"]["a"]["test_accuracy_far"]["mean"] == 0.0
