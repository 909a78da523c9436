"""Validate the harness before trusting it: its median against an independent timer.

Why: ``onebyone.perf.timing.time_callable`` adds warm-up, blocking and statistics on top of
``torch.utils.benchmark``; if any of that were wrong (a missed synchronisation, a warm-up
counted, a per-block time not divided by the block size) its numbers would drift from the
truth. This script times three representative cases twice, with the harness and with a timer
that shares none of its code, and checks that the two agree within 5 %:

- on a CPU the independent timer is a plain ``time.perf_counter`` loop over many calls, the
  median of many short loops (20 per round, each about 0.05 seconds long): the same statistic
  as the harness's (a median of short blocks), so that on a busy machine both ignore the
  interrupted blocks, rather than one of them averaging them in;
- on a CUDA GPU it must measure what the harness measures, one call at a time by CUDA events
  with the L2 cache overwritten before every call (a cold cache, as a layer meets it inside a
  network). So it is Triton's ``triton.testing.do_bench`` (median, its own cache flush), where
  Triton is installed, and otherwise :func:`cuda_event_seconds`, written here: per-call CUDA
  events after zeroing a 256 MiB buffer. Both flush more than the harness (twice the L2's size),
  and both time one call at a time between events as the harness does, so this check catches
  mistakes in the harness's bookkeeping, not a weakness of per-call events themselves (see
  ``book/data/h200/README.md``). A pair of events around a loop of back-to-back calls is *not*
  a fair referee, because it measures something else: with the cache warm, and with the host's
  launch time per call exposed whenever a kernel is shorter than it. Against such a loop on an
  H200 the harness read -17 %, -7 % and +13 % on the three cases
  (``results/validate_timer_h200-back-to-back.csv``, the first recording).

The two timers take turns: three interleaved rounds, each timing a case with the harness and
then with the independent timer, so that a burst of other work on a shared machine hits both
alike rather than one of them (the harness's rounds are pooled with
:func:`onebyone.perf.timing.merge_timings`, the independent loops by their median).

The cases: a 1x1 convolution (8 x 64 x 28 x 28 -> 64 channels, well under a millisecond), the
5x5 convolution of the bottleneck example (batch 1, about a millisecond) and a 1024 x 1024
matrix product (tens of milliseconds on one CPU thread).

Command (from the repository root; it prints a table and writes the CSV)::

    .venv/bin/python benchmarks/validate_timer.py --device cpu --threads 1 --replace
    python benchmarks/validate_timer.py --device cuda --out \\
        benchmarks/results/validate_timer_<gpu>.csv   # as recorded on the H200

Without ``--replace`` it writes a *new* file beside the recorded one
(``validate_timer_cpu-<UTC time>.csv``), so that a trial run never overwrites the record the
book reads. It refuses to overwrite an existing ``--out`` (or an earlier run's
``<out>.partial``) unless ``--replace`` is given. It writes as every results file is written
(:mod:`onebyone.recording`): whole or not at all, in UTF-8; stopped, it saves the cases it
finished to ``<out>.partial``.

Exit status: 0 when every case agrees within 5 %; 1 when any disagrees by more than 5 % (the CSV
is written all the same, so the disagreement can be read); 2 on a bad option (one line, before
anything is timed); 130 after Ctrl-C, 143 after SIGTERM; 74 when the CSV cannot be written.
"""

from __future__ import annotations

import datetime
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from onebyone import records
from onebyone.perf.machine import run_metadata
from onebyone.perf.suite import parse_device
from onebyone.perf.timing import make_input, merge_timings, time_callable
from onebyone.recording import (
    CommandParser,
    Interrupted,
    add_output_options,
    check_output_path,
    command_line,
    positive_integer,
    record,
    say,
    user_error,
)
from onebyone.runtime import seed_everything

TOLERANCE = 0.05  # relative difference allowed between the two timers
ROUNDS = 3  # interleaved rounds of harness and independent timer
RESULTS = Path(__file__).resolve().parent / "results"
PROG = "python benchmarks/validate_timer.py"
"""The command, as its messages name it."""


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


def perf_counter_loops(fn: Callable, x: torch.Tensor, loops: int = 20,
                       loop_seconds: float = 0.05) -> tuple[list[float], int, float]:
    """Seconds per call of ``loops`` plain ``time.perf_counter`` loops, calls per loop, and the
    process's CPU time over the wall time of all loops.

    Each loop runs as many calls as fill ``loop_seconds`` (estimated from one call after three
    warm-up calls). The CPU-time ratio says how many threads really worked: about 1 on one
    thread, about 2 when a library ignored the thread setting and used two cores (it is lower,
    not higher, when another program takes the core away).
    """
    for _ in range(3):
        fn(x)
    start = time.perf_counter()
    fn(x)
    calls = max(1, int(loop_seconds / (time.perf_counter() - start)))
    per_call = []
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    for _ in range(loops):
        start = time.perf_counter()
        for _ in range(calls):
            fn(x)
        per_call.append((time.perf_counter() - start) / calls)
    cpu_per_wall = (time.process_time() - cpu_start) / (time.perf_counter() - wall_start)
    return per_call, calls, cpu_per_wall


