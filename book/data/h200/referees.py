"""Both CUDA referees of benchmarks/validate_timer.py on its three cases, and a back-to-back loop.

Run on the H200 from the repository root (run-2.sh): ``python3 book/data/h200/referees.py``.
Prints microseconds per call: the script's own per-call CUDA events and Triton's do_bench (both
with the L2 cache flushed before each call, medians of three runs each), and one pair of CUDA
events around 200 back-to-back calls (warm cache, launches queued).
"""

import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
import validate_timer

from onebyone.perf.timing import make_input

device = torch.device("cuda")
with torch.inference_mode():
    for name, (fn, shape) in validate_timer.cases(device).items():
        x = make_input(shape, device=device)
        own = [validate_timer.cuda_event_seconds(fn, x)[0] for _ in range(3)]
        triton = [validate_timer.triton_seconds(fn, x)[0] for _ in range(3)]
        for _ in range(3):
            fn(x)
        torch.cuda.synchronize()
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        for _ in range(200):
            fn(x)
        end.record()
        torch.cuda.synchronize()
        loop = begin.elapsed_time(end) / 1e3 / 200
        print(f"{name:32} own-events {statistics.median(own) * 1e6:8.2f} us  "
              f"do_bench {statistics.median(triton) * 1e6:8.2f} us  "
              f"back-to-back {loop * 1e6:8.2f} us")
