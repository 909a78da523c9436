"""The command line of Chapter 5's timing experiments: one command runs them all and writes one
tidy CSV.

Why: a claim about speed is only as good as the measurement behind it, so every number in
Chapter 5 comes from the suite (:mod:`onebyone.perf.suite`), run by one command that anyone can
repeat on their own device::

    python -m onebyone.perf.experiments --device cpu --out book/data/cpu.csv --rounds 5 \\
        --threads 1
    python -m onebyone.perf.experiments --device cuda --out book/data/<gpu>.csv --rounds 5 \\
        --size full

(add ``--replace`` to record over an existing file and its sidecar). This module only reads and
checks the options, runs the suite and writes the file: the experiments are described in
:mod:`onebyone.perf.suite`, what they time in :mod:`onebyone.perf.workloads`. The file is
written as every results file is (:mod:`onebyone.recording`): every option checked before
anything is measured, an existing ``--out`` (or ``<out>.partial``) replaced only with
``--replace``, the CSV written whole or not at all; stopped by Ctrl-C or SIGTERM, or unable to
write ``--out``, the command saves what was measured to ``<out>.partial`` (rows marked partial
when the run was stopped). The block times go to a sidecar beside the CSV, ``<out>.npz``
(``<out>.partial.npz``), and the CSV holds their quantiles
(:func:`onebyone.perf.results.split_times`); copy both files together.

Exit status: 0 when written; 2 on a bad option (one line, before measuring); 130 after Ctrl-C;
143 after SIGTERM; 74 when ``--out`` could not be written.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from onebyone.perf.precision import PRECISIONS
from onebyone.perf.results import split_times
from onebyone.perf.suite import EXPERIMENTS, FIELDS, check_run, parse_device, run_experiments
from onebyone.perf.workloads import SIZES
from onebyone.recording import (
    CommandParser,
    add_output_options,
    check_output_path,
    command_line,
    positive_integer,
    record,
    say,
    user_error,
)

PROG = "python -m onebyone.perf.experiments"
"""The command, as its messages and the recorded rows name it."""


def _parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = CommandParser(
        prog=PROG,
        description="Time the 1x1 convolution experiments of Chapter 5 and write a CSV.",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    add_output_options(parser)
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--threads", type=positive_integer, default=None,
                        help="CPU threads (default: PyTorch's, torch.get_num_threads())")
    parser.add_argument("--experiments", default=",".join(EXPERIMENTS),
                        help=f"comma-separated subset of {','.join(EXPERIMENTS)}")
    parser.add_argument("--precisions", default=",".join(PRECISIONS),
                        help=f"comma-separated subset of {','.join(PRECISIONS)}")
    parser.add_argument("--rounds", type=positive_integer, default=1,
                        help="time every measurement this many times, interleaved, and pool")
    parser.add_argument("--cuda-graph", action="store_true",
                        help="time CUDA-graph replays (separates launch overhead; CUDA only)")
    parser.add_argument("--no-profile", action="store_true",
                        help="do not record the profiler's kernel names")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser.parse_args(argv)


def _validated(arguments: argparse.Namespace) -> dict[str, object]:
    """Every option checked and typed, before anything is measured (``ValueError`` if not)."""
    experiments = [name for name in arguments.experiments.split(",") if name]
    precisions = [name for name in arguments.precisions.split(",") if name]
    unknown = sorted(set(experiments) - set(EXPERIMENTS))
    if unknown or not experiments:
        raise ValueError(f"unknown experiments {unknown}; choose from {','.join(EXPERIMENTS)}")
    unknown = sorted(set(precisions) - set(PRECISIONS))
    if unknown or not precisions:
        raise ValueError(f"unknown precisions {unknown}; choose from {','.join(PRECISIONS)}")
    device = parse_device(arguments.device)
    threads = torch.get_num_threads() if arguments.threads is None else arguments.threads
    check_run(device, arguments.size, arguments.rounds, threads, arguments.cuda_graph)
    return {
        "device": device, "size": arguments.size, "experiments": experiments,
        "precisions": precisions, "num_threads": threads, "rounds": arguments.rounds,
        "cuda_graph": arguments.cuda_graph, "profile": not arguments.no_profile,
        "progress": not arguments.no_progress,
        "out": check_output_path(arguments.out, replace=arguments.replace, sidecar=True),
    }


def main(argv: Sequence[str] | None = None) -> Path:
    """The command line: check every option, run the suite, write the CSV, say what was done.

    Exit status 2 with a one-line message on a user error (before anything is measured);
    130 after Ctrl-C and 143 after SIGTERM, with what was measured saved to
    ``<out>.partial`` (:func:`onebyone.recording.partial_path`) and ``--out`` left as it was;
    74 when ``--out`` cannot be written (what was measured is saved the same way).
    """
    arguments = _parse_arguments(argv)
    try:
        options = _validated(arguments)
    except ValueError as error:
        user_error(PROG, error)
    out = options.pop("out")
    command = command_line([*shlex.split(PROG), *(sys.argv[1:] if argv is None else argv)])
    rows = record(out, lambda: run_experiments(command=command, **options), prog=PROG,
                  fields=FIELDS, split=split_times)
    measured = sum(row["status"] == "measured" for row in rows)
    say(f"{measured} measurements, {len(rows) - measured} skipped, written to {out}")
    say(f"command: {command}")
    return out


if __name__ == "__main__":
    main()
