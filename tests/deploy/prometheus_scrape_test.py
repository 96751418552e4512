#!/usr/bin/python3
"""A real Prometheus scrapes a real gcnserve, and its query API shows the
traffic this test sent.

Starts gcnserve on loopback and Debian's Prometheus on a free loopback port
with a generated config that scrapes the server every second and loads
gcnserve's alert rules (deploy/monitoring/alerts.yml). Then, through
Prometheus's HTTP API:
  1. after one gcnctl call per image (so one request per batch), that
     gcnserve_requests_total{code="OK"}, gcnserve_batch_size_count and
     gcnserve_batch_size_sum equal the number of images;
  2. after one gcnctl call with every image and a file that is not an image,
     that the OK count and the batch size sum grew by the number of images,
     that the INVALID_ARGUMENT count is 1, and that the batch count equals the
     server's own /metrics;
  3. that the target is up, every rule evaluates without error on real data,
     the error-ratio recording rule says 0 (client mistakes are not server
     errors), the queue's capacity is the default 512 and the saturation
     ratio (depth over capacity) evaluates to 0, and no alert fires.

usage: prometheus_scrape_test.py --server GCNSERVE --client GCNCTL --data DIR
       [--prometheus prometheus] [--rules deploy/monitoring/alerts.yml]
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from gcnserve_process import Server, free_port, gcnctl, http_get, metric_sum  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Prometheus:
    """Debian's Prometheus on 127.0.0.1, scraping one target every second."""

    def __init__(self, binary: str, target: str, rules: str):
        self.dir = tempfile.mkdtemp(prefix="gcnserve-prometheus.")
        shutil.copy(rules, os.path.join(self.dir, "alerts.yml"))
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [alerts.yml]
scrape_configs:
  - job_name: gcnserve
    static_configs:
      - targets: ["{target}"]
