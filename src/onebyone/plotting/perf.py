"""Figures of Chapter 5: the roofline, and each timing experiment read back from its CSV.

Why: Chapter 5 shows recorded results and the reader's own fresh ones side by side, so the same
functions plot rows whichever device made them. They take the rows of
:func:`onebyone.perf.results.read_results` and the roofs of :mod:`onebyone.perf.roofline`
(rates derived there, never here) and return a ``matplotlib.figure.Figure``, drawn with
:func:`onebyone.plotting.style.book_style` (the book's style and its one layout rule).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from onebyone import validation
from onebyone.perf.gpu_specs import spec_for_device
from onebyone.perf.precision import PRECISIONS
from onebyone.perf.results import (
    Row,
    bottleneck_speedups,
    device_label,
    flops_per_s,
    measured_roofline,
    peak_rows,
    roof_flag,
    select,
    typical_s,
)
from onebyone.perf.roofline import Roofline
from onebyone.perf.workloads import BOTTLENECK, IMAGE_SIZE
from onebyone.plotting.style import book_style


@book_style
def plot_roofline(
    rooflines: Sequence[Roofline],
    intensities: Sequence[float] = (),
    rates: Sequence[float] = (),
    point_labels: Sequence[str] = (),
    title: str = "Roofline",
    points_label: str = "measured",
) -> Figure:
    """A log-log roofline: attainable FLOP/s against FLOP/byte, with measured points.

    Args:
        rooflines: one or more roofs, drawn as lines and labelled with ``Roofline.label``.
        intensities: arithmetic intensities of measured kernels, FLOP/byte.
        rates: their achieved rates, FLOP/s (same length).
        point_labels: optional text beside each point (e.g. the channel count).
        title: the figure's title.
        points_label: legend entry of the points (``"measured"``, or ``"predicted"`` for points
            placed by a model rather than a clock).

    Returns:
        The figure (shown by the chapter, closed by the caller).
    """
    rooflines = validation.items("rooflines", rooflines, Roofline)
    if not rooflines:
        raise ValueError("give at least one roofline to draw")
    if len(intensities) != len(rates):
        raise ValueError(f"{len(intensities)} intensities but {len(rates)} rates")
    if point_labels and len(point_labels) != len(rates):
        raise ValueError(f"{len(point_labels)} labels for {len(rates)} points")
    ridges = [roof.ridge_intensity for roof in rooflines]
    low = min([*intensities, *ridges]) / 4
    high = max([*intensities, *ridges]) * 4
    axis_intensity = np.geomspace(low, high, 200)
    figure = Figure(figsize=(7, 4.5))
    axes = figure.add_subplot()
    for roof in rooflines:
        attainable = [roof.attainable(value) for value in axis_intensity]
        axes.loglog(axis_intensity, np.array(attainable) / 1e9, label=roof.label)
    if len(rates):
        axes.loglog(intensities, np.array(rates) / 1e9, "o", color="black", label=points_label)
        texts = point_labels or [""] * len(rates)
        order = np.argsort(intensities)
        for rank, index in enumerate(order):
            # Neighbouring points sit close together on a log axis: put their labels in turn
            # below, above and further above the points, centred, so that no two overlap.
            offset = (-6, 6, 18)[rank % 3]
            axes.annotate(texts[index], (intensities[index], rates[index] / 1e9),
                          textcoords="offset points", xytext=(0, offset), ha="center",
                          va="top" if offset < 0 else "bottom", fontsize="small")
        low, high = axes.get_ylim()
        axes.set_ylim(low, high * 3)  # headroom for the labels above the highest points
    axes.set_xlabel("arithmetic intensity (FLOP/byte)")
    axes.set_ylabel("rate (GFLOP/s)")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    # Lower right: under the flat roof, right of the ridge, no line or point is drawn there,
    # whereas the default corner can cover the top of the axis and the highest points.
    axes.legend(loc="lower right")
    return figure


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
    figure = Figure(figsize=(4 * len(shapes), 5.0))  # inches, scaled to the column by book_style
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
        # Two lines per panel title and one legend for the figure: side by side, the panels
        # are half the column wide, too narrow for a one-line title or a legend inside each.
        _axes_style(axes, "implementation", "median time per call (ms)" if index == 0 else "",
                    f"N x C x H x W = {shape}\nC_out = {row['out_channels']}")
    handles, labels = figure.axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=2)
    figure.suptitle(f"Same math, same time? ({precision},\n{device_label(rows)})")
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
    k, size = BOTTLENECK["kernel_size"], IMAGE_SIZE
    title = (f"{k}x{k} conv {BOTTLENECK['in_channels']} -> {BOTTLENECK['out_channels']} on "
             f"{size} x {size},\ndirect or through a 1x1 to {BOTTLENECK['reduced_channels']} "
             "channels\n")
    _axes_style(axes, "batch size (images)", "direct time / reduced time",
                title + device_label(select(rows, "bottleneck")))
    axes.legend()
    return figure


def plot_roofline_sweep(
    rows: Iterable[Row],
    precision: str = "float32",
    extra_rooflines: Sequence[Roofline] = (),
) -> Figure:
    """Experiment 3: the 1x1 sweep's effective FLOP/s against intensity, under the roof.

    The roof is the same-precision GEMM and the copy of experiment 0
    (:func:`onebyone.perf.results.measured_roofline`); on a GPU the table of
    :mod:`onebyone.perf.gpu_specs` knows, its datasheet roof is drawn beside it. A point above the
    measured roof is labelled "above roof" (:func:`onebyone.perf.results.roof_flag`), never
    made the roof.

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
    roof = measured_roofline(rows, precision)
    roofs = [roof]
    if sweep[0]["device"] != "cpu":
        spec = spec_for_device(str(sweep[0]["device_name"]))
        datasheet = spec.roofline(precision) if spec is not None else None
        if datasheet is not None:
            roofs.append(datasheet)
    gemm = peak_rows(rows, precision)[0]
    labels = [f"C={row['in_channels']}"
              + (" above roof" if roof_flag(row, roof, gemm) else "")
              for row in sweep]
    return plot_roofline(
        [*roofs, *extra_rooflines],
        intensities=[row["flops"] / row["bytes"] for row in sweep],
        rates=[flops_per_s(row) for row in sweep],
        point_labels=labels,
        title=f"1x1 convolution, C_in = C_out swept, {precision}\n{device_label(sweep)}",
        points_label="effective (counted MACs)",
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
    for precision in PRECISIONS:
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
                f"1x1 convolution by precision,\n{device_label(sweep)}")
    axes.legend()
    return figure
