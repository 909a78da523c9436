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
- on a CUDA GPU the referee is a *different clock*: the kernels' own durations from CUPTI,
  read through ``torch.profiler`` (:mod:`onebyone.perf.gpu_referee`, as nvbench's
  ``measure_cupti``), summed per call over the same loop the harness times. A referee that also
  brackets calls with CUDA events (Triton's ``do_bench``, or per-call events after a flush,
  both used here before) shares the events' weakness, a GPU idling between an event and the
  kernel while the host catches up, and so could not catch it (``book/data/h200/README.md``).
  The CUDA cases are short kernels on purpose (about 7, 13, 22 and 27 us on an H200), and every
  case must pass the acceptance criteria of :mod:`onebyone.perf.timer_checks`: A1 a 50 us host
  busy-wait before each launch moves the median by at most 1 %; A2 the events' median within
  2 % of CUPTI's; A3 in 99 % of profiled calls the kernel starts within 1 us of its flush's end;
  A4 the blocks' first samples within 1.02 times the others' median; A5 relative IQR at most
  5 % and round medians within 2 %.

The two timers take turns: three interleaved rounds, each timing a case with the harness and
then with the independent timer, so that a burst of other work on a shared machine hits both
alike rather than one of them (the harness's rounds are pooled with
:func:`onebyone.perf.timing.merge_timings`, the independent loops by their median).

The CPU cases: a 1x1 convolution (8 x 64 x 28 x 28 -> 64 channels, well under a millisecond),
the 5x5 convolution of the bottleneck example (batch 1, about a millisecond) and a 1024 x 1024
matrix product (tens of milliseconds on one CPU thread). The CUDA cases: :func:`cuda_cases`.

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

Exit status: 0 when every case passes; 1 when any CPU case disagrees by more than 5 % or any
CUDA case fails a criterion, naming each failed criterion (the CSV is written all the same, so
the failure can be read); 2 on a bad option (one line, before anything is timed); 130 after
Ctrl-C, 143 after SIGTERM; 74 when the CSV cannot be written.
"""

from __future__ import annotations

import datetime
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from onebyone.perf import timer_checks
from onebyone.perf.gpu_referee import profile_calls
from onebyone.perf.gpu_timing import CudaDevice, Device
from onebyone.perf.machine import run_metadata
from onebyone.perf.precision import precision_dtype, tf32_allowed
from onebyone.perf.suite import parse_device
from onebyone.perf.timing import make_input, merge_timings, time_callable
from onebyone.perf.workloads import BOTTLENECK, IMAGE_SIZE, bottleneck_modules
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
    """Not a referee (the per-call event family; kept because ``book/data/h200/referees.py``
    recorded with it). Median seconds per call, each of ``calls`` calls timed alone by its own
    pair of CUDA events after a 256 MiB buffer is zeroed (a cold L2 cache), read after
    ``torch.cuda.synchronize``. Runs on ``x``'s GPU."""
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
    """Not a referee (per-call events too; kept for ``book/data/h200/referees.py``). Median
    seconds per call by ``triton.testing.do_bench`` (cold L2, per-call CUDA events), or
    ``None`` where Triton is not installed. The call count is do_bench's own (reported as 0)."""
    try:
        from triton.testing import do_bench
    except ImportError:
        return None
    with torch.cuda.device(x.device):  # do_bench's events and cache flush use the current GPU
        return do_bench(lambda: fn(x), return_mode="median") / 1e3, 0


class CudaCase(NamedTuple):
    """One CUDA case: ``fn(x)`` on an input of ``shape``, in ``precision``, in ``memory_format``."""

    fn: Callable
    shape: tuple[int, ...]
    precision: str
    memory_format: torch.memory_format