""")
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        # Prometheus cannot report a port it picked: take a free one, and
        # try again should another program take it first.
        for _ in range(3):
            self.port = free_port()
            self.process = subprocess.Popen(
                [binary, f"--config.file={config}",
                 f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)
            if self._wait_ready():
                return
            self.process.kill()
            self.process.wait()
        raise RuntimeError(f"Prometheus did not start:\n{self.log_text()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                http_get(f"http://127.0.0.1:{self.port}/-/ready", timeout=1)
                return True
            except OSError:
                time.sleep(0.2)
        return False

    def api(self, path: str, **params: str):
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        body = json.loads(http_get(url))
        if body.get("status") != "success":
            raise RuntimeError(f"{url}: {body}")
        return body["data"]

    def value(self, query: str) -> float:
        """The single value of an instant query; 0 when it returns nothing."""
        result = self.api("query", query=query)["result"]
        if len(result) > 1:
            raise RuntimeError(f"{query}: {len(result)} series, expected one")
        return float(result[0]["value"][1]) if result else 0.0

    def wait_for(self, query: str, expected: float, timeout_s: float = 60) -> None:
        """Waits until a scrape brings `query` to `expected`."""
        deadline = time.monotonic() + timeout_s
        seen = None
        while time.monotonic() < deadline:
            seen = self.value(query)
            if seen == expected:
                return
            time.sleep(0.5)
        raise AssertionError(f"{query} is {seen} after {timeout_s} s, expected {expected}")

    def log_text(self) -> str:
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def expect_equal(what: str, got: float, expected: float) -> None:
    if got != expected:
        raise AssertionError(f"{what}: Prometheus says {got}, expected {expected}")
    print(f"  ok: {what} = {got:g}")


def run(args: argparse.Namespace) -> None:
    images = sorted(glob.glob(os.path.join(args.data, "samples", "*.png")))
    if not images:
        raise RuntimeError(f"no sample images in {args.data}/samples")
    server = Server(args.server, os.path.join(args.data, "repository")).wait_started()
    prometheus = None
    try:
        prometheus = Prometheus(args.prometheus, f"127.0.0.1:{server.metrics_port}", args.rules)
        print(f"gcnserve on {server.target} (metrics :{server.metrics_port}), "
              f"Prometheus on :{prometheus.port}")
        prometheus.wait_for('up{job="gcnserve"}', 1)
        ok = 'sum(gcnserve_requests_total{job="gcnserve", code="OK"})'
        batches = 'sum(gcnserve_batch_size_count{job="gcnserve"})'
        batched = 'sum(gcnserve_batch_size_sum{job="gcnserve"})'

        # 1. One call per image: every request is a batch of its own.
        for image in images:
            gcnctl(args.client, [server.target], "classify", image)
        n = len(images)
        print(f"sent {n} requests, one gcnctl call each")
        prometheus.wait_for(ok, n)
        expect_equal("gcnserve_requests_total{code=OK}", prometheus.value(ok), n)
        expect_equal("gcnserve_batch_size_count", prometheus.value(batches), n)
        expect_equal("gcnserve_batch_size_sum", prometheus.value(batched), n)

        # 2. Every image in one call, and one file that is not an image.
        not_an_image = os.path.join(prometheus.dir, "not-an-image.png")
        with open(not_an_image, "w") as f:
            f.write("this is text, not a PNG")
        gcnctl(args.client, [server.target], "classify", *images, not_an_image, expect=1)
        print(f"sent {n} more requests and 1 invalid one in one gcnctl call")
        prometheus.wait_for('sum(gcnserve_requests_total{job="gcnserve"})', 2 * n + 1)
        expect_equal("gcnserve_requests_total{code=OK}", prometheus.value(ok), 2 * n)
        expect_equal("gcnserve_requests_total{code=INVALID_ARGUMENT}", prometheus.value(
            'sum(gcnserve_requests_total{job="gcnserve", code="INVALID_ARGUMENT"})'), 1)
        expect_equal("gcnserve_batch_size_sum", prometheus.value(batched), 2 * n)
        own = metric_sum(server.metrics(), "gcnserve_batch_size_count")
        expect_equal(f"gcnserve_batch_size_count (the server's /metrics says {own:g})",
                     prometheus.value(batches), own)
        count = prometheus.value(batches)
        if not n + 1 <= count <= 2 * n:
            raise AssertionError(f"{count} batches for {2 * n} requests")

        # 3. The rules on real data.
        time.sleep(2)  # a few rule evaluations
        for group in prometheus.api("rules")["groups"]:
            for rule in group["rules"]:
                if rule.get("health") != "ok":
                    raise AssertionError(f"rule {rule['name']}: {rule.get('health')} {rule.get('lastError')}")
        print("  ok: every rule of alerts.yml evaluates on the server's series")
        expect_equal("gcnserve:request_errors:ratio_rate5m",
                     prometheus.value('gcnserve:request_errors:ratio_rate5m{model="model3"}'), 0)
        # The saturation alert divides two series: their labels must match.
        expect_equal("gcnserve_queue_capacity{model=model3} (the default --max-queue-size)",
                     prometheus.value('gcnserve_queue_capacity{job="gcnserve", model="model3"}'), 512)
        ratio = ('avg_over_time(gcnserve_queue_depth{job="gcnserve", model="model3"}[5m])'
                 ' / gcnserve_queue_capacity{job="gcnserve", model="model3"}')
        expect_equal("series in the saturation alert's ratio", prometheus.value(f"count({ratio})"), 1)
        # A scrape may catch a request waiting its 2 ms for a batch: the
        # ratio is small, not always 0, and far below the alert's 0.8.
        in_use = prometheus.value(ratio)
        if not 0 <= in_use < 0.05:
            raise AssertionError(f"queue in use, the saturation alert's ratio: {in_use}, want about 0")
        print(f"  ok: queue in use, the saturation alert's ratio = {in_use:g} (about 0)")
        firing = [a for a in prometheus.api("alerts")["alerts"] if a["state"] == "firing"]
        if firing:
            raise AssertionError(f"alerts firing: {firing}")
        print("  ok: no alert fires")
    except Exception:
        print("--- server log\n" + server.log_text()[-3000:], file=sys.stderr)
        if prometheus:
            print("--- Prometheus log\n" + prometheus.log_text()[-3000:], file=sys.stderr)
        raise
    finally:
        if prometheus:
            prometheus.stop()
        rc = server.stop()
    if rc != 0:
        raise AssertionError(f"gcnserve exited {rc} after SIGTERM")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--client", required=True)
    parser.add_argument("--data", required=True, help="tests/data: repository/, samples/")
    parser.add_argument("--prometheus", default="prometheus")
    parser.add_argument("--rules", default=os.path.join(REPO, "deploy/monitoring/alerts.yml"))
    args = parser.parse_args()
    if not shutil.which(args.prometheus):
        print(f"FAIL: {args.prometheus} is not installed (scripts/install-deps.sh installs "
              "Debian's prometheus)", file=sys.stderr)
        return 1
    try:
        run(args)
    except (AssertionError, RuntimeError) as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    print("PASS: Prometheus scraped gcnserve; requests and batch sizes match the traffic")
    return 0


if __name__ == "__main__":
    sys.exit(main())
