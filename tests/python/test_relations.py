"""relations.py: the generated set whose class is where two marked objects
are. Deterministic, balanced, labels that follow from the boxes, and an
objects.json naming every image."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from gcnserve_model import relations
from gcnserve_model.relations import LABELS, OBJECTS_FILE, box_centre, relation, scene, write_set

MODEL_DIR = Path(__file__).resolve().parents[2] / "model"


def digest(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("relations")
    write_set(root, 48, seed=3)
    return root


def test_the_command_writes_the_folder_and_the_same_seed_the_same_bytes(tmp_path: Path, generated: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "gcnserve_model.relations", str(tmp_path / "a"),
                             "--count", "48", "--seed", "3"], cwd=MODEL_DIR, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert digest(tmp_path / "a") == digest(generated)


def test_another_seed_draws_other_images(tmp_path: Path, generated: Path) -> None:
    write_set(tmp_path, 48, seed=4)
    mine, theirs = digest(tmp_path), digest(generated)
    assert mine.keys() == theirs.keys()
    assert all(mine[k] != theirs[k] for k in mine)


def test_an_image_does_not_depend_on_the_count(tmp_path: Path, generated: Path) -> None:
    write_set(tmp_path, 8, seed=3)
    theirs = digest(generated)
    assert all(h == theirs[name] for name, h in digest(tmp_path).items() if name != OBJECTS_FILE)


def test_classes_are_balanced_and_images_are_colour_pngs(generated: Path) -> None:
    counts = {label: len(list((generated / label).glob("*.png"))) for label in LABELS}
    assert counts == {label: 12 for label in LABELS}
    image = cv2.imread(str(next((generated / LABELS[0]).glob("*.png"))), cv2.IMREAD_UNCHANGED)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert not np.array_equal(image[:, :, 0], image[:, :, 2])  # colour, not gray stored as three channels


def test_objects_json_names_every_image_with_two_boxes(generated: Path) -> None:
    objects = json.loads((generated / OBJECTS_FILE).read_text())
    pngs = {str(p.relative_to(generated)) for p in generated.rglob("*.png")}
    assert set(objects) == pngs
    for path, boxes in objects.items():
        assert len(boxes) == 2
        for x0, y0, x1, y1 in boxes:
            assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64
            assert 8 <= x1 - x0 <= 14 and 8 <= y1 - y0 <= 14  # 10 to 14 a side; a diamond or triangle less


def test_labels_follow_from_the_boxes(generated: Path) -> None:
    for path, (red, blue) in relations.read_objects(generated).items():
        assert relation(box_centre(red), box_centre(blue)) == path.split("/")[0], path
        # the two marked objects never touch
        assert red[2] + 2 <= blue[0] or blue[2] + 2 <= red[0] or red[3] + 2 <= blue[1] or blue[3] + 2 <= red[1]


def test_the_boxes_hold_the_red_and_the_blue_object() -> None:
    for index in range(8):
        s = scene(5, index)
        for box, (r, g, b) in zip(s.boxes, (relations.RED, relations.BLUE)):
            x0, y0, x1, y1 = box
            patch = s.image[y0:y1, x0:x1].reshape(-1, 3).astype(np.int64)
            near = np.abs(patch - np.array([r, g, b])).max(1) < 40
            assert near.mean() > 0.4  # most of the box is the object's colour, grain and jitter aside
        assert 2 <= len(s.distractors) <= 4


def test_relation_thresholds() -> None:
    assert relation((10, 30), (30, 30)) == "left-near"
    assert relation((50, 30), (30, 30)) == "right-near"
    assert relation((5, 10), (50, 50)) == "left-far"
    assert relation((55, 5), (10, 40)) == "right-far"
    assert relation((30, 10), (32, 40)) is None  # too little apart in x to say left or right
    assert relation((10, 30), (38, 30)) is None  # between near and far


def test_bad_counts_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--count"):
        write_set(tmp_path, 0)


BUNDLED = MODEL_DIR / "repository" / "relations" / "1" / "model.pt"


@pytest.mark.skipif(not BUNDLED.is_file(), reason="no bundled relations model")
def test_the_bundled_relations_model_answers_a_fresh_set_and_looks_at_the_boxes(tmp_path: Path) -> None:
    from gcnserve_model import explain
    from gcnserve_model.metadata import read_metadata
    meta = read_metadata(BUNDLED)
    assert meta["labels"] == sorted(LABELS) and meta["input"]["color"] == "rgb" and meta["input"]["width"] == 64
    assert meta["metrics"]["test_accuracy"] > 0.95 and meta["calibration"]["temperature"] > 0
    write_set(tmp_path / "train", 200, seed=11)
    write_set(tmp_path / "fresh", 200, seed=12)
    loaded = explain.load(BUNDLED)
    result = explain.explain(loaded, explain.relations_evidence(tmp_path / "fresh", loaded),
                             explain.relations_masks(tmp_path / "train")[1])
    assert result["accuracy"] > 0.9
    assert result["num_points"] <= result["grid_positions"] / 4
    assert result["points_on_objects"]["model_minus_prior"] >= 0.10
