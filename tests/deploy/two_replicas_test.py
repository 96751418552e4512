#!/usr/bin/python3
"""Scale-out on one machine: two gcnserve replicas behind one client.

Starts two servers on loopback and classifies the sample images with
`gcnctl --target 127.0.0.1:P1,127.0.0.1:P2` (the client spreads calls
round-robin, as gRPC clients do over a headless Kubernetes Service's
addresses), then reads each replica's /metrics: both must have served
requests, and together exactly the ones sent. Stops both with SIGTERM; each
must drain and exit 0.

usage: two_replicas_test.py --server GCNSERVE --client GCNCTL --data DIR
"""

import argparse
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from gcnserve_process import Server, gcnctl, metric_sum  # noqa: E402


def run(args: argparse.Namespace) -> None:
    images = sorted(glob.glob(os.path.join(args.data, "samples", "*.png")))
    if len(images) < 4:
        raise RuntimeError(f"need at least 4 sample images in {args.data}/samples")
    repository = os.path.join(args.data, "repository")
    replicas = [Server(args.server, repository, f"replica{i}") for i in (1, 2)]
    try:
        for replica in replicas:
            replica.wait_started()
        targets = [r.target for r in replicas]
        print(f"replicas on {', '.join(targets)}")
        health = gcnctl(args.client, targets, "health").strip()
        if health != "SERVING":
            raise AssertionError(f"health over both targets: {health}")

        # Twice the images, so that each replica gets several.
        lines = gcnctl(args.client, targets, "classify", *images, *images).splitlines()
        sent = 2 * len(images)
        if len(lines) != sent:
            raise AssertionError(f"{len(lines)} answers for {sent} images")

        served = []
        for replica in replicas:
            metrics = replica.metrics()
            ok = metric_sum(metrics, "gcnserve_requests_total", code="OK")
            batched = metric_sum(metrics, "gcnserve_batch_size_sum")
            print(f"  {replica.name} ({replica.target}): {ok:g} requests OK, "
                  f"{batched:g} in batches")
            if ok < 1:
                raise AssertionError(f"{replica.name} served no request: no load spreading")
            if batched != ok:
                raise AssertionError(f"{replica.name}: {batched:g} requests batched, {ok:g} answered")
            served.append(ok)
        if sum(served) != sent:
            raise AssertionError(f"the replicas served {sum(served):g} requests, {sent} were sent")
    except Exception:
        for replica in replicas:
            print(f"--- {replica.name} log\n{replica.log_text()[-2000:]}", file=sys.stderr)
        raise
    finally:
        codes = [replica.stop() for replica in replicas]
    if codes != [0, 0]:
        raise AssertionError(f"exit statuses after SIGTERM: {codes}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--client", required=True)
    parser.add_argument("--data", required=True, help="tests/data: repository/, samples/")
    args = parser.parse_args()
    try:
        run(args)
    except (AssertionError, RuntimeError) as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    print("PASS: two replicas behind one round-robin client both served requests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
