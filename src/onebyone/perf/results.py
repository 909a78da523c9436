"""Reading the CSV of :mod:`onebyone.perf.experiments` back: rates, ratios and the measured roof.

Why: Chapter 5 shows recorded results (a file per device under ``book/data/``) and the
reader's own fresh ones side by side, so the same functions must read a file and summarise rows (and
:mod:`onebyone.plotting.perf` plot them),
whichever device made them. Rates are derived here, never stored: FLOP/s is ``flops /
time`` and bytes/s is ``bytes / time``, with the time per call of :func:`typical_s` (see
:mod:`onebyone.perf.roofline` for the units).

Times are the median over rounds of each round's median block time (:func:`typical_s`), so
that one round with many short blocks cannot decide them. Ratios of two measurements come with
a confidence interval over their paired interleaved rounds (:mod:`onebyone.perf.intervals`), so a
reader of the results can tell a difference from noise.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from onebyone.perf.intervals import Interval, median_of_round_medians, ratio_interval
from onebyone.perf.kernels import ALLOCATION
from onebyone.perf.roofline import Roofline
from onebyone.perf.timing import parse_rounds

_INTEGERS = ("batch_size", "in_channels", "out_channels", "height", "width", "macs", "flops",
             "bytes", "runs", "blocks", "calls_per_block", "num_threads", "rounds")
_FLOATS = ("median_s", "iqr_s", "relative_iqr", "clock_mhz")
_BOOLEANS = ("cudnn_benchmark", "noisy", "l2_flush", "tf32_matmul", "tf32_conv", "partial")

Row = dict[str, object]
"""One measurement: a CSV row by column (:data:`onebyone.perf.suite.FIELDS`).

Written by the suite as Python values, read back by :func:`parse_row` with its numbers typed.
"""


def parse_row(raw: dict[str, str]) -> Row:
    """One CSV row with its numbers as ``int``/``float``/``bool`` (blank cells become ``None``)."""
    row: Row = dict(raw)
    for key in _INTEGERS:
        row[key] = int(raw[key]) if raw.get(key) else None
    for key in _FLOATS:
        row[key] = float(raw[key]) if raw.get(key) else None
    for key in _BOOLEANS:
        row[key] = raw[key] == "True" if raw.get(key) else None
    return row


def kernel_names(row: Row) -> tuple[str, ...]:
    """The profiler's top kernels of a measured row, largest share first (allocations such as
    ``aten::empty``, which do no work, are left out)."""
    return tuple(name for name in str(row.get("kernels") or "").split(";")
                 if name and name not in ALLOCATION)


def block_rounds(row: Row) -> tuple[tuple[float, ...], ...]:
    """A measured row's per-call block times (seconds), one tuple per round."""
    rounds = parse_rounds(str(row.get("times_s") or ""))
    if not rounds:
        raise ValueError(f"row {row['experiment']}/{row['variant']} has no recorded block times")
    return rounds


def typical_s(row: Row) -> float:
    """A measured row's time per call (seconds): the median over rounds of each round's median
    block time (the CSV's ``median_s`` pools all blocks instead)."""
    return median_of_round_medians(block_rounds(row))


def time_ratio(slow: Row, fast: Row) -> Interval:
    """``slow``'s time over ``fast``'s, with a 95 % t-interval over their paired rounds (a
    speedup); ``per_round`` holds each round's ratio."""
    return ratio_interval(block_rounds(slow), block_rounds(fast))


def rate_ratio(row: Row, reference: Row) -> Interval:
    """``row``'s FLOP/s over ``reference``'s (e.g. a fraction of the peak), with its interval."""
    return time_ratio(reference, row).scaled(row["flops"] / reference["flops"])


def rate_interval(row: Row) -> Interval:
    """A measured row's FLOP/s with a 95 % t-interval over its rounds (each round's median).

    Why: the fastest of many noisy medians is biased upwards (the maximum picks the luckiest),
    so a roof taken from it should say how far its own rounds spread.
    """
    rounds = block_rounds(row)
    time = ratio_interval(rounds, [[1.0]] * len(rounds))  # seconds, over rounds
    rates = tuple(row["flops"] / seconds for seconds in time.per_round)
    return Interval(row["flops"] / time.estimate, row["flops"] / time.high,
                    row["flops"] / time.low, time.confidence, rates)


