"""Reading the CSV of :mod:`onebyone.perf.experiments` back, and plotting each experiment.

Why: Chapter 5 shows recorded results (a file per device under ``book/data/``) and the
reader's own fresh ones side by side, so the same functions must read a file and plot rows,
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

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from onebyone.perf.intervals import Interval, median_of_round_medians, ratio_interval
from onebyone.perf.kernels import ALLOCATION
from onebyone.perf.roofline import Roofline, plot_roofline
from onebyone.perf.timing import parse_rounds
from onebyone.plotting import book_style

_INTEGERS = ("batch_size", "in_channels", "out_channels", "height", "width", "macs", "flops",
             "bytes", "runs", "blocks", "calls_per_block", "num_threads", "rounds")
_FLOATS = ("median_s", "iqr_s", "relative_iqr", "clock_mhz")
_BOOLEANS = ("cudnn_benchmark", "noisy", "l2_flush", "tf32_matmul", "tf32_conv", "partial")

Row = dict[str, object]


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


def read_results(path: str | Path) -> list[Row]:
    """All rows of a results CSV written by ``python -m onebyone.perf.experiments``."""
    with Path(path).open(newline="", encoding="utf-8") as file:
        return [parse_row(raw) for raw in csv.DictReader(file)]


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


def _axes_style(axes, xlabel: str, ylabel: str, title: str) -> None:
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(True, alpha=0.3)


@book_style
def plot_same_math(rows: Iterable[Row], precision: str = "float32") -> Figure:
    """Experiment 1: time of the four 1x1 implementations, NCHW against channels-last.

    One panel per problem size; bars are median times (ms), error bars span the IQR.
    """
    rows = select(rows, "same_math", precision=precision)
    if not rows:
        raise ValueError(f"no measured same_math rows in {precision}")
    shapes = sorted({row["input_shape"] for row in rows},
                    key=lambda shape: [int(size) for size in shape.split("x")])
    variants = ("conv2d", "linear", "matmul", "einsum")
    figure = Figure(figsize=(4 * len(shapes), 3.6))
    for index, shape in enumerate(shapes):
        axes = figure.add_subplot(1, len(shapes), index + 1)
        for offset, layout in ((-0.2, "contiguous"), (0.2, "channels_last")):
            times, spreads = [], []
            for variant in variants:
                match = [r for r in rows if r["input_shape"] == shape and r["variant"] == variant
                         and r["memory_format"] == layout]
                times.append(typical_s(match[0]) * 1e3 if match else np.nan)
                spreads.append(match[0]["iqr_s"] * 1e3 / 2 if match else 0.0)
            label = "NCHW (contiguous)" if layout == "contiguous" else "channels_last (NHWC)"
            axes.bar(np.arange(len(variants)) + offset, times, width=0.4, yerr=spreads,
                     capsize=3, label=label)
        row = next(r for r in rows if r["input_shape"] == shape)
        axes.set_xticks(range(len(variants)), variants)
        _axes_style(axes, "implementation", "median time per call (ms)",
                    f"N x C x H x W = {shape}, C_out = {row['out_channels']}")
        axes.legend()
    figure.suptitle(f"Same math, same time? ({precision}, {device_label(rows)})")
    figure.tight_layout()
    return figure


@book_style
def plot_bottleneck(rows: Iterable[Row]) -> Figure:
    """Experiment 2: the MAC ratio (prediction) against the measured speedup, by batch size,
    for each memory format measured; error bars are the 95 % intervals over paired rounds."""
    rows = list(rows)
    by_format = {layout: bottleneck_speedups(rows, layout)
                 for layout in ("contiguous", "channels_last")}
    by_format = {layout: speedups for layout, speedups in by_format.items() if speedups}
    if not by_format:
        raise ValueError("no measured bottleneck pairs (direct and reduced) in these rows")
    first = next(iter(by_format.values()))
    batches = [batch for batch, _, _ in first]
    figure = Figure(figsize=(6, 3.8))
    axes = figure.add_subplot()
    axes.plot(batches, [ratio for _, ratio, _ in first], "--", label="MAC ratio (on paper)")
    for layout, speedups in by_format.items():
        estimates = np.array([speedup.estimate for _, _, speedup in speedups])
        errors = np.array([[s.estimate - s.low for _, _, s in speedups],
                           [s.high - s.estimate for _, _, s in speedups]])
        name = "NCHW" if layout == "contiguous" else "channels-last"
        axes.errorbar([batch for batch, _, _ in speedups], estimates, yerr=errors, fmt="o-",
                      capsize=3, label=f"measured speedup, {name}")
    axes.set_xscale("log", base=2)
    axes.set_xticks(batches, [str(batch) for batch in batches])
    axes.set_ylim(bottom=0)
    title = "5x5 conv 192 -> 32 on 28 x 28, direct or through a 1x1 to 16 channels\n"
    _axes_style(axes, "batch size (images)", "direct time / reduced time",
                title + device_label(select(rows, "bottleneck")))
    axes.legend()
    figure.tight_layout()
    return figure


def plot_roofline_sweep(
    rows: Iterable[Row],
    precision: str = "float32",
    extra_rooflines: Sequence[Roofline] = (),
) -> Figure:
    """Experiment 3: the 1x1 sweep's achieved FLOP/s against intensity, on the measured roof.

    Args:
        rows: results containing experiment 0 (the roof) and 3 (the sweep).
        precision: which precision's sweep and GEMM roof to draw.
        extra_rooflines: further roofs to draw (e.g. datasheet predictions), labelled.
    """
    rows = list(rows)
    sweep = sorted(select(rows, "roofline_sweep", precision=precision),
                   key=lambda row: row["in_channels"])
    if not sweep:
        raise ValueError(f"no measured roofline_sweep rows in {precision}")
    return plot_roofline(
        [measured_roofline(rows, precision), *extra_rooflines],
        intensities=[row["flops"] / row["bytes"] for row in sweep],
        rates=[flops_per_s(row) for row in sweep],
        point_labels=[f"C={row['in_channels']}" for row in sweep],
        title=f"1x1 convolution, C_in = C_out swept, {precision}\n{device_label(sweep)}",
    )


@book_style
def plot_inception(rows: Iterable[Row], batch_size: int,
                   memory_format: str = "contiguous") -> Figure:
    """Experiment 4: time of each branch and of the whole module, naive against reduced."""
    rows = select(rows, "inception", batch_size=batch_size, memory_format=memory_format)
    if not rows:
        raise ValueError(f"no measured inception rows for batch size {batch_size} "
                         f"in {memory_format}")
    parts = ("branch1", "branch2", "branch3", "branch4", "module")
    figure = Figure(figsize=(7, 3.8))
    axes = figure.add_subplot()
    for offset, module in ((-0.2, "naive"), (0.2, "reduced")):
        times, spreads = [], []
        for part in parts:
            match = [row for row in rows if row["variant"] == f"{module}/{part}"]
            times.append(typical_s(match[0]) * 1e3 if match else np.nan)
            spreads.append(match[0]["iqr_s"] * 1e3 / 2 if match else 0.0)
        axes.bar(np.arange(len(parts)) + offset, times, width=0.4, yerr=spreads, capsize=3,
                 label=module)
    axes.set_xticks(range(len(parts)), parts)
    _axes_style(axes, "part of inception (3a)", "median time per call (ms)",
                f"Inception (3a), batch {batch_size}, float32, {memory_format},\n"
                f"{device_label(rows)}")
    axes.legend()
    figure.tight_layout()
    return figure


@book_style
def plot_precision(rows: Iterable[Row]) -> Figure:
    """Experiment 5: achieved GFLOP/s of the 1x1 sweep in each precision that was measured."""
    rows = list(rows)
    sweep = select(rows, "roofline_sweep")
    if not sweep:
        raise ValueError("no measured roofline_sweep rows")
    figure = Figure(figsize=(6, 3.8))
    axes = figure.add_subplot()
    for precision in ("float32", "tf32", "bfloat16"):
        points = sorted((row["in_channels"], flops_per_s(row) / 1e9)
                        for row in sweep if row["precision"] == precision)
        if points:
            axes.plot(*zip(*points, strict=True), "o-", label=precision)
    channels = sorted({row["in_channels"] for row in sweep})
    axes.set_xscale("log", base=2)
    axes.set_xticks(channels, [str(count) for count in channels])
    axes.set_yscale("log")
    axes.yaxis.set_major_formatter(ScalarFormatter())
    axes.yaxis.set_minor_formatter(ScalarFormatter())
    _axes_style(axes, "channels C_in = C_out", "achieved rate (GFLOP/s)",
                f"1x1 convolution by precision, {device_label(sweep)}")
    axes.legend()
    figure.tight_layout()
    return figure