FLUSH_BYTES = 256 * 2**20
"""Bytes overwritten before each independently timed CUDA call (256 MiB): more than any current
GPU's L2 cache, and the size Triton's ``do_bench`` uses."""


def cuda_event_seconds(fn: Callable, x: torch.Tensor, calls: int = 200) -> tuple[float, int]:
    """Median seconds per call, each of ``calls`` calls timed alone by its own pair of CUDA events
    after a 256 MiB buffer is zeroed (a cold L2 cache), read after ``torch.cuda.synchronize``.
    Runs on ``x``'s GPU."""
    with torch.cuda.device(x.device):
        flush = torch.empty(FLUSH_BYTES // 4, dtype=torch.int32, device=x.device)
        for _ in range(3):
            fn(x)
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                  for _ in range(calls)]
        torch.cuda.synchronize()
        for begin, end in events:
            flush.zero_()
            begin.record()
            fn(x)
            end.record()
        torch.cuda.synchronize()
    return statistics.median(begin.elapsed_time(end) / 1e3 for begin, end in events), calls


def triton_seconds(fn: Callable, x: torch.Tensor) -> tuple[float, int] | None:
    """Median seconds per call by ``triton.testing.do_bench`` (cold L2, per-call CUDA events), or
    ``None`` where Triton is not installed. The call count is do_bench's own (reported as 0)."""
    try:
        from triton.testing import do_bench
    except ImportError:
        return None
    with torch.cuda.device(x.device):  # do_bench's events and cache flush use the current GPU
        return do_bench(lambda: fn(x), return_mode="median") / 1e3, 0


def independent_cuda_seconds(fn: Callable, x: torch.Tensor) -> tuple[float, int, str]:
    """The CUDA referee: Triton's ``do_bench`` where installed, else :func:`cuda_event_seconds`.

    Returns seconds per call, calls timed (0: do_bench chose) and the method's name.
    """
    timed = triton_seconds(fn, x)
    if timed is not None:
        return *timed, "triton.testing.do_bench (median, L2 flushed)"
    return *cuda_event_seconds(fn, x), "CUDA events per call (median, L2 flushed)"


def validate(device: torch.device, threads: int, min_run_time: float = 2.0,
             loop_seconds: float = 0.05,
             chosen: dict[str, tuple[Callable, tuple[int, ...]]] | None = None,
             ) -> list[dict[str, object]]:
    """Time every case with the harness and with the independent timer; one row per case.

    Args:
        device, threads: where, on how many CPU threads.
        min_run_time: seconds of the harness's timed blocks per case.
        loop_seconds: seconds of each independent ``perf_counter`` loop (CPU).
        chosen: the cases (default :func:`cases`); tests pass tiny ones.

    Raises:
        onebyone.recording.Interrupted: on Ctrl-C, carrying the rows of the finished cases.
    """
    rows: list[dict[str, object]] = []
    torch.set_num_threads(threads)
    metadata = run_metadata(device, ROUNDS, command_line(sys.argv))
    try:
        for name, (fn, shape) in (chosen or cases(device)).items():
            rows.append(_validate_case(name, fn, shape, device, threads, min_run_time,
                                       loop_seconds, metadata))
    except KeyboardInterrupt:
        raise Interrupted(rows) from None
    return rows


COLUMNS: tuple[records.Column, ...] = tuple(records.Column(*column) for column in (
    ("case", records.TEXT, False),
    ("device", records.TEXT, False),
    ("device_name", records.TEXT, True),
    ("isa", records.TEXT, True),
    ("clock_mhz", records.POSITIVE, True),
    ("torch_version", records.TEXT, True),
    ("python_version", records.TEXT, True),
    ("date", records.TEXT, True),
    ("command", records.TEXT, True),
    ("num_threads", records.integer(1), False),
    ("torch_num_threads", records.integer(1), False),
    ("cpu_time_per_wall_time", records.number(0.0, allow_nan=True), False),
    ("harness_median_s", records.POSITIVE, False),
    ("harness_iqr_s", records.NON_NEGATIVE, False),
    ("harness_runs", records.integer(1), False),
    ("independent_method", records.TEXT, False),
    ("independent_s", records.POSITIVE, False),
    ("independent_calls_per_loop", records.integer(0), False),
    ("relative_difference", records.number(-1.0), False),
    ("within_5_percent", records.BOOLEAN, False),
))
"""The columns of the CSV, in the order of :func:`validate`'s rows, and how each reads back:
times positive, counts at least 1 (``independent_calls_per_loop`` 0 where ``do_bench`` chose),
``cpu_time_per_wall_time`` ``nan`` on a GPU (not measured there)."""


