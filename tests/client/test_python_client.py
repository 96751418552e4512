"""The Python client (client/python) against the gcnserve binary serving the
tiny test model that ctest made (tests/integration/make_test_models.sh).

Run by scripts/test.sh after ctest:
    PYTHONPATH=client/python:build/client/python /usr/bin/python3 -m pytest tests/client
GCNSERVE_BUILD names another build folder (default: build).
"""
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent import futures
from pathlib import Path

import cv2
import grpc
import pytest

from gcnserve_client import ClassifierClient, ClassifyError, channel_target
from gcnserve_client.stubs import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("GCNSERVE_BUILD", ROOT / "build"))
DATA = BUILD / "tests" / "data"
EXAMPLE = ROOT / "client" / "python" / "examples" / "draw_overlay.py"


def load_example():
    spec = importlib.util.spec_from_file_location("draw_overlay", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def samples():
    files = sorted((DATA / "samples").glob("*.png"))
    assert files, f"no test samples in {DATA}/samples: run ctest (make_test_models) first"
    return files


class RunningServer:
    """The gcnserve binary on a free loopback port, with `args` added."""

    def __init__(self, *args: str):
        server = BUILD / "server" / "gcnserve"
        assert server.is_file(), f"{server} is missing: build first (scripts/build.sh)"
        assert (DATA / "repository").is_dir(), f"no test models in {DATA}: run ctest first"
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [str(server), "--model-repository", str(DATA / "repository"),
             "--grpc-address", "127.0.0.1:0", "--metrics-address", "",
             "--http-address", "", "--intra-op-threads", "1", *args], stderr=self.log)
        port = None
        for _ in range(600):
            match = re.search(r" on port (\d+),", Path(self.log.name).read_text())
            if match:
                port = int(match.group(1))
                break
            assert self.proc.poll() is None, "server exited: " + Path(self.log.name).read_text()
            time.sleep(0.1)
        assert port, "server did not start"
        self.target = f"127.0.0.1:{port}"
        match = re.search(r"metrics on port (\d+)", Path(self.log.name).read_text())
        self.metrics_port = int(match.group(1)) if match else None

    def metric(self, name: str) -> float:
        """The sum of a metric's samples whose line starts with `name`."""
        text = urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(name))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        os.unlink(self.log.name)


@pytest.fixture(scope="module")
def target():
    server = RunningServer()
    yield server.target
    server.stop()


@pytest.fixture
def client(target):
    with ClassifierClient(target, timeout=20) as client:
        client.wait_until_serving()
        yield client


def test_classify_returns_classes_points_and_graph(client, samples):
    response = client.classify_file(samples[0], graph="full", top_k=3)
    assert response.model == "model3" and response.version == 1
    assert response.request_id == str(samples[0])
    assert len(response.classes) == 3
    probabilities = [c.probability for c in response.classes]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(c.label for c in response.classes)
    assert (response.image_width, response.image_height) == (28, 28)
    assert len(response.points) == 8
    assert all(0 <= p.x <= 28 and 0 <= p.y <= 28 for p in response.points)
    assert response.adjacency.size == 8 and len(response.adjacency.weights) == 64
    assert response.timing.batch_size >= 1


def test_graph_none_and_points(client, samples):
    image = samples[1].read_bytes()
    assert len(client.classify(image, graph="none").points) == 0
    points = client.classify(image, graph="points")
    assert len(points.points) == 8 and points.adjacency.size == 0


def test_errors_carry_the_status_code(client, samples):
    with pytest.raises(ClassifyError) as error:
        client.classify(b"not an image")
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(ClassifyError) as error:
        client.classify(samples[0].read_bytes(), model="no-such-model")
    assert error.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(ValueError):
        client.classify(samples[0].read_bytes(), graph="everything")


def test_health_and_models(client):
    assert client.health() == "SERVING"
    assert client.health("gcnserve.v1.Classifier") == "SERVING"
    models = client.list_models()
    assert models.default_model == "model3"
    assert [m.name for m in models.models] == ["model3"]
    assert len(models.models[0].labels) == 10


class WarmingHealth(health_pb2_grpc.HealthServicer):
    """A health service that says NOT_SERVING to its first `cold` checks,
    as gcnserve does while its models load, then SERVING."""

    def __init__(self, cold: int):
        self.cold = cold
        self.checks = 0

    def Check(self, request, context):
        self.checks += 1
        status = (health_pb2.HealthCheckResponse.NOT_SERVING if self.checks <= self.cold
                  else health_pb2.HealthCheckResponse.SERVING)
        return health_pb2.HealthCheckResponse(status=status)


