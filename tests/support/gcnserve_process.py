"""Starts the real gcnserve binary on free loopback ports and reads its
/metrics: the one way the Python-driven tests (tests/integration,
tests/client, tests/deploy) run a server. Standard library only."""

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from typing import Dict, List, Optional


def free_port() -> int:
    """A loopback port that was free a moment ago (for programs that cannot
    report the port they bound, like Prometheus)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


def parse_metrics(text: str) -> Dict[str, float]:
    """Prometheus text format to {'name{labels}': value}, labels as printed."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    return samples


def metric_sum(samples: Dict[str, float], name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for key, value in samples.items():
        if key.split("{")[0] != name:
            continue
        if all(f'{k}="{v}"' in key for k, v in labels.items()):
            total += value
    return total


class Server:
    """One gcnserve process on 127.0.0.1 with gRPC, HTTP and metrics on ports
    it picks itself (port 0), read back from its start-up log line
    "... on port N, ... HTTP port H, metrics on port M"."""

    def __init__(self, binary: str, repository: str, name: str = "gcnserve"):
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=f"{name}.", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            [binary, "--model-repository", repository,
             "--grpc-address", "127.0.0.1:0", "--metrics-address", "127.0.0.1:0",
             "--http-address", "127.0.0.1:0",
             "--intra-op-threads", "1", "--preprocess-threads", "1",
             "--drain-timeout-s", "5"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.grpc_port = 0
        self.metrics_port = 0
        self.http_port = 0

    def wait_started(self, timeout_s: float = 120) -> "Server":
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self.log_text()
            match = re.search(r" on port (\d+),.*HTTP port (\d+).*metrics on port (\d+)",
                              text)
            if match:
                self.grpc_port, self.http_port, self.metrics_port = (
                    int(match[1]), int(match[2]), int(match[3]))
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start:\n{text}")
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start in {timeout_s} s:\n{self.log_text()}")

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def metrics(self) -> Dict[str, float]:
        return parse_metrics(http_get(f"http://127.0.0.1:{self.metrics_port}/metrics"))

    def log_text(self) -> str:
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def stop(self) -> Optional[int]:
        """SIGTERM (the server drains), then SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        os.unlink(self.log.name)
        return self.process.returncode


def gcnctl(client: str, targets: List[str], *command: str, expect: int = 0) -> str:
    """Runs gcnctl; raises with its output unless it exits with `expect`."""
    result = subprocess.run([client, "--target", ",".join(targets), *command],
                            capture_output=True, text=True, timeout=120)
    if result.returncode != expect:
        raise RuntimeError(f"gcnctl {' '.join(command)} exited {result.returncode}:\n"
                           f"{result.stdout}{result.stderr}")
    return result.stdout
