"""The two halves of a depthwise-separable layer on the clock: depthwise 3x3 and pointwise 1x1.

Why: by multiply-accumulates the depthwise half is almost free; by the clock it need not be.
:func:`measure_parts` times both halves of one layer with the book's harness
(:func:`onebyone.perf.timing.time_callable`) in interleaved rounds, on the CPU and one thread, and
names the kernel that ran each (:func:`onebyone.perf.kernels.top_kernels`). Chapter 6 quotes a
recorded file, written by this module's command, so its sentences do not change from build to
build; it also runs :func:`measure_parts` again on the reader's machine. The command is::

    python -m onebyone.perf.separable_timing --out benchmarks/results/separable_cpu.csv \
        --rounds 5 --min-run-time 0.3

(add ``--replace`` to record over the existing file). It writes its file as every results
file is written (:mod:`onebyone.recording`), with the experiment command's option checks and
exit statuses: 2 on a bad option, before measuring; 130 after Ctrl-C and 143 after SIGTERM, with
the rounds both parts completed saved to ``<out>.partial``; 74 when ``--out`` cannot be written.

(The recorded file names it ``python -m onebyone.separable_timing``: it was made before this
module moved into :mod:`onebyone.perf`; the code and options are the same.)

The allocator matters more than the kernel here. Each call allocates its 800 kB output, and glibc's
``malloc`` serves a block that large with a fresh ``mmap`` (its default threshold is 128 kiB, and it
rises only after such a block has been freed), so each call can pay one page fault per 4 kiB page
it writes. On the recording machine a fresh process took several hundred minor page faults per
depthwise call and ran it several times slower than after the threshold had risen. So
:func:`fix_allocator` sets the thresholds explicitly (``mallopt``) before anything is timed, the
file stores that setting and the page faults per call, and Chapter 6 checks them.

Times are in seconds per call; FLOPs are 2 per MAC.
"""

from __future__ import annotations

import copy
import ctypes
import ctypes.util
import math
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from onebyone import records, validation
from onebyone.perf.intervals import Interval, ratio_interval
from onebyone.perf.kernels import convolution_kernel, top_kernels
from onebyone.perf.peak import measure_copy_bandwidth
from onebyone.perf.timing import format_rounds, merge_timings, time_callable
from onebyone.recording import (
    CommandParser,
    Interrupted,
    add_output_options,
    check_output_path,
    command_line,
    positive_integer,
    positive_number,
    record,
    say,
    user_error,
)

PROG = "python -m onebyone.perf.separable_timing"
"""The command, as its messages and the recorded rows name it."""

LAYER_INPUT = (1, 256, 28, 28)
"""MobileNet's separable layer at 28 x 28 with 256 channels in and out: N x C x H x W."""

COLUMNS: tuple[records.Column, ...] = tuple(records.Column(*column) for column in (
    ("part", records.one_of("depthwise", "pointwise"), False),
    ("kernel", records.TEXT, True),
    ("flops", records.integer(1), False),
    ("median_s", records.POSITIVE, False),
    ("rounds", records.BLOCK_TIMES, False),
    ("num_threads", records.integer(1), False),
    ("device_name", records.TEXT, True),
    ("torch_version", records.TEXT, True),
    ("median_s_before", records.POSITIVE, True),
    ("page_faults_per_call_before", records.NON_NEGATIVE, True),
    ("allocator", records.TEXT, True),
    ("page_faults_per_call", records.NON_NEGATIVE, True),
    ("cache_copy_bytes_per_s", records.POSITIVE, True),
    ("memory_copy_bytes_per_s", records.POSITIVE, True),
    ("command", records.TEXT, True),
))
"""The columns of the file :func:`main` writes, in order, and how each reads back: FLOPs and
threads at least 1, times and rates positive and finite, page faults per call at least 0; blank
cells (not measured: no page-fault counter on Windows, no copy rates without ``bandwidth``) read
as ``None``."""

FIELDS = tuple(column.name for column in COLUMNS)
"""The file's header: the names of :data:`COLUMNS`."""

MMAP_THRESHOLD_BYTES = 4_000_000
"""Blocks below this come from the heap, not from a fresh ``mmap`` (glibc ``M_MMAP_THRESHOLD``)."""
TRIM_THRESHOLD_BYTES = 100_000_000
"""Free heap memory kept before it is returned to the system (glibc ``M_TRIM_THRESHOLD``)."""
GLIBC_DEFAULT_THRESHOLD_BYTES = 128 * 1024
"""glibc's initial ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD`` (128 kiB), before they adapt."""
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers (malloc.h)