@pytest.mark.parametrize("cold", [0, 3])
def test_wait_until_serving_waits_through_not_serving(cold):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health = WarmingHealth(cold)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with ClassifierClient(f"127.0.0.1:{port}", timeout=5) as client:
            client.wait_until_serving(timeout=60, interval=0.01)
            assert health.checks == cold + 1
    finally:
        server.stop(0)


def test_wait_until_serving_gives_up_with_the_last_answer():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(WarmingHealth(10 ** 9), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with ClassifierClient(f"127.0.0.1:{port}", timeout=5) as client:
            with pytest.raises(ClassifyError) as error:
                client.wait_until_serving(timeout=0.5, interval=0.05)
        assert error.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "NOT_SERVING" in error.value.details
    finally:
        server.stop(0)


def test_connection_options(target, samples):
    assert channel_target("a:1,b:2") == "ipv4:a:1,b:2"
    assert channel_target("dns:///gcnserve:50051") == "dns:///gcnserve:50051"
    # A list of targets (the same server twice), round-robin, compressed.
    with ClassifierClient(f"{target},{target}", compression="gzip") as client:
        assert client.classify_file(samples[0]).classes
    with pytest.raises(ValueError):
        ClassifierClient(target, compression="zstd")
    with pytest.raises(ValueError):
        ClassifierClient(target, cert_file="client.pem")  # no key


def test_stream_answers_every_item_including_failures(client, samples):
    requests = [ClassifierClient.request(path.read_bytes(), request_id=str(i))
                for i, path in enumerate(samples[:4])]
    requests.append(ClassifierClient.request(b"broken", request_id="broken"))
    try:
        responses = list(client.classify_stream(requests, timeout=60))
    except ClassifyError as error:
        if error.code == grpc.StatusCode.UNIMPLEMENTED:
            pytest.skip("the server answers ClassifyStream UNIMPLEMENTED")
        raise
    by_id = {r.request_id: r for r in responses}
    assert sorted(by_id) == ["0", "1", "2", "3", "broken"]
    assert by_id["broken"].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert all(by_id[str(i)].classes and by_id[str(i)].error.code == 0 for i in range(4))


def test_overlay_example_draws_the_points(client, target, samples, tmp_path):
    output = tmp_path / "overlay.png"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    run = subprocess.run([sys.executable, str(EXAMPLE), "--target", target,
                          str(samples[0]), str(output)],
                         capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 0, run.stderr
    assert "->" in run.stdout
    picture = cv2.imread(str(output), cv2.IMREAD_COLOR)
    assert picture is not None
    example = load_example()
    factor = example.scale_factor(28, 28)
    assert factor == 16
    assert picture.shape == (28 * factor + example.BAND, 28 * factor, 3)
    # The point with the highest score is drawn last: its centre has its
    # level's colour, where the response put it.
    response = client.classify_file(samples[0], graph="full", top_k=3)
    top = max(response.points, key=lambda p: p.score)
    x = min(int(round(top.x * factor)), 28 * factor - 1)
    y = min(int(round(top.y * factor)), 28 * factor - 1)
    expected = example.LEVEL_COLORS[top.level % len(example.LEVEL_COLORS)]
    assert tuple(int(v) for v in picture[y, x]) == expected


def test_unavailable_is_retried_on_the_next_server(target, samples):
    """A full queue answers UNAVAILABLE, and the client's service config
    (gcnserve_client/service_config.json) retries it on the next address."""
    full = RunningServer("--max-queue-size", "1", "--max-queue-delay-us", "10000000",
                         "--metrics-address", "127.0.0.1:0")
    try:
        image = samples[0].read_bytes()
        with ClassifierClient(full.target, timeout=30) as direct:
            direct.wait_until_serving()
            # One request waits 10 s for its batch to fill: the queue is full.
            waiting = direct._stub.Classify.future(
                ClassifierClient.request(image), timeout=30)
            deadline = time.monotonic() + 30
            while full.metric('gcnserve_queue_depth{model="model3"}') < 1:
                assert time.monotonic() < deadline, "the queue never filled"
                time.sleep(0.05)
            with ClassifierClient(f"{full.target},{target}", timeout=20) as both:
                for _ in range(4):  # round robin: every other one meets the full queue
                    assert both.classify(image).classes
            assert full.metric('gcnserve_requests_total{code="UNAVAILABLE"') >= 1
            full.stop()  # drains: the waiting request is answered
            assert waiting.result().classes
    finally:
        if full.proc.poll() is None:
            full.stop()
