"""gcnctl end to end: the real gcnserve binary with the tiny test model, and
gcnctl's classify --overlay, bench (table, CSV, JSON), eval, connection
options and usage errors. Checks structure and counts, never speeds.

usage: gcnctl_test.py --server GCNSERVE --client GCNCTL --data DATA_DIR
"""
import argparse
import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from gcnserve_process import Server  # noqa: E402

FAILURES = []


def check(condition: bool, what: str) -> None:
    print(("ok    " if condition else "FAIL  ") + what)
    if not condition:
        FAILURES.append(what)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--client", required=True)
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    samples = sorted((args.data / "samples").glob("*.png"))
    assert samples, f"no samples in {args.data}/samples"

    server = Server(args.server, str(args.data / "repository")).wait_started()
    target = server.target

    def gcnctl(*argv, target=target):
        return subprocess.run([args.client, "--target", target, *map(str, argv)],
                              capture_output=True, text=True, timeout=120)

    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            # classify --overlay: one PNG per input, of the expected size.
            out = tmp / "overlays"
            run = gcnctl("classify", "--json", "--overlay", out, *samples[:3])
            check(run.returncode == 0, f"classify --overlay exits 0 ({run.stderr.strip()})")
            lines = [json.loads(line) for line in run.stdout.splitlines()]
            check(len(lines) == 3, "classify --json prints one line per file")
            for line in lines:
                response = line.get("response", {})
                check(len(response.get("adjacency", {}).get("weights", [])) == 64,
                      "--overlay asks for the full graph")
                picture = cv2.imread(line.get("overlay", ""), cv2.IMREAD_COLOR)
                check(picture is not None, f"overlay {line.get('overlay')} decodes")
                if picture is not None:
                    # The 28x28 image at x16 and a heat map as tall beside it.
                    check(picture.shape[0] > 448 and picture.shape[1] > 2 * 448,
                          f"overlay is {picture.shape[1]}x{picture.shape[0]}")
            check(sorted(p.name for p in out.iterdir()) ==
                  sorted(s.stem + ".png" for s in samples[:3]), "overlays named after inputs")

            # The export's digest: the first 12 hex digits of model.pt's
            # SHA-256, in every answer and in `models`.
            model_file = args.data / "repository" / "model3" / "1" / "model.pt"
            digest = hashlib.sha256(model_file.read_bytes()).hexdigest()[:12]
            check(all(line.get("response", {}).get("model_digest") == digest for line in lines),
                  f"classify answers carry the digest {digest}")
            run = gcnctl("models")
            check(run.returncode == 0 and "DIGEST" in run.stdout and digest in run.stdout,
                  f"models shows the digest {digest}:\n{run.stdout}")

            # bench, JSON: every level answered, no errors.
            run = gcnctl("bench", args.data / "samples", "--concurrency", "1,2",
                         "--duration-s", "0.5", "--warmup-s", "0", "--json")
            check(run.returncode == 0, f"bench exits 0 ({run.stderr.strip()})")
            report = json.loads(run.stdout)
            check([level["concurrency"] for level in report["levels"]] == [1, 2],
                  "bench --json has both levels")
            for level in report["levels"]:
                check(level["ok"] > 0 and level["ok"] == level["answers"]
                      and level["errors"] == {}, f"level {level['concurrency']}: "
                      f"{level['ok']} OK of {level['answers']}, errors {level['errors']}")
                check(set(level["latency_ms"]) == {"avg", "p50", "p90", "p95", "p99", "max"},
                      "latency percentiles present")
                check(level["batch_size"] >= 1 and level["server_ms"]["inference"] > 0,
                      "server-side split present")
            check(report["config"]["images"] == len(samples), "bench read every image")

            # bench, CSV, open loop.
            run = gcnctl("bench", *samples[:2], "--rate", "20", "--arrivals", "poisson",
                         "--duration-s", "0.5", "--warmup-s", "0", "--format", "csv")
            rows = list(csv.DictReader(io.StringIO(run.stdout)))
            check(run.returncode == 0 and len(rows) == 1, "bench --format csv: one row")
            if rows:
                check(rows[0]["mode"] == "open" and int(rows[0]["errors"]) == 0,
                      "open-loop row without errors")

            # bench, table.
            run = gcnctl("bench", samples[0], "--concurrency", "1", "--duration-s", "0.3",
                         "--warmup-s", "0")
            check(run.returncode == 0 and "p99" in run.stdout and "client" in run.stdout,
                  "bench prints a table")

            # eval over class folders.
            eval_dir = tmp / "eval"
            for sample in samples:
                label = sample.stem.split("_")[1]
                (eval_dir / label).mkdir(parents=True, exist_ok=True)
                shutil.copy(sample, eval_dir / label)
            run = gcnctl("eval", eval_dir, "--json")
            check(run.returncode == 0, f"eval exits 0 ({run.stderr.strip()})")
            result = json.loads(run.stdout or "{}")
            check(result.get("images") == len(samples) and result.get("ok") == len(samples),
                  "eval answered every image")
            check(sum(map(sum, result.get("confusion", []))) == len(samples),
                  "confusion matrix counts every image")
            run = gcnctl("eval", eval_dir)
            check(run.returncode == 0 and "accuracy" in run.stdout, "eval prints a table")

            # Connection options.
            run = gcnctl("health", target=f"{target},{target}")
            check(run.stdout.strip() == "SERVING", "a target list works")
            run = gcnctl("--compression", "gzip", "classify", samples[0])
            check(run.returncode == 0, "gzip compression works")
            run = gcnctl("--max-message-bytes", "100", "classify", samples[0])
            check(run.returncode == 1 and "RESOURCE_EXHAUSTED" in run.stdout,
                  f"--max-message-bytes limits what is sent ({run.stdout.strip()})")

            # Usage errors exit 2 with a message.
            for argv in (["bench"], ["classify", "--bogus", "1", samples[0]],
                         ["--compression", "zstd", "health"],
                         ["--tls-ca", "/nonexistent.pem", "health"],
                         ["bench", samples[0], "--concurrency", "0"],
                         ["bench", samples[0], "--concurrency", "1", "--rate", "5"],
                         ["eval", tmp / "nonexistent"]):
                run = gcnctl(*argv)
                check(run.returncode == 2 and run.stderr.strip() != "",
                      f"gcnctl {' '.join(map(str, argv))} is a usage error")
            # Failures exit 1.
            run = gcnctl("classify", tmp / "nonexistent.png")
            check(run.returncode == 1, "a failed classify exits 1")
    finally:
        server.stop()
    print(f"{len(FAILURES)} failed" if FAILURES else "PASS")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
