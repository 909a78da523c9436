"""The command line of Chapter 5's timing experiments: one command runs them all and writes one
tidy CSV.

Why: a claim about speed is only as good as the measurement behind it, so every number in
Chapter 5 comes from the suite (:mod:`onebyone.perf.suite`), run by one command that anyone can
repeat on their own device::

    python -m onebyone.perf.experiments --device cpu --out book/data/cpu.csv --rounds 5 \\
        --threads 1
    python -m onebyone.perf.experiments --device cuda --out book/data/<gpu>.csv --rounds 5 \\
        --size full

This module only reads and checks the options, runs the suite and writes the file: the
experiments are described in :mod:`onebyone.perf.suite`, what they time in
:mod:`onebyone.perf.workloads`. It writes the rows of each finished experiment to a temporary
file beside ``--out`` and renames it at the end; interrupted (Ctrl-C), it saves what was
measured to ``<out>.partial``, marked partial.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from onebyone.perf.precision import PRECISIONS
from onebyone.perf.suite import (
    EXPERIMENTS,
    Interrupted,
    Row,
    check_run,
    parse_device,
    run_experiments,
    temporary_path,
    write_rows,
)
from onebyone.perf.workloads import SIZES

PROG = "python -m onebyone.perf.experiments"
"""The command, as its messages and the recorded rows name it."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (and exit status 2), without the usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_integer(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _Parser(
        prog=PROG,
        description="Time the 1x1 convolution experiments of Chapter 5 and write a CSV.",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--out", required=True, help="CSV file to write (its folder must exist)")
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--threads", type=_positive_integer, default=None,
                        help="CPU threads (default: PyTorch's, torch.get_num_threads())")
    parser.add_argument("--experiments", default=",".join(EXPERIMENTS),
                        help=f"comma-separated subset of {','.join(EXPERIMENTS)}")
    parser.add_argument("--precisions", default=",".join(PRECISIONS),
                        help=f"comma-separated subset of {','.join(PRECISIONS)}")
    parser.add_argument("--rounds", type=_positive_integer, default=1,
                        help="time every measurement this many times, interleaved, and pool")
    parser.add_argument("--cuda-graph", action="store_true",
                        help="time CUDA-graph replays (separates launch overhead; CUDA only)")
    parser.add_argument("--no-profile", action="store_true",
                        help="do not record the profiler's kernel names")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser.parse_args(argv)


def check_output_path(out: str | Path) -> Path:
    """The ``--out`` path, checked before anything is measured: a ``.csv`` file name in an
    existing, writable folder. Raises ``ValueError`` naming the problem."""
    path = Path(out)
    if path.suffix != ".csv":
        raise ValueError(f"--out must name a .csv file, got {str(out)!r}")
    if path.is_dir():
        raise ValueError(f"--out {str(out)!r} is a directory; name a .csv file in it")
    if not path.parent.is_dir():
        raise ValueError(f"--out: the folder {str(path.parent)!r} does not exist")
    probe = temporary_path(path)
    try:
        probe.touch()
        probe.unlink()
    except OSError as error:
        folder = str(path.parent)
        raise ValueError(f"--out: cannot write in {folder!r} ({error.strerror})") from None
    return path


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
        "progress": not arguments.no_progress, "out": check_output_path(arguments.out),
    }


def partial_path(out: Path) -> Path:
    """Where an interrupted run saves what it measured: ``cpu.csv`` -> ``cpu.csv.partial``."""
    return out.with_name(out.name + ".partial")


def main(argv: Sequence[str] | None = None) -> Path:
    """The command line: check every option, run the suite, write the CSV, say what was done.

    Exit status 2 with a one-line message on a user error (before anything is measured);
    130 after Ctrl-C, with what was measured saved to :func:`partial_path` and ``--out``
    left as it was.
    """
    arguments = _parse_arguments(argv)
    prog = PROG
    try:
        options = _validated(arguments)
    except ValueError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    out = options.pop("out")
    command = shlex.join([*shlex.split(PROG), *(sys.argv[1:] if argv is None else argv)])
    temporary = temporary_path(out)

    def save(rows: list[Row]) -> None:
        write_rows(rows, temporary)

    try:
        rows = run_experiments(command=command, on_experiment=save, **options)
    except Interrupted as stop:
        saved = partial_path(out)
        write_rows(stop.rows, saved)
        temporary.unlink(missing_ok=True)
        print(f"interrupted: {len(stop.rows)} measurements saved to {saved} (marked partial); "
              f"{out} was left unchanged", file=sys.stderr)
        raise SystemExit(130) from None
    write_rows(rows, temporary)
    os.replace(temporary, out)
    measured = sum(row["status"] == "measured" for row in rows)
    print(f"{measured} measurements, {len(rows) - measured} skipped, written to {out}")
    print(f"command: {command}")
    return out


if __name__ == "__main__":
    main()
