#!/usr/bin/env python3
"""How a forward pass slows after the machine idles: one export run at batch
1 on one thread, hot and then with a sleep before each pass.

usage: /usr/bin/python3 bench/idle_gap.py [EXPORT]   (a 64x64 grey-input export)
"""
import statistics
import sys
import time

import torch

export = sys.argv[1] if len(sys.argv) > 1 else "model/repository/model3/2/model.pt"
torch.set_num_threads(1)
m = torch.jit.load(export).eval()
x = torch.rand(1, 1, 64, 64)
with torch.inference_mode():
    for _ in range(200):
        m(x)
    for gap in (0, 0.0005, 0.002, 0.010):
        ts = []
        for _ in range(300):
            if gap:
                time.sleep(gap)
            t = time.perf_counter()
            m(x)
            ts.append((time.perf_counter() - t) * 1e3)
        print(f"sleep {gap * 1e3:4.1f} ms before each pass: forward median {statistics.median(ts):.3f} ms")
