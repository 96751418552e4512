"""fit.py, folder.py and weights.py: a folder of generated shape photos
trained for a few steps, exported, and served; the paper presets' ResNet-50
trunk and its weights; two gloo processes. The slow tests (marked `slow`)
run in scripts/test.sh; `-m "not slow"` leaves them out."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
import pytest
import torch

from gcnserve_model import fit
from gcnserve_model.calibration import temperature_of
from gcnserve_model.config import PRESETS_BY_ARCH, preset
from gcnserve_model.data import input_meta
from gcnserve_model.export import export_model
from gcnserve_model.folder import (Augment, FolderError, PhotoDataset, collate_skipping, measure_statistics, scan,
                                   stratified_split)
from gcnserve_model.metadata import read_metadata
from gcnserve_model.models import build_model
from gcnserve_model.preprocess import preprocess
from gcnserve_model.photos import write_folder
from gcnserve_model.weights import WeightsError, load_backbone

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "model"
BUILD = Path(os.environ.get("GCNSERVE_BUILD", ROOT / "build"))
SERVER = BUILD / "server" / "gcnserve"
STUBS = BUILD / "client" / "python"


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    """3 classes x 8 generated photos (JPEG, PNG, WebP, BMP; 48 to 200
    pixels; some gray), plus an undecodable and a truncated file."""
    root = tmp_path_factory.mktemp("shapes")
    write_folder(root, 8, ("circle", "square", "triangle"), background="plain", seed=3)
    (root / "circle" / "broken.jpg").write_bytes(b"not an image at all")
    whole = (root / "square" / "00000.jpg").read_bytes()
    (root / "square" / "truncated.jpg").write_bytes(whole[:len(whole) // 3])
    return root


def run_fit(*args: str, env: Dict[str, str] = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gcnserve_model.fit", *args], cwd=MODEL_DIR,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(MODEL_DIR), **(env or {})})


SMOKE = ("--preset", "tiny", "--batch-size", "8", "--workers", "1", "--threads", "1")


def test_scan_finds_classes_and_holds_out_a_stratified_split(shapes: Path) -> None:
    folder = scan(shapes, val_fraction=0.25, seed=0)
    assert folder.labels == ["circle", "square", "triangle"] and folder.held_out
    assert len(folder.train) + len(folder.val) == 26
    per_class = [sum(1 for _, y in folder.val if y == c) for c in range(3)]
    assert per_class == [2, 2, 2]  # round(9 * 0.25), round(9 * 0.25), round(8 * 0.25)
    assert not {p for p, _ in folder.train} & {p for p, _ in folder.val}
    assert scan(shapes, 0.25, 0).val == folder.val and scan(shapes, 0.25, 1).val != folder.val


def test_scan_takes_train_and_val_folders(tmp_path: Path) -> None:
    write_folder(tmp_path / "train", 3, ("circle", "star"), background="plain")
    write_folder(tmp_path / "val", 2, ("star",), background="plain")
    folder = scan(tmp_path)
    assert folder.labels == ["circle", "star"] and not folder.held_out
    assert len(folder.train) == 6 and [y for _, y in folder.val] == [1, 1]
    write_folder(tmp_path / "val", 1, ("square",), background="plain")
    with pytest.raises(FolderError, match=r"classes \['square'\] are not in"):
        scan(tmp_path)


def test_a_class_of_one_image_trains_only() -> None:
    train, val = stratified_split({"a": [Path("a1")], "b": [Path(f"b{i}") for i in range(4)]}, 0.2, 0)
    assert [p.name for p, _ in train].count("a1") == 1 and len(val) == 1


@pytest.mark.parametrize("make, message", [
    (lambda d: None, "no such folder"),
    (lambda d: d.mkdir(), "no images in class subfolders"),
    (lambda d: write_folder(d, 2, ("circle",), background="plain"), "only one class"),
])
def test_bad_folders_are_one_line_errors_before_training(tmp_path: Path, make, message: str) -> None:
    data = tmp_path / "data"
    make(data)
    result = run_fit(str(data), "--repository", str(tmp_path / "repo"), "--name", "m", *SMOKE)
    assert result.returncode == 2, result.stderr
    assert re.fullmatch(rf"fit: {data}.*{message}.*\n", result.stderr), result.stderr
    assert not (tmp_path / "repo" / "m").exists()


def test_a_folder_of_no_readable_image_is_refused(tmp_path: Path) -> None:
    for label in ("a", "b"):
        (tmp_path / "data" / label).mkdir(parents=True)
        (tmp_path / "data" / label / "x.png").write_bytes(b"\x89PNG nothing")
    result = run_fit(str(tmp_path / "data"), "--repository", str(tmp_path / "repo"), "--name", "m", *SMOKE)
    assert result.returncode == 2
    assert "none of the" in result.stderr and "could be decoded" in result.stderr


def test_items_are_the_servers_tensors_and_augmentation_keeps_the_input(shapes: Path) -> None:
    config = preset("tiny").replace(color="rgb", channels=3, mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.25))
    folder = scan(shapes)
    plain = PhotoDataset(folder.train, input_meta(config))
    for i in range(len(folder.train)):
        item = plain[i]
        path = folder.train[i][0]
        if item is None:
            with pytest.raises(ValueError):
                preprocess(path.read_bytes(), input_meta(config))
            continue
        np.testing.assert_array_equal(item[0].numpy(), preprocess(path.read_bytes(), input_meta(config)))
    augmented = PhotoDataset(folder.train, input_meta(config), Augment(), seed=1)
    x, _ = augmented[0]
    assert x.shape == (3, 32, 32)
    again = PhotoDataset(folder.train, input_meta(config), Augment(), seed=1)[0][0]
    torch.testing.assert_close(x, again)  # seeded by (seed, epoch, index): the same in any worker
    augmented.set_epoch(1)
    assert not torch.equal(augmented[0][0], x)
    xs, ys, skipped = collate_skipping([plain[0], None, plain[1]])
    assert xs.shape == (2, 3, 32, 32) and skipped == 1


def test_statistics_are_measured_on_the_images(tmp_path: Path) -> None:
    for label, value in (("dark", 51), ("light", 204)):
        (tmp_path / label).mkdir()
        cv2.imwrite(str(tmp_path / label / "a.png"), np.full((40, 40, 3), value, np.uint8))
    folder = scan(tmp_path, 0.5)
    stats = measure_statistics(folder.train + folder.val, input_meta(preset("tiny")))
    assert stats.readable == 2 and stats.unreadable == 0
    assert stats.mean[0] == pytest.approx(0.5) and stats.std[0] == pytest.approx(0.3)


def served_probabilities(repository: Path, images: List[Path], name: str) -> List[np.ndarray]:
    """Each image's probabilities per class index from gcnserve over gRPC."""
    sys.path[:0] = [str(ROOT / "client" / "python"), str(STUBS)]
    from gcnserve_client import ClassifierClient
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    proc = subprocess.Popen([str(SERVER), "--model-repository", str(repository), "--grpc-address", "127.0.0.1:0",
                             "--metrics-address", "", "--http-address", "", "--intra-op-threads", "1",
                             "--instances", "1", "--max-batch-size", "2"], stderr=log)
    try:
        port = None
        for _ in range(600):
            match = re.search(r" on port (\d+),", Path(log.name).read_text())
            if match:
                port = match.group(1)
                break
            assert proc.poll() is None, Path(log.name).read_text()
            time.sleep(0.1)
        assert port, "gcnserve did not start: " + Path(log.name).read_text()
        with ClassifierClient(f"127.0.0.1:{port}", timeout=30) as client:
            out = []
            for path in images:
                response = client.classify_file(path, model=name, top_k=0, graph="none")
                probabilities = np.zeros(len(response.classes))
                for c in response.classes:
                    probabilities[c.index] = c.probability
                out.append(probabilities)
            return out
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        os.unlink(log.name)


