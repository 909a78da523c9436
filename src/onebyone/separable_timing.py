"""The two halves of a depthwise-separable layer on the clock: depthwise 3x3 and pointwise 1x1.

Why: by multiply-accumulates the depthwise half is almost free; by the clock it need not be.
:func:`measure_parts` times both halves of one layer with the book's harness
(:func:`onebyone.timing.time_callable`) in interleaved rounds, on the CPU and one thread, and
names the kernel that ran each (:func:`onebyone.kernels.top_kernels`). Chapter 6 quotes a
recorded file, written by this module's command, so its sentences do not change from build to
build; it also runs :func:`measure_parts` again on the reader's machine. The command is::

    python -m onebyone.separable_timing --out benchmarks/results/separable_cpu.csv

Times are in seconds per call; FLOPs are 2 per MAC.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from onebyone.kernels import convolution_kernel, top_kernels
from onebyone.timing import format_rounds, merge_timings, parse_rounds, time_callable

LAYER_INPUT = (1, 256, 28, 28)
"""MobileNet's separable layer at 28 x 28 with 256 channels in and out: N x C x H x W."""

FIELDS = ("part", "kernel", "flops", "median_s", "rounds", "num_threads", "device_name",
          "torch_version", "command")


def layer_parts(channels: int = 256) -> dict[str, nn.Conv2d]:
    """The depthwise 3x3 and the pointwise 1x1 convolution of a separable layer (no biases)."""
    if channels < 1:
        raise ValueError(f"channels must be positive, got {channels}")
    return {
        "depthwise": nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
        "pointwise": nn.Conv2d(channels, channels, 1, bias=False),
    }


def part_flops(input_shape: Sequence[int] = LAYER_INPUT) -> dict[str, int]:
    """FLOPs of each part on ``input_shape`` (``N x C x H x W``, stride 1, ``C`` to ``C``)."""
    batch, channels, height, width = input_shape
    pixels = batch * height * width
    return {"depthwise": 2 * pixels * channels * 9, "pointwise": 2 * pixels * channels**2}


def measure_parts(input_shape: Sequence[int] = LAYER_INPUT, rounds: int = 3,
                  min_run_time: float = 0.15, command: str = "") -> list[dict[str, object]]:
    """Time both parts on the CPU, one thread, in ``rounds`` interleaved rounds.

    Args:
        input_shape: ``N x C x H x W`` of the layer's input.
        rounds: rounds kept; in each, every part is timed for ``min_run_time`` seconds. One more
            round is run first and discarded (a warm-up).
        min_run_time: seconds of timed blocks per part and round.
        command: how this was run, kept in every row.

    Returns:
        One row per part (the keys of :data:`FIELDS`); ``rounds`` holds the per-call block
        times of every round, as :func:`onebyone.timing.format_rounds` writes them.
    """
    if rounds < 1 or min_run_time <= 0:
        raise ValueError(f"rounds must be >= 1 and min_run_time > 0, got {rounds}, {min_run_time}")
    parts = layer_parts(input_shape[1])
    records: dict[str, list] = {name: [] for name in parts}
    # One thread for the whole measurement, the kernels named *before* the clock runs, and a
    # first round thrown away. On the recording machine (2 cores, shared; PyTorch 2.13), in a
    # fresh process oneDNN's depthwise kernel ran several times slower until the profiler had run
    # once, and stayed faster afterwards; plain calls did not have this effect. The cause is not
    # identified, so every measurement here is taken in the same, profiled-first state.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        kernels = {name: top_kernels(part, torch.randn(tuple(input_shape)))
                   for name, part in parts.items()}
        for round_index in range(rounds + 1):
            for name, part in parts.items():
                timed = time_callable(part, input_shape, device="cpu", num_threads=1,
                                      min_run_time=min_run_time, label=name)
                if round_index > 0:  # round 0 only warms up
                    records[name].append(timed)
    finally:
        torch.set_num_threads(threads)
    flops = part_flops(input_shape)
    rows = []
    for name in parts:
        merged = merge_timings(records[name])
        rows.append({
            "part": name,
            "kernel": convolution_kernel(kernels[name]) or (kernels[name] or ("",))[0],
            "flops": flops[name],
            "median_s": merged.median_s,
            "rounds": format_rounds(merged.rounds),
            "num_threads": merged.num_threads,
            "device_name": merged.device_name,
            "torch_version": merged.torch_version,
            "command": command,
        })
    return rows


def read_parts(path: str | Path) -> dict[str, dict[str, object]]:
    """A file written by :func:`main`, by part, with numbers parsed and ``rounds`` as tuples."""
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    if {row["part"] for row in rows} != {"depthwise", "pointwise"}:
        raise ValueError(f"{path} must hold one depthwise and one pointwise row")
    parsed = {}
    for row in rows:
        parsed[row["part"]] = {**row, "flops": int(row["flops"]),
                               "median_s": float(row["median_s"]),
                               "rounds": parse_rounds(row["rounds"]),
                               "num_threads": int(row["num_threads"])}
    return parsed


def main(argv: Sequence[str] | None = None) -> Path:
    """Measure both parts and write them to ``--out`` (a CSV file), replacing it."""
    parser = argparse.ArgumentParser(prog="python -m onebyone.separable_timing",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-run-time", type=float, default=0.3)
    arguments = parser.parse_args(argv)
    if not arguments.out.parent.is_dir():
        parser.error(f"--out: no folder {arguments.out.parent}")
    command = "python -m onebyone.separable_timing " + " ".join(
        argv if argv is not None else sys.argv[1:])
    rows = measure_parts(rounds=arguments.rounds, min_run_time=arguments.min_run_time,
                         command=command)
    with open(arguments.out, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return arguments.out


if __name__ == "__main__":
    main()