def cuda_cases(device: torch.device) -> dict[str, CudaCase]:
    """The CUDA cases of criterion A2: short kernels, where a host-bound timer goes wrong.

    Times are an H200's, for scale: a 1x1 convolution 8x64x28x28 in float32 (about 7 us), a
    1x1 convolution 32x64x56x56 in bfloat16 channels-last (13 us), one 32x256x28x28 in TF32
    channels-last (22 us), and the bottleneck's direct 5x5 convolution, 1x192x28x28 -> 32
    (:func:`onebyone.perf.workloads.bottleneck_modules`, 27 us).
    """
    seed_everything(0)
    last = torch.channels_last

    def conv(channels: int, precision: str, memory_format=torch.contiguous_format) -> nn.Module:
        return nn.Conv2d(channels, channels, 1, bias=False).to(
            device=device, dtype=precision_dtype(precision), memory_format=memory_format).eval()

    five = bottleneck_modules()["direct"].to(device).eval()
    direct = (1, BOTTLENECK["in_channels"], IMAGE_SIZE, IMAGE_SIZE)
    return {
        "conv1x1 8x64x28x28 float32": CudaCase(conv(64, "float32"), (8, 64, 28, 28), "float32",
                                               torch.contiguous_format),
        "conv1x1 32x64x56x56 bfloat16 NHWC": CudaCase(conv(64, "bfloat16", last),
                                                      (32, 64, 56, 56), "bfloat16", last),
        "conv1x1 32x256x28x28 tf32 NHWC": CudaCase(conv(256, "tf32", last), (32, 256, 28, 28),
                                                   "tf32", last),
        "conv5x5 1x192x28x28 -> 32 float32": CudaCase(five, direct, "float32",
                                                      torch.contiguous_format),
    }


HOST_WAIT_S = 50e-6
"""Criterion A1's host busy-wait before every launch, seconds."""
PROFILED_CALLS = 200
"""Calls of the loop run under the profiler per case and round (criteria A2 to A4)."""


