"""Validate the harness before trusting it: its median against an independent timer.

Why: ``onebyone.timing.time_callable`` adds warm-up, blocking and statistics on top of
``torch.utils.benchmark``; if any of that were wrong (a missed synchronisation, a warm-up
counted, a per-block time not divided by the block size) its numbers would drift from the
truth. This script times three representative cases twice, with the harness and with a timer
that shares none of its code, and checks that the two agree within 5 %:

- on a CPU the independent timer is a plain ``time.perf_counter`` loop over many calls (the
  median of five such loops, each at least 0.4 seconds long);
- on a CUDA GPU it is a pair of CUDA events around a loop of many calls, read after
  ``torch.cuda.synchronize``, the device's own clock.

The cases: a 1x1 convolution (8 x 64 x 28 x 28 -> 64 channels, well under a millisecond), the
5x5 convolution of the bottleneck example (batch 1, about a millisecond) and a 1024 x 1024
matrix product (tens of milliseconds on one CPU thread).

Command (from the repository root; it prints a table and writes the CSV)::

    .venv/bin/python benchmarks/validate_timer.py --device cpu --threads 1 \
        --out benchmarks/results/validate_timer_cpu.csv
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from onebyone.runtime import seed_everything
from onebyone.timing import describe_device, make_input, time_callable

TOLERANCE = 0.05  # relative difference allowed between the two timers


def cases(device: torch.device) -> dict[str, tuple[Callable, tuple[int, ...]]]:
    """The three cases: ``name -> (function of one tensor, input shape)``, on ``device``."""
    seed_everything(0)
    pointwise = nn.Conv2d(64, 64, 1, bias=False).to(device).eval()
    five_by_five = nn.Conv2d(192, 32, 5, padding=2, bias=False).to(device).eval()
    other = make_input((1024, 1024), device=device, seed=1)
    return {
        "conv1x1 8x64x28x28 -> 64": (pointwise, (8, 64, 28, 28)),
        "conv5x5 1x192x28x28 -> 32": (five_by_five, (1, 192, 28, 28)),
        "matmul 1024x1024 @ 1024x1024": (lambda x: torch.mm(x, other), (1024, 1024)),
    }


def perf_counter_seconds(fn: Callable, x: torch.Tensor, loops: int = 5,
                         loop_seconds: float = 0.4) -> tuple[float, int]:
    """Seconds per call from plain ``time.perf_counter`` loops: the median of ``loops`` loops.

    Each loop runs as many calls as fill ``loop_seconds`` (estimated from one call after three
    warm-up calls). Returns ``(seconds per call, calls per loop)``.
    """
    for _ in range(3):
        fn(x)
    start = time.perf_counter()
    fn(x)
    calls = max(10, int(loop_seconds / (time.perf_counter() - start)))
    per_call = []
    for _ in range(loops):
        start = time.perf_counter()
        for _ in range(calls):
            fn(x)
        per_call.append((time.perf_counter() - start) / calls)
    return statistics.median(per_call), calls


def cuda_event_seconds(fn: Callable, x: torch.Tensor, calls: int = 200) -> tuple[float, int]:
    """Seconds per call measured by two CUDA events around ``calls`` calls (device clock)."""
    for _ in range(3):
        fn(x)
    torch.cuda.synchronize()
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    begin.record()
    for _ in range(calls):
        fn(x)
    end.record()
    torch.cuda.synchronize()
    return begin.elapsed_time(end) / 1e3 / calls, calls


def validate(device: torch.device, threads: int) -> list[dict[str, object]]:
    """Time every case with the harness and with the independent timer; one row per case."""
    rows = []
    torch.set_num_threads(threads)
    for name, (fn, shape) in cases(device).items():
        harness = time_callable(fn, shape, device=device, num_threads=threads,
                                min_run_time=2.0, label=name)
        x = make_input(shape, device=device)
        with torch.inference_mode():
            if device.type == "cuda":
                independent, calls = cuda_event_seconds(fn, x)
                method = "CUDA events"
            else:
                independent, calls = perf_counter_seconds(fn, x)
                method = "time.perf_counter loop"
        difference = harness.median_s / independent - 1
        rows.append({
            "case": name,
            "device": str(device),
            "device_name": describe_device(device),
            "num_threads": threads,
            "harness_median_s": harness.median_s,
            "harness_iqr_s": harness.iqr_s,
            "harness_runs": harness.runs,
            "independent_method": method,
            "independent_s": independent,
            "independent_calls_per_loop": calls,
            "relative_difference": difference,
            "within_5_percent": abs(difference) <= TOLERANCE,
        })
    return rows


def main() -> None:
    """Parse the command line, validate, print the table, write the CSV."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/validate_timer_cpu.csv")
    arguments = parser.parse_args()
    rows = validate(torch.device(arguments.device), arguments.threads)
    print(f"{'case':32} {'harness':>12} {'independent':>12} {'difference':>11}  ok")
    for row in rows:
        print(f"{row['case']:32} {row['harness_median_s'] * 1e3:9.4f} ms "
              f"{row['independent_s'] * 1e3:9.4f} ms {row['relative_difference']:+10.2%}  "
              f"{'yes' if row['within_5_percent'] else 'NO'}")
    path = Path(arguments.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
