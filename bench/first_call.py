"""What a batch size costs the first time TorchScript sees it, on the CPU.

Loads an export with one torch thread and, as the server does by default,
optimizes it for inference (`--as-saved`: not), runs batch 1 four times (the
profiling executor profiles the first run and optimizes on the second),
then powers of two up to 64 once each, as the server's warm-up does; then,
for sizes never seen, the first, second and a steady (median of five) run.
Times are the process's CPU time, which the load of a shared machine
disturbs far less than wall time (one thread: no waiting on others).

usage: /usr/bin/python3 bench/first_call.py [--as-saved] [EXPORT]
"""
import statistics
import sys
import time

import torch


def main() -> None:
    args = sys.argv[1:]
    as_saved = "--as-saved" in args
    args = [a for a in args if a != "--as-saved"]
    path = args[0] if args else "model/repository/model3/2/model.pt"
    torch.set_num_threads(1)
    model = torch.jit.load(path).eval()
    if not as_saved:
        model = torch.jit.optimize_for_inference(model)

    def run(batch: int) -> float:
        x = torch.randn(batch, 1, 64, 64)
        start = time.process_time()
        with torch.inference_mode():
            model(x)
        return (time.process_time() - start) * 1e3

    print(path, "as saved" if as_saved else "optimized for inference")
    print("batch 1, runs 1-4:", " ".join(f"{run(1):.1f}" for _ in range(4)), "ms CPU")
    for batch in (2, 4, 8, 16, 32, 64):
        run(batch)
    print("new size | first run | second run | steady (ms CPU)")
    for batch in (3, 5, 6, 7, 12, 24, 40):
        first, second = run(batch), run(batch)
        steady = statistics.median(run(batch) for _ in range(5))
        print(f"{batch:8d} | {first:9.1f} | {second:10.1f} | {steady:6.1f}")


if __name__ == "__main__":
    main()