def busy_wait(seconds: float) -> None:
    """Spin the host for ``seconds`` (a sleep would give the core away and wake late)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def validate_cuda(device: torch.device, min_run_time: float = 0.3,
                  chosen: dict[str, CudaCase] | None = None, *,
                  make_device: Callable[[], Device] | None = None,
                  profiler: Callable[[], object] | None = None,
                  host_wait: Callable[[float], None] = busy_wait,
                  ) -> list[dict[str, object]]:
    """Time every CUDA case with the harness and with CUPTI, in interleaved rounds; one row per
    case with the five criteria (``failed_criteria`` names those that did not hold).

    Args:
        device: the CUDA device.
        min_run_time: seconds of the harness's timed calls per case, over all rounds.
        chosen: the cases (default :func:`cuda_cases`).
        make_device, profiler, host_wait: the timer's device (default
            :class:`onebyone.perf.gpu_timing.CudaDevice`), the profiler and the host
            busy-wait; tests pass a simulated GPU.
    """
    rows = []
    metadata = run_metadata(device, ROUNDS, " ".join(sys.argv))
    make_device = make_device or (lambda: CudaDevice(device))
    for name, case in (chosen or cuda_cases(device)).items():
        dtype = precision_dtype(case.precision)
        x = make_input(case.shape, device=device, dtype=dtype, memory_format=case.memory_format)

        def waited(tensor: torch.Tensor, fn: Callable = case.fn) -> object:
            host_wait(HOST_WAIT_S)
            return fn(tensor)

        harness_rounds, waited_times, event_s, kernel_s, gaps_s, blocks = [], [], [], [], [], []
        options = {"device": device, "dtype": dtype, "memory_format": case.memory_format,
                   "min_run_time": min_run_time / ROUNDS, "label": name}
        with tf32_allowed(case.precision == "tf32"), torch.inference_mode():
            for _ in range(ROUNDS):
                timer = make_device()
                harness_rounds.append(time_callable(case.fn, case.shape, event_clock=timer,
                                                    **options))
                waited_times.extend(time_callable(waited, case.shape, event_clock=timer,
                                                  **options).times_s)
                profiled = profile_calls(case.fn, x, timer, PROFILED_CALLS, profiler=profiler)
                calls = sorted(set(profiled.event_s) & set(profiled.kernel_s))
                event_s += [profiled.event_s[call] for call in calls]
                kernel_s += [profiled.kernel_s[call] for call in calls]
                gaps_s += list(profiled.gaps_s.values())
                times = [profiled.event_s[call] for call in sorted(profiled.event_s)]
                starts = [sum(profiled.block_sizes[:i]) for i in range(len(profiled.block_sizes))]
                blocks += [times[start:start + size]
                           for start, size in zip(starts, profiled.block_sizes, strict=True)
                           if size > 1]
        harness = merge_timings(harness_rounds)
        criteria = timer_checks.gpu_acceptance(harness.rounds, waited_times, event_s, kernel_s,
                                               gaps_s, blocks)
        referee = statistics.median(kernel_s)
        difference = harness.median_s / referee - 1
        by_name = {criterion.name[:2]: criterion for criterion in criteria}
        rows.append({
            "case": name, "device": str(device), "device_name": metadata["processor"],
            "isa": metadata["isa"], "clock_mhz": metadata["clock_mhz"],
            "torch_version": metadata["torch_version"],
            "python_version": metadata["python_version"], "date": metadata["date"],
            "command": metadata["command"], "num_threads": torch.get_num_threads(),
            "torch_num_threads": torch.get_num_threads(), "cpu_time_per_wall_time": float("nan"),
            "harness_median_s": harness.median_s, "harness_iqr_s": harness.iqr_s,
            "harness_runs": harness.runs,
            "independent_method": "CUPTI kernel durations via torch.profiler (median, L2 flushed)",
            "independent_s": referee, "independent_calls_per_loop": len(kernel_s),
            "relative_difference": difference, "within_5_percent": abs(difference) <= TOLERANCE,
            "precision": case.precision,
            "l2_flush": harness.l2_flush, "sleep_s": harness.sleep_s,
            "sm_clock_mhz": harness.sm_clock_mhz,
            "a1_host_wait_change": by_name["A1"].value,
            "a2_referee_difference": by_name["A2"].value,
            "a3_within_1us_share": by_name["A3"].value,
            "a4_first_sample_ratio": by_name["A4"].value,
            "a5_worst_over_limit": by_name["A5"].value,
            "failed_criteria": ";".join(timer_checks.failed(criteria)),
        })
    return rows


def validate(device: torch.device, threads: int, min_run_time: float = 2.0,
             loop_seconds: float = 0.05,
             chosen: dict[str, tuple[Callable, tuple[int, ...]]] | None = None,
             ) -> list[dict[str, object]]:
    """Time every case with the harness and with the independent timer; one row per case.

    On CUDA this is :func:`validate_cuda` (its own cases, the CUPTI referee, the criteria).

    Args:
        device, threads: where, on how many CPU threads.
        min_run_time: seconds of the harness's timed blocks per case.
        loop_seconds: seconds of each independent ``perf_counter`` loop (CPU).
        chosen: the cases (default :func:`cases`); tests pass tiny ones.

    Raises:
        onebyone.recording.Interrupted: on Ctrl-C, carrying the rows of the finished cases.
    """
    torch.set_num_threads(threads)
    if device.type == "cuda":
        return validate_cuda(device, min_run_time)
    rows: list[dict[str, object]] = []
    metadata = run_metadata(device, ROUNDS, command_line(sys.argv))
    try:
        for name, (fn, shape) in (chosen or cases(device)).items():
            rows.append(_validate_case(name, fn, shape, device, threads, min_run_time,
                                       loop_seconds, metadata))
    except KeyboardInterrupt:
        raise Interrupted(rows) from None
    return rows


def _validate_case(name: str, fn: Callable, shape: tuple[int, ...], device: torch.device,
                   threads: int, min_run_time: float, loop_seconds: float,
                   metadata: dict[str, object]) -> dict[str, object]:
    """One CPU case timed both ways, in :data:`ROUNDS` interleaved rounds: its row (a CUDA
    device is checked by :func:`validate_cuda` instead)."""
    x = make_input(shape, device=device)
    harness_rounds, independent_times, cpu_ratios = [], [], []
    for _ in range(ROUNDS):
        harness_rounds.append(time_callable(fn, shape, device=device, num_threads=threads,
                                            min_run_time=min_run_time / ROUNDS, label=name))
        with torch.inference_mode():
            loops, calls, cpu_per_wall = perf_counter_loops(fn, x, loop_seconds=loop_seconds)
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
            f"{verdict(row)}")
    say(f"written to {path}")
    return report_failures(rows)


def verdict(row: dict[str, object]) -> str:
    """``"yes"``, or ``"NO"`` with the failed criteria of a CUDA row."""
    if "failed_criteria" in row:
        return f"NO ({row['failed_criteria']})" if row["failed_criteria"] else "yes"
    return "yes" if row["within_5_percent"] else "NO"


def report_failures(rows: list[dict[str, object]]) -> int:
    """Say every failure on stderr and return the exit status (0: none, 1: some).

    A CUDA row fails on its ``failed_criteria`` (each named); a CPU row when its two timers
    disagree by more than 5 %.
    """
    status = 0
    for row in rows:
        if "failed_criteria" in row:
            for criterion in filter(None, str(row["failed_criteria"]).split(";")):
                say(f"FAILED {criterion}: {row['case']}", error=True)
                status = 1
    disagreeing = [row["case"] for row in rows
                   if "failed_criteria" not in row and not row["within_5_percent"]]
    if disagreeing:
        say(f"DISAGREE by more than {TOLERANCE:.0%}: {', '.join(disagreeing)}", error=True)
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
