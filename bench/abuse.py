#!/usr/bin/env python3
"""Abandoned-work attack (issue 10): does the server drop work nobody waits for?

Starts build/server/gcnserve with its default flags on loopback (the bundled
repository), then, for --attack-s seconds, keeps --concurrency calls in flight,
each an attack image with a --deadline-s deadline. From the moment the attack
ends it sends a small PNG (a Fashion-MNIST sample) every 100 ms for
--probe-s seconds and reports when the first one was answered within 200 ms.
Throughout, it samples the server's resident memory (VmRSS) every 20 ms.

Attack images, built here without holding them decoded (a PNG of zero rows
compresses about 1,000 to 1):
  png16: 7000x7000 RGBA 16-bit PNG, 381 KB on the wire, 392 MB decoded
         (over --max-decode-bytes: refused from its header);
  png8:  4000x4000 RGBA 8-bit PNG, 62 KB, 64 MB decoded (within the per-image
         budget: admitted while --max-decode-bytes-in-flight has room).

Prints one line of figures per attack; a measurement, never a test.
usage: PYTHONPATH=client/python:build/client/python /usr/bin/python3 bench/abuse.py [--attack png16,png8]
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "client" / "python"))
sys.path.insert(0, str(ROOT / "build" / "client" / "python"))
from gcnserve_client import ClassifierClient, ClassifyError  # noqa: E402


def zero_png(width: int, height: int, bit_depth: int) -> bytes:
    """An RGBA PNG of zeros, compressed row by row (never whole in memory)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    row = b"\0" * (1 + width * 4 * bit_depth // 8)  # filter byte + pixels
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


ATTACKS = {
    "png16": lambda: zero_png(7000, 7000, 16),
    "png8": lambda: zero_png(4000, 4000, 8),
}


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Server:
    def __init__(self, binary: Path, extra: list):
        self.log = tempfile.NamedTemporaryFile(prefix="abuse.", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            [str(binary), "--grpc-address", "127.0.0.1:0", "--metrics-address", ""] + extra,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            match = re.search(r" on port (\d+),", Path(self.log.name).read_text())
            if match:
                self.target = f"127.0.0.1:{match[1]}"
                return
            if self.process.poll() is not None:
                raise RuntimeError(Path(self.log.name).read_text())
            time.sleep(0.1)
        raise RuntimeError("gcnserve did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)

    def log_lines(self) -> int:
        return len(Path(self.log.name).read_text().splitlines())


def run(name: str, args: argparse.Namespace, small: bytes) -> dict:
    image = ATTACKS[name]()
    server = Server(args.server, args.server_flags)
    pid = server.process.pid
    samples = []  # (time, MB)
    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.is_set():
            samples.append((time.monotonic(), rss_mb(pid)))
            time.sleep(0.02)

    probe = ClassifierClient(server.target, timeout=10)
    for _ in range(20):  # warm: the idle figure is after some traffic
        probe.classify(small)
    time.sleep(1)
    idle = rss_mb(pid)
    log_before = server.log_lines()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    attacker = ClassifierClient(server.target, timeout=args.deadline_s)
    codes = collections.Counter()
    lock = threading.Lock()
    attack_end = time.monotonic() + args.attack_s

    def attack() -> None:
        while time.monotonic() < attack_end:
            try:
                attacker.classify(image)
                code = "OK"
            except ClassifyError as error:
                code = error.code.name
            with lock:
                codes[code] += 1

    threads = [threading.Thread(target=attack) for _ in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ended = time.monotonic()  # the last attack call has returned

    probes = []  # (sent after the end, latency), seconds
    first_fast = None
    while time.monotonic() - ended < args.probe_s:
        sent = time.monotonic()
        try:
            probe.classify(small)
            latency = time.monotonic() - sent
        except ClassifyError:
            latency = float("inf")
        probes.append((sent - ended, latency))
        if first_fast is None and latency <= 0.2:
            first_fast = sent - ended + latency
            if args.stop_when_fast:
                break
        time.sleep(max(0.0, 0.1 - (time.monotonic() - sent)))
    stop_sampling.set()
    sampler.join()
    peak = max(mb for _, mb in samples)
    log_lines = server.log_lines() - log_before
    server.stop()
    attacker.close()
    probe.close()
    return {
        "attack": name, "bytes": len(image), "calls": sum(codes.values()), "codes": dict(codes),
        "idle_mb": idle, "peak_mb": peak, "peak_ratio": peak / idle,
        "first_probe_latency_ms": probes[0][1] * 1000 if probes else None,
        "fast_answer_after_end_s": first_fast, "log_lines": log_lines,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", type=Path, default=ROOT / "build" / "server" / "gcnserve")
    parser.add_argument("--attack", default="png16,png8", help="comma-separated: " + ", ".join(ATTACKS))
    parser.add_argument("--attack-s", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--deadline-s", type=float, default=1.0)
    parser.add_argument("--probe-s", type=float, default=5.0)
    parser.add_argument("--stop-when-fast", action="store_true",
                        help="stop probing at the first answer within 200 ms")
    parser.add_argument("--small", type=Path, default=ROOT / "model" / "samples" / "00000_9_ankle_boot.png")
    parser.add_argument("server_flags", nargs="*", help="more gcnserve flags, after --")
    args = parser.parse_args()
    small = args.small.read_bytes()
    print("attack  size      calls  answers                          idle MB  peak MB  peak/idle  "
          "first probe ms  answered <=200 ms after end  server log lines")
    for name in args.attack.split(","):
        r = run(name, args, small)
        codes = " ".join(f"{k}:{v}" for k, v in sorted(r["codes"].items()))
        fast = "never" if r["fast_answer_after_end_s"] is None else f"{r['fast_answer_after_end_s']:.2f} s"
        print(f"{r['attack']:7s} {r['bytes'] / 1024:6.0f} KB {r['calls']:6d}  {codes:32s} {r['idle_mb']:7.0f}  "
              f"{r['peak_mb']:7.0f}  {r['peak_ratio']:9.2f}  {r['first_probe_latency_ms']:14.1f}  "
              f"{fast:>27s}  {r['log_lines']:16d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