def read_validation(path: str | Path | records.Readable) -> list[dict[str, object]]:
    """The rows of a file this script wrote, typed by :data:`COLUMNS` (read strictly, see
    :func:`onebyone.records.read_records`; at least one case).

    Raises:
        onebyone.records.RecordError: a ``ValueError`` naming the file, line and column of the
            first thing that cannot be trusted.
    """
    return records.read_records(path, COLUMNS, least_rows=1)


def _validate_case(name: str, fn: Callable, shape: tuple[int, ...], device: torch.device,
                   threads: int, min_run_time: float, loop_seconds: float,
                   metadata: dict[str, object]) -> dict[str, object]:
    """One case timed both ways, in :data:`ROUNDS` interleaved rounds: its row."""
    x = make_input(shape, device=device)
    harness_rounds, independent_times, cpu_ratios = [], [], []
    for _ in range(ROUNDS):
        harness_rounds.append(time_callable(fn, shape, device=device, num_threads=threads,
                                            min_run_time=min_run_time / ROUNDS, label=name))
        with torch.inference_mode():
            if device.type == "cuda":
                seconds, calls, method = independent_cuda_seconds(fn, x)
                cpu_ratios.append(float("nan"))
                independent_times.append(seconds)
            else:
                loops, calls, cpu_per_wall = perf_counter_loops(fn, x,
                                                                loop_seconds=loop_seconds)
                cpu_ratios.append(cpu_per_wall)
                independent_times.extend(loops)
                method = "time.perf_counter loop"
    harness = merge_timings(harness_rounds)
    independent = statistics.median(independent_times)
    difference = harness.median_s / independent - 1
    return {
        "case": name,
        "device": str(device),
        "device_name": metadata["processor"],
        "isa": metadata["isa"],
        "clock_mhz": metadata["clock_mhz"],
        "torch_version": metadata["torch_version"],
        "python_version": metadata["python_version"],
        "date": metadata["date"],
        "command": metadata["command"],
        "num_threads": threads,
        "torch_num_threads": torch.get_num_threads(),
        "cpu_time_per_wall_time": statistics.median(cpu_ratios),
        "harness_median_s": harness.median_s,
        "harness_iqr_s": harness.iqr_s,
        "harness_runs": harness.runs,
        "independent_method": method,
        "independent_s": independent,
        "independent_calls_per_loop": calls,
        "relative_difference": difference,
        "within_5_percent": abs(difference) <= TOLERANCE,
    }


def default_path(device: torch.device, replace: bool) -> Path:
    """The recorded file (``validate_timer_<device type>.csv``) with ``replace``, else a new one."""
    if replace:
        return RESULTS / f"validate_timer_{device.type}.csv"
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return RESULTS / f"validate_timer_{device.type}-{stamp}.csv"


def main(argv: list[str] | None = None, **validate_options: object) -> int:
    """Parse the command line, validate, write the CSV, print the table.

    Returns the exit status: 0 when every case agrees within 5 %, 1 when any disagrees; exits
    with 2, 130, 143 or 74 as the module's docstring says.
    """
    parser = CommandParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=positive_integer, default=1)
    add_output_options(parser, required=False,
                       help="CSV to write (default: a new file beside the recorded one; with "
                            "--replace, the recorded one)")
    arguments = parser.parse_args(argv)
    try:
        device = parse_device(arguments.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device cuda, but PyTorch sees no CUDA device")
        path = Path(arguments.out) if arguments.out else default_path(device, arguments.replace)
        path = check_output_path(path, replace=arguments.replace)
    except ValueError as error:
        user_error(PROG, error)
    rows = record(path, lambda: validate(device, arguments.threads, **validate_options),
                  prog=PROG)
    say(f"{'case':32} {'harness':>12} {'independent':>12} {'difference':>11}  ok")
    for row in rows:
        say(f"{row['case']:32} {row['harness_median_s'] * 1e3:9.4f} ms "
            f"{row['independent_s'] * 1e3:9.4f} ms {row['relative_difference']:+10.2%}  "
            f"{'yes' if row['within_5_percent'] else 'NO'}")
    say(f"written to {path}")
    disagreeing = [row["case"] for row in rows if not row["within_5_percent"]]
    if disagreeing:
        say(f"DISAGREE by more than {TOLERANCE:.0%}: {', '.join(disagreeing)}", error=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
