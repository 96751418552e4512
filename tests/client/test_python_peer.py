"""bench/python_peer.py, the Python grpcio peer of the serving benchmarks,
serving a bundled export: its answers are the offline model's (the reference
preprocessing, model/gcnserve_model/preprocess.py, and the export as saved,
softmax of logits over the export's temperature), alone and batched.

Run by scripts/test.sh with the rest of tests/client:
    PYTHONPATH=client/python:build/client/python /usr/bin/python3 -m pytest tests/client
"""
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent import futures
from pathlib import Path

import grpc
import numpy as np
import pytest
import torch
from PIL import Image

from gcnserve_client import ClassifierClient, ClassifyError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "model"))
from gcnserve_model.preprocess import preprocess  # noqa: E402

PEER = ROOT / "bench" / "python_peer.py"
EXPORT = ROOT / "model" / "repository" / "model3" / "3" / "model.pt"
SAMPLES = sorted((ROOT / "model" / "samples").glob("*.png"))[:6]


@pytest.fixture(scope="module")
def peer():
    """The peer on an ephemeral loopback port, one LibTorch thread."""
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [sys.executable, str(PEER), "--model", str(EXPORT), "--port", "0",
         "--threads", "1", "--decode-threads", "2"],
        stderr=log, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        port = None
        for _ in range(1200):
            match = re.search(r"listening on port (\d+)", Path(log.name).read_text())
            if match:
                port = int(match.group(1))
                break
            assert proc.poll() is None, "peer exited: " + Path(log.name).read_text()
            time.sleep(0.1)
        assert port, "peer did not start: " + Path(log.name).read_text()
        with ClassifierClient(f"127.0.0.1:{port}", timeout=60) as client:
            client.wait_until_serving(timeout=60)
            yield client
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        Path(log.name).unlink()


@pytest.fixture(scope="module")
def offline():
    """image bytes -> the export's probabilities, computed here."""
    extra = {"gcnserve.json": ""}
    module = torch.jit.load(str(EXPORT), map_location="cpu", _extra_files=extra).eval()
    meta = json.loads(extra["gcnserve.json"])
    temperature = meta.get("calibration", {}).get("temperature", 1.0)

    def run(image: bytes) -> np.ndarray:
        x = torch.from_numpy(preprocess(image, meta["input"]))[None]
        with torch.no_grad():
            return torch.softmax(module(x)["logits"] / temperature, 1)[0].numpy()

    return run


def photo_jpeg() -> bytes:
    """A sample scaled up to 640x480, as a JPEG: decoded at 1/4 by both."""
    image = Image.open(SAMPLES[0]).convert("L").resize((640, 480), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def images():
    return [(p.name, p.read_bytes()) for p in SAMPLES] + [("photo.jpg", photo_jpeg())]


def probabilities(response) -> np.ndarray:
    p = np.zeros(10, dtype=np.float32)
    for c in response.classes:
        p[c.index] = c.probability
    return p


def test_answers_are_the_offline_models(peer, offline):
    for name, image in images():
        response = peer.classify(image, top_k=10)
        want = offline(image)
        got = probabilities(response)
        assert len(response.classes) == 10, name
        assert response.classes[0].index == int(np.argmax(want)), name
        assert abs(float(got.sum()) - 1.0) < 1e-5, name
        np.testing.assert_allclose(got, want, atol=1e-4, err_msg=name)
        # Points, mapped to the original image, inside it.
        assert len(response.points) == 40, name
        for point in response.points:
            assert 0 <= point.x <= response.image_width, name
            assert 0 <= point.y <= response.image_height, name
        assert response.model == "model3" and response.version == 3
        assert response.timing.batch_size >= 1
        assert response.timing.total_us >= response.timing.inference_us


def test_batched_answers_equal_lone_ones(peer):
    work = images() * 4
    alone = [probabilities(peer.classify(image, top_k=10)) for _, image in work]
    with futures.ThreadPoolExecutor(16) as pool:
        together = list(pool.map(lambda item: peer.classify(item[1], top_k=10), work))
    for (name, _), want, response in zip(work, alone, together):
        np.testing.assert_allclose(probabilities(response), want, atol=1e-5, err_msg=name)


def test_graph_detail(peer):
    image = SAMPLES[1].read_bytes()
    assert len(peer.classify(image, graph="none").points) == 0
    full = peer.classify(image, graph="full")
    assert full.adjacency.size == 40 and len(full.adjacency.weights) == 40 * 40
    thinned = peer.classify(image, graph="full", max_edges_per_node=3)
    rows = np.asarray(thinned.adjacency.weights).reshape(40, 40)
    assert ((rows != 0).sum(axis=1) <= 4).all()
    np.testing.assert_allclose(np.diag(rows), np.diag(np.asarray(full.adjacency.weights).reshape(40, 40)))


def test_refuses_what_it_cannot_decode(peer):
    for bad in (b"", b"not an image", SAMPLES[0].read_bytes()[:40]):
        with pytest.raises(ClassifyError) as error:
            peer.classify(bad)
        assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(ClassifyError) as error:
        peer.classify(SAMPLES[0].read_bytes(), model="nonesuch")
    assert error.value.code == grpc.StatusCode.NOT_FOUND