FIELD_SIZE_LIMIT = 2**31 - 1
"""Characters allowed in one CSV cell while a results file is read. A GPU times tens of thousands
of short calls per measurement, and their ``times_s`` cell outgrows the ``csv`` module's default
limit (131,072 characters; an H200's file has cells of almost 300,000)."""


def read_results(path: str | Path) -> list[Row]:
    """All rows of a results CSV written by ``python -m onebyone.perf.experiments``.

    The ``csv`` module's cell-size limit is raised to :data:`FIELD_SIZE_LIMIT` while the file is
    read, and put back afterwards.
    """
    previous = csv.field_size_limit(FIELD_SIZE_LIMIT)
    try:
        with Path(path).open(newline="", encoding="utf-8") as file:
            return [parse_row(raw) for raw in csv.DictReader(file)]
    finally:
        csv.field_size_limit(previous)


def select(rows: Iterable[Row], experiment: str, **equal: object) -> list[Row]:
    """The *measured* rows of ``experiment`` whose columns equal the given values.

    Example: ``select(rows, "same_math", precision="float32", memory_format="channels_last")``.
    """
    chosen = [
        row
        for row in rows
        if row["experiment"] == experiment
        and row["status"] == "measured"
        and all(row.get(key) == value for key, value in equal.items())
    ]
    return chosen


def flops_per_s(row: Row) -> float:
    """Achieved arithmetic rate of a measured row, FLOP/s (over :func:`typical_s`)."""
    return row["flops"] / typical_s(row)


def bytes_per_s(row: Row) -> float:
    """Achieved memory rate of a measured row (least bytes moved / :func:`typical_s`), bytes/s."""
    return row["bytes"] / typical_s(row)


def device_label(rows: Sequence[Row]) -> str:
    """``"AMD EPYC (cpu, 1 thread)"``: which device the rows were measured on, for titles."""
    if not rows:
        raise ValueError("no rows: nothing was measured")
    first = rows[0]
    if first["device"] != "cpu":
        return f"{first['device_name']} ({first['device']})"
    threads = first["num_threads"]
    return f"{first['device_name']} (cpu, {threads} thread{'s' if threads != 1 else ''})"


def fastest_row(rows: Iterable[Row], precision: str = "float32") -> Row:
    """The measured row of ``precision`` with the highest FLOP/s: the best any kernel reached."""
    candidates = [row for row in rows if row["status"] == "measured"
                  and row["precision"] == precision and row["flops"]]
    if not candidates:
        raise ValueError(f"no measured rows with FLOPs in {precision}")
    return max(candidates, key=flops_per_s)


def measured_roofline(rows: Iterable[Row], precision: str = "float32") -> Roofline:
    """This device's roof: the best rate any kernel reached in ``precision`` (FLOP/s), and the
    copy's bandwidth (bytes/s).

    Why the best rate and not one matrix product's: a roof must be above every measured point.
    Different operations dispatch to different libraries (MKL for ``torch.mm``, oneDNN for most
    convolutions on a CPU), and one of them may be faster than another on the same core.
    """
    rows = list(rows)
    best = fastest_row(rows, precision)
    copy = select(rows, "peak", variant="copy")
    if not copy:
        raise ValueError("no measured copy row (experiment 0) for the bandwidth")
    kernel = (kernel_names(best) or ("?",))[0]
    return Roofline(
        flops_per_s(best),
        bytes_per_s(copy[0]),
        label=f"measured roof, {precision}:\nbest kernel ({kernel.removeprefix('aten::')})",
    )


def bottleneck_speedups(rows: Iterable[Row], memory_format: str = "contiguous"
                        ) -> list[tuple[int, float, Interval]]:
    """``(batch size, MAC ratio, measured speedup with its interval)`` of experiment 2.

    The MAC ratio is direct MACs / reduced MACs (the prediction on paper); the speedup is
    direct time / reduced time (the measurement), with a 95 % interval over paired rounds.

    Args:
        rows: results.
        memory_format: ``"contiguous"`` (NCHW) or ``"channels_last"``.
    """
    rows = list(rows)
    result = []
    for direct in sorted(select(rows, "bottleneck", variant="direct",
                                memory_format=memory_format),
                         key=lambda row: row["batch_size"]):
        reduced = select(rows, "bottleneck", variant="reduced", batch_size=direct["batch_size"],
                         memory_format=memory_format)
        if reduced:
            result.append((
                direct["batch_size"],
                direct["macs"] / reduced[0]["macs"],
                time_ratio(direct, reduced[0]),
            ))
    return result