def fix_allocator(mmap_threshold: int = MMAP_THRESHOLD_BYTES,
                  trim_threshold: int = TRIM_THRESHOLD_BYTES) -> str:
    """Fix glibc ``malloc``'s thresholds for this process; return the setting, for the record.

    Why: with glibc's default, adaptive thresholds, whether a layer's output comes from reused
    heap memory or from fresh pages (one page fault per 4 kiB written) depends on what the process
    freed before, so the same kernel can run several times slower in a fresh process. With both
    thresholds fixed (:data:`MMAP_THRESHOLD_BYTES`, :data:`TRIM_THRESHOLD_BYTES`) every call
    reuses the same heap memory. The same as starting Python with
    ``MALLOC_MMAP_THRESHOLD_=4000000 MALLOC_TRIM_THRESHOLD_=100000000``.

    Args:
        mmap_threshold, trim_threshold: bytes. :data:`GLIBC_DEFAULT_THRESHOLD_BYTES` for both
            holds glibc's initial setting fixed: every block of 128 kiB or more is then freshly
            mapped, the state of a fresh process, made repeatable.

    Returns:
        ``"glibc mallopt mmap_threshold=... trim_threshold=..."`` in bytes, or a sentence saying
        why nothing was changed (not glibc: macOS, Windows, musl).
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt, version = libc.mallopt, libc.gnu_get_libc_version
    except (OSError, AttributeError, TypeError):
        return "unchanged (not glibc)"
    if not (mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
            and mallopt(_M_TRIM_THRESHOLD, trim_threshold)):
        return "unchanged (mallopt refused)"
    version.restype = ctypes.c_char_p
    return (f"glibc {version().decode()} mallopt mmap_threshold={mmap_threshold} "
            f"trim_threshold={trim_threshold}")


def page_faults_per_call(function, input_shape: Sequence[int], calls: int = 50) -> float | None:
    """Minor page faults (pages the system had to map on first touch) per call of ``function``.

    Why: a kernel that writes into freshly mapped memory pays for every page on first touch, work
    no FLOP count sees. ``None`` where the operating system does not count them (Windows). A
    module is not changed: a copy of it, in eval mode, is called (as
    :func:`onebyone.perf.timing.time_callable` times one).
    """
    try:
        import resource
    except ImportError:
        return None
    if isinstance(function, nn.Module):
        function = copy.deepcopy(function).eval()
    x = torch.randn(tuple(input_shape))
    with torch.no_grad():
        for _ in range(5):  # warm-up: the heap grows to its working size
            function(x)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(calls):
            function(x)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    return (after - before) / calls


def depthwise_time_share(depthwise_rounds, pointwise_rounds, **options) -> Interval:
    """The depthwise part's share of the layer's time, ``d / (d + p)``, with its interval.

    Why: the share is ``1 / (1 + p/d)``, a decreasing function of the ratio of the medians, so the
    interval of ``p/d`` over paired rounds (:func:`onebyone.perf.intervals.ratio_interval`: one
    ratio per interleaved round) maps onto an interval of the share. Arguments: block times in
    seconds per call, by round; ``options`` go to ``ratio_interval``.
    """
    ratio = ratio_interval(pointwise_rounds, depthwise_rounds, **options)
    return Interval(1 / (1 + ratio.estimate), 1 / (1 + ratio.high), 1 / (1 + ratio.low),
                    ratio.confidence)


def layer_parts(channels: int = 256) -> dict[str, nn.Conv2d]:
    """The depthwise 3x3 and the pointwise 1x1 convolution of a separable layer (no biases)."""
    channels = validation.positive_integer("channels", channels)
    return {
        "depthwise": nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
        "pointwise": nn.Conv2d(channels, channels, 1, bias=False),
    }


def part_flops(input_shape: Sequence[int] = LAYER_INPUT) -> dict[str, int]:
    """FLOPs of each part on ``input_shape`` (``N x C x H x W``, stride 1, ``C`` to ``C``)."""
    batch, channels, height, width = validation.shape("input_shape", input_shape, dims=4)
    pixels = batch * height * width
    return {"depthwise": 2 * pixels * channels * 9, "pointwise": 2 * pixels * channels**2}


def measure_parts(input_shape: Sequence[int] = LAYER_INPUT, rounds: int = 3,
                  min_run_time: float = 0.15, command: str = "",
                  bandwidth: bool = False) -> list[dict[str, object]]:
    """Time both parts on the CPU, one thread, in ``rounds`` interleaved rounds.

    Args:
        input_shape: ``N x C x H x W`` of the layer's input.
        rounds: rounds kept; in each, every part is timed for ``min_run_time`` seconds. One more
            round is run first and discarded (a warm-up).
        min_run_time: seconds of timed blocks per part and round.
        command: how this was run, kept in every row.
        The part's median and page faults per call are also measured once *before*, with
        glibc's initial thresholds held fixed (:data:`GLIBC_DEFAULT_THRESHOLD_BYTES`: the
        state of a fresh process, made repeatable), as ``median_s_before`` and
        ``page_faults_per_call_before``.
        bandwidth: also measure one thread's copy bandwidth, on a buffer the size of the layer's
            input (it stays in cache) and on a 256 MB one (main memory), in bytes/s.

    Returns:
        One row per part (the keys of :data:`FIELDS`); ``rounds`` holds the per-call block
        times of every round, as :func:`onebyone.perf.timing.format_rounds` writes them.

    Raises:
        onebyone.recording.Interrupted: on Ctrl-C (``KeyboardInterrupt``), carrying the rows of
            the rounds both parts completed (none before the first kept round ends).
    """
    if rounds < 1 or min_run_time <= 0:
        raise ValueError(f"rounds must be >= 1 and min_run_time > 0, got {rounds}, {min_run_time}")
    parts = layer_parts(input_shape[1])
    records: dict[str, list] = {name: [] for name in parts}
    # One thread for the whole measurement, malloc's thresholds fixed first (see fix_allocator:
    # with glibc's adaptive default a fresh process paid hundreds of page faults per depthwise
    # call, and ran it several times slower), page faults counted, and a first round thrown away.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    stopped = False
    try:
        before = {}
        fix_allocator(GLIBC_DEFAULT_THRESHOLD_BYTES, GLIBC_DEFAULT_THRESHOLD_BYTES)
        for name, part in parts.items():
            faults_before = page_faults_per_call(part, input_shape)
            timed = time_callable(part, input_shape, device="cpu", num_threads=1,
                                  min_run_time=min_run_time, label=name)
            before[name] = (timed.median_s, faults_before)
        allocator = fix_allocator()
        kernels = {name: top_kernels(part, torch.randn(tuple(input_shape)))
                   for name, part in parts.items()}
        faults = {name: page_faults_per_call(part, input_shape) for name, part in parts.items()}
        copy_rates = {"cache": "", "memory": ""}
        if bandwidth:
            layer_megabytes = max(1, round(math.prod(input_shape) * 4 / 1e6))
            copy_rates = {
                "cache": measure_copy_bandwidth("cpu", layer_megabytes, min_run_time,
                                                num_threads=1)[0],
                "memory": measure_copy_bandwidth("cpu", 256, min_run_time, num_threads=1)[0],
            }
        for round_index in range(rounds + 1):
            for name, part in parts.items():
                timed = time_callable(part, input_shape, device="cpu", num_threads=1,
                                      min_run_time=min_run_time, label=name)
                if round_index > 0:  # round 0 only warms up
                    records[name].append(timed)
    except KeyboardInterrupt:  # keep the rounds both parts completed, paired as they ran
        kept = min(len(timings) for timings in records.values())
        if kept == 0:
            raise Interrupted([]) from None
        records = {name: timings[:kept] for name, timings in records.items()}
        stopped = True
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
            "median_s_before": before[name][0],
            "page_faults_per_call_before": "" if before[name][1] is None else before[name][1],
            "allocator": allocator,
            "page_faults_per_call": "" if faults[name] is None else faults[name],
            "cache_copy_bytes_per_s": copy_rates["cache"],
            "memory_copy_bytes_per_s": copy_rates["memory"],
            "command": command,
        })
    if stopped:
        raise Interrupted(rows)
    return rows


def read_parts(path: str | Path | records.Readable) -> dict[str, dict[str, object]]:
    """A file written by :func:`main`, by part, with numbers parsed and ``rounds`` as tuples.

    Read strictly (:func:`onebyone.records.read_records`, typed by :data:`COLUMNS`); the file
    must hold one depthwise and one pointwise row.

    Raises:
        onebyone.records.RecordError: a ``ValueError`` naming the file, line and column of the
            first thing that cannot be trusted.
    """
    parts: dict[str, dict[str, object]] = {}

    def one_row_per_part(row: dict[str, object]) -> tuple[str, str] | None:
        if row["part"] in parts:
            return "part", (f"a second {row['part']} row: the file must hold one depthwise and "
                            f"one pointwise row")
        parts[str(row["part"])] = row
        return None

    def both_parts(rows: list[dict[str, object]]) -> tuple[str, str] | None:
        missing = [part for part in ("depthwise", "pointwise") if part not in parts]
        if missing:
            return "part", (f"no {' and no '.join(missing)} row: the file must hold one "
                            f"depthwise and one pointwise row")
        return None

    records.read_records(path, COLUMNS, check=one_row_per_part, check_file=both_parts)
    return parts


def main(argv: Sequence[str] | None = None) -> Path:
    """Measure both parts and write them to ``--out`` (a CSV file); return its path.

    The same checks and exit statuses as the experiment command (see the module's docstring):
    an existing ``--out`` is replaced only with ``--replace``.
    """
    parser = CommandParser(prog=PROG, description=__doc__.splitlines()[0])
    add_output_options(parser)
    parser.add_argument("--rounds", type=positive_integer, default=5,
                        help="interleaved rounds kept (after one warm-up round)")
    parser.add_argument("--min-run-time", type=positive_number, default=0.3,
                        help="seconds of timed blocks per part and round")
    arguments = parser.parse_args(argv)
    try:
        out = check_output_path(arguments.out, replace=arguments.replace)
    except ValueError as error:
        user_error(PROG, error)
    command = command_line([*shlex.split(PROG), *(sys.argv[1:] if argv is None else argv)])
    record(out, lambda: measure_parts(rounds=arguments.rounds,
                                      min_run_time=arguments.min_run_time, command=command,
                                      bandwidth=True), prog=PROG, fields=FIELDS)
    say(f"both parts written to {out}")
    return out


if __name__ == "__main__":
    main()