def test_fit_trains_exports_the_next_version_and_is_served(shapes: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    result = run_fit(str(shapes), "--repository", str(repo), "--name", "shapes", "--max-steps", "3",
                     "--epochs", "2", "--color", "rgb", "--val-fraction", "0.25", *SMOKE)
    assert result.returncode == 0, result.stderr
    assert "1 of 20 training images cannot be decoded" in result.stdout or \
           "2 of 20 training images cannot be decoded" in result.stdout, result.stdout
    assert re.search(r"\d+ unreadable images skipped", result.stdout), result.stdout
    model_file = repo / "shapes" / "1" / "model.pt"
    assert f"exported {model_file} (version 1)" in result.stdout
    meta = read_metadata(model_file)
    assert meta["labels"] == ["circle", "square", "triangle"] and meta["dataset"] == shapes.name
    assert meta["input"]["color"] == "rgb" and meta["input"]["width"] == 32
    assert meta["input"]["mean"] != list(preset("tiny").mean) * 3  # measured on the images
    for key in ("val_accuracy", "val_ece", "val_loss", "val_accuracy[circle]", "epoch"):
        assert key in meta["metrics"], meta["metrics"]
    # A temperature fitted on the validation images (calibration.py)
    assert meta["calibration"]["method"] == "temperature" and meta["calibration"]["temperature"] > 0
    assert meta["calibration"]["validation_ece_before"] == pytest.approx(meta["metrics"]["val_ece"])
    assert (repo / ".fit" / "shapes" / "last.pt").is_file()

    again = run_fit(str(shapes), "--repository", str(repo), "--name", "shapes", "--max-steps", "1",
                    "--color", "rgb", "--val-fraction", "0.25", "--num-points", "4", "--nms", "3",
                    "--no-calibration", *SMOKE)
    assert again.returncode == 0, again.stderr
    second = read_metadata(repo / "shapes" / "2" / "model.pt")
    assert second["num_points"] == 4 and "calibration" not in second
    assert torch.load(str(repo / ".fit" / "shapes" / "best.pt"))["config"]["nms"] == 3

    if not SERVER.is_file() or not (STUBS / "gcnserve" / "v1" / "gcnserve_pb2.py").is_file():
        pytest.skip(f"{SERVER} or the Python stubs are not built (scripts/build.sh)")
    module = torch.jit.load(str(model_file))
    images = sorted(p for p in (shapes / "triangle").iterdir())[:4]
    expected = []
    with torch.no_grad():
        for path in images:
            x = torch.from_numpy(preprocess(path.read_bytes(), meta["input"]))[None]
            # The server divides the logits by calibration.temperature before the softmax.
            logits = module(x)["logits"]
            expected.append(torch.softmax(logits / temperature_of(meta), 1)[0].numpy())
    # Only version 1 in the repository served: the server's newest would be 2.
    import shutil
    shutil.rmtree(repo / "shapes" / "2")
    served = served_probabilities(repo, images, "shapes")
    for want, got in zip(expected, served):
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_resume_continues_from_the_last_epoch(shapes: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    first = run_fit(str(shapes), "--repository", str(repo), "--name", "m", "--epochs", "1", *SMOKE)
    assert first.returncode == 0, first.stderr
    second = run_fit(str(shapes), "--repository", str(repo), "--name", "m", "--epochs", "2", "--resume", *SMOKE)
    assert second.returncode == 0, second.stderr
    assert "resumed from" in second.stdout and "after epoch 1" in second.stdout
    assert "epoch 2/2" in second.stdout and "epoch 1/2:" not in second.stdout
    assert (repo / "m" / "2" / "model.pt").is_file()


def torchvision_state(depth: int) -> Dict[str, torch.Tensor]:
    import torchvision
    torch.manual_seed(depth)
    return getattr(torchvision.models, f"resnet{depth}")(weights=None).state_dict()


def test_a_torchvision_resnet50_state_dict_loads_whole(tmp_path: Path) -> None:
    state = torchvision_state(50)
    torch.save(state, tmp_path / "resnet50.pth")
    model = build_model(preset("imagenette", "model3").replace(num_classes=5))
    copied = load_backbone(model, tmp_path / "resnet50.pth")
    trunk = model.trunk.state_dict()
    assert copied == len(trunk)
    assert all(k.startswith(("conv1", "bn1", "layer1", "layer2")) for k in trunk)
    torch.testing.assert_close(model.trunk.conv1.weight, state["conv1.weight"])
    torch.testing.assert_close(model.trunk.layer2[3].bn3.running_var, state["layer2.3.bn3.running_var"])
    baseline = build_model(preset("tiny-imagenet", "resnet"))
    assert load_backbone(baseline, tmp_path / "resnet50.pth") == len(baseline.trunk.state_dict())
    torch.testing.assert_close(baseline.trunk.layer4[2].conv3.weight, state["layer4.2.conv3.weight"])


def test_a_resnet18_state_dict_is_refused_naming_the_file_and_tensor(tmp_path: Path) -> None:
    torch.save(torchvision_state(18), tmp_path / "resnet18.pth")
    model = build_model(preset("imagenette", "model3"))
    before = model.trunk.conv1.weight.clone()
    with pytest.raises(WeightsError, match=r"resnet18\.pth does not fit the model's trunk: layer1\.0\.conv1\.weight "
                                           r"is \[64, 64, 3, 3\] in the file, \[64, 64, 1, 1\] in the model"):
        load_backbone(model, tmp_path / "resnet18.pth")
    torch.testing.assert_close(model.trunk.conv1.weight, before)  # nothing copied
    compact = build_model(preset("compact", "resnet"))
    torch.save({"state_dict": compact.state_dict()}, tmp_path / "compact.pt")
    with pytest.raises(WeightsError, match=r"compact\.pt does not fit the model's trunk: it has no conv1\.weight"):
        load_backbone(model, tmp_path / "compact.pt")


def test_fit_refuses_a_weights_file_that_does_not_fit_before_training(shapes: Path, tmp_path: Path) -> None:
    torch.save(torchvision_state(18), tmp_path / "resnet18.pth")
    result = run_fit(str(shapes), "--repository", str(tmp_path / "repo"), "--name", "m", "--preset", "tiny-imagenet",
                     "--backbone-weights", str(tmp_path / "resnet18.pth"), "--max-steps", "1", "--workers", "0")
    assert result.returncode == 2
    assert result.stderr.startswith(f"fit: {tmp_path / 'resnet18.pth'} does not fit the model's trunk: layer1.0.conv1")
    assert "epoch" not in result.stdout


def test_freeze_backbone_trains_the_rest_only(shapes: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    trunk_source = build_model(preset("tiny", "resnet").replace(color="rgb", channels=3, mean=(0.5,) * 3,
                                                                 std=(0.25,) * 3))
    torch.save({"state_dict": trunk_source.state_dict()}, tmp_path / "trunk.pt")
    repo = tmp_path / "repo"
    result = run_fit(str(shapes), "--repository", str(repo), "--name", "m", "--backbone-weights",
                     str(tmp_path / "trunk.pt"), "--freeze-backbone", "--max-steps", "2", *SMOKE)
    assert result.returncode == 0, result.stderr
    assert f"loaded {len(trunk_source.trunk.state_dict())} trunk tensors" in result.stdout
    saved = torch.load(str(repo / ".fit" / "m" / "best.pt"))["state_dict"]
    for key, value in trunk_source.trunk.state_dict().items():
        torch.testing.assert_close(saved["trunk." + key], value)  # weights and BatchNorm statistics


@pytest.mark.slow
def test_paper_presets_forward_export_and_load_in_libtorch(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    names = []
    for arch, presets in PRESETS_BY_ARCH.items():
        for name in ("tiny-imagenet", "imagenette"):
            if name not in presets:
                continue
            config = presets[name].replace(num_classes=4)
            torch.manual_seed(0)
            model = build_model(config).eval()
            with torch.no_grad():
                out = model(torch.randn(1, 3, config.input_height, config.input_width))
            assert out["logits"].shape == (1, 4)
            if config.has_graph:
                assert out["points"].shape == (1, config.num_points, 2)
            export_model(model, config, repo, f"{arch}-{name}", 1, ["a", "b", "c", "d"], dataset=name)
            names.append(f"{arch}-{name}")
    assert len(names) == 7
    if not SERVER.is_file():
        pytest.skip(f"{SERVER} is not built: the exports were not loaded in LibTorch")
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    proc = subprocess.Popen([str(SERVER), "--model-repository", str(repo), "--grpc-address", "127.0.0.1:0",
                             "--metrics-address", "", "--http-address", "", "--intra-op-threads", "1",
                             "--instances", "1", "--max-batch-size", "1"], stderr=log)
    try:
        text = ""
        for _ in range(3000):
            text = Path(log.name).read_text()
            if re.search(r" on port (\d+),", text) or proc.poll() is not None:
                break
            time.sleep(0.1)
        for name in names:
            assert re.search(rf"{re.escape(name)}.*version 1.*(ready|READY)", text, re.I), text
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        os.unlink(log.name)


@pytest.mark.slow
def test_two_gloo_processes_train_and_export_one_version(shapes: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    # Debian 12's launcher (torch 1.13, Python 3.11) needs --redirects and
    # --tee to name one stream each (README, "Train on your own images").
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--redirects", "2", "--tee", "1",
         "--nproc_per_node", "2", "-m", "gcnserve_model.fit", str(shapes), "--repository", str(repo),
         "--name", "ddp", "--device", "cpu", "--max-steps", "2", *SMOKE],
        cwd=MODEL_DIR, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(MODEL_DIR), "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 process(es)" in result.stdout
    assert sorted(p.name for p in (repo / "ddp").iterdir()) == ["1"]
    assert read_metadata(repo / "ddp" / "1" / "model.pt")["labels"] == ["circle", "square", "triangle"]
