from __future__ import annotations

from pathlib import Path

import cv2

from gcnserve_model.plots import main


def test_writes_curves_and_confusion(tmp_path: Path) -> None:
    history = tmp_path / "history.json"
    history.write_text('[{"epoch": 1, "train_loss": 1.0, "val_loss": 0.9, "train_accuracy": 0.5,'
                       ' "val_accuracy": 0.6}, {"epoch": 2, "train_loss": 0.5, "val_loss": 0.6,'
                       ' "train_accuracy": 0.8, "val_accuracy": 0.7}]')
    evaluation = tmp_path / "eval.json"
    evaluation.write_text('{"confusion_matrix": [[5, 1], [2, 7]], "labels": ["a", "b"]}')
    assert main(["--history", str(history), "--evaluation", str(evaluation),
                 "--name", "m", "--out", str(tmp_path / "plots")]) == 0
    for name in ("m_curves.png", "m_confusion.png"):
        image = cv2.imread(str(tmp_path / "plots" / name))
        assert image is not None and image.shape[0] > 100 and image.shape[1] > 100, name
