"""Figures of Chapters 1-4: channels as images, the bottleneck sweep, training curves, and
where an Inception module's multiply-accumulates go.

Why: a chapter shows a real plot without carrying plotting code. Each function takes what the
chapter's compute module returns (:mod:`onebyone.bottleneck`, :mod:`onebyone.training`,
:mod:`onebyone.inception`) and returns a ``matplotlib.figure.Figure``, built without pyplot, so
that drawing opens no window and leaves no global state behind; a notebook shows the figure.
Every function is drawn with :func:`onebyone.plotting.style.book_style` (the book's style and
its one layout rule).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from onebyone import validation
from onebyone.bottleneck import BottleneckComparison
from onebyone.plotting.style import STYLE, book_style
from onebyone.training import TrainingHistory


@book_style
def show_channels(
    rows: Sequence[torch.Tensor],
    row_titles: Sequence[str],
    channel_names: Sequence[Sequence[str]] | None = None,
    cell_inches: float = 1.6,
) -> Figure:
    """Draw the channels of one or more ``C x H x W`` tensors as grey-scale images, a row each.

    Why: seeing that each output channel of a 1x1 convolution is a per-pixel mix of the input
    channels, at the same resolution, makes the definition concrete.

    Args:
        rows: tensors of shape ``C x H x W`` (one per row; rows may have different ``C``).
        row_titles: a title for each row, shown on its left.
        channel_names: optional titles for each channel of each row.
        cell_inches: width and height of one small image, in inches.

    Returns:
        The figure (not shown; a notebook displays it when it is a cell's value).

    Raises:
        TypeError: a row that is not a tensor, ``cell_inches`` not a number.
        ValueError: no rows, as many titles as rows, a row that is not ``C x H x W``, or
            ``cell_inches`` not positive.
    """
    cell_inches = validation.positive_number("cell_inches", cell_inches)
    rows, row_titles = validation.items("rows", rows), validation.items("row_titles", row_titles)
    if not rows:
        raise ValueError("rows is empty: give at least one C x H x W tensor")
    for index, tensor in enumerate(rows):
        validation.tensor_shape(f"rows[{index}]", tensor, ("C", "H", "W"))
    if len(rows) != len(row_titles):
        raise ValueError(f"{len(rows)} rows but {len(row_titles)} row titles")
    columns = max(tensor.shape[0] for tensor in rows)
    size = (cell_inches * columns + 1.2, cell_inches * len(rows))  # inches
    figure = Figure(figsize=size)
    axes = figure.subplots(len(rows), columns, squeeze=False)
    for row, (tensor, title) in enumerate(zip(rows, row_titles, strict=True)):
        images = tensor.detach().float().cpu()
        for column in range(columns):
            ax = axes[row][column]
            ax.set_xticks([])
            ax.set_yticks([])
            if column >= images.shape[0]:
                ax.set_axis_off()
                continue
            ax.imshow(images[column].numpy(), cmap="gray")
            if channel_names is not None:
                ax.set_title(channel_names[row][column], fontsize=STYLE["xtick.labelsize"])
        axes[row][0].set_ylabel(title)
    return figure


@book_style
def plot_bottleneck_sweep(sweep: list[BottleneckComparison]) -> Figure:
    """Plot MACs and parameters of the bottleneck path against its width, with the direct cost.

    Why: the picture of Chapter 2: the bottleneck's cost grows linearly with its width and
    crosses the direct convolution's flat cost at the break-even width, where the saving is gone.

    Args:
        sweep: the output of :func:`bottleneck_sweep`, all for the same layer.

    Returns:
        A figure with two panels: millions of MACs (one image) and thousands of parameters.

    Raises:
        TypeError: ``sweep`` holds something other than :class:`BottleneckComparison`.
        ValueError: an empty sweep, or one that mixes layers.
    """
    sweep = validation.items("sweep", sweep, BottleneckComparison)
    if not sweep:
        raise ValueError("the sweep is empty")
    if len({comparison.direct for comparison in sweep}) != 1:
        raise ValueError("the sweep mixes different layers: their direct costs differ")
    widths = [comparison.reduced_channels for comparison in sweep]  # r, channels
    direct = sweep[0].direct
    # Side by side in the text column each panel is narrow: two-line axis labels, and one
    # legend below both panels instead of one covering each panel's lines.
    figure = Figure(figsize=(10, 5.6))  # inches, scaled to the column by book_style
    macs_axes, parameters_axes = figure.subplots(1, 2)
    panels = (
        (macs_axes, "macs", 1e6, "multiply-accumulates\n(millions of MACs, one image)"),
        (parameters_axes, "parameters", 1e3, "parameters\n(thousands of scalars)"),
    )
    for axes, field, scale, label in panels:
        direct_cost = getattr(direct, field)
        bottleneck = [getattr(comparison.bottleneck, field) for comparison in sweep]
        axes.plot(widths, [cost / scale for cost in bottleneck], label="1x1 reduction, then k x k")
        axes.axhline(direct_cost / scale, color="black", linestyle="--", label="direct k x k")
        no_saving = [w for w, cost in zip(widths, bottleneck, strict=True) if cost >= direct_cost]
        if no_saving:
            axes.axvline(min(no_saving), color="grey", linestyle=":", label="saving disappears")
        axes.set_xlabel("bottleneck width r\n(channels)")
        axes.set_ylabel(label)
    figure.legend(*macs_axes.get_legend_handles_labels(), loc="outside lower center", ncols=3)
    return figure


@book_style
def plot_histories(histories: dict[str, TrainingHistory]) -> Figure:
    """Plot training loss and test accuracy per epoch for several models, side by side.

    Why: a final accuracy hides how a model got there; the curves show which model learns
    faster and whether one still improves when training stops. When the histories hold
    validation accuracies, those are plotted (they are what epochs are chosen on); otherwise
    the test accuracies.

    Args:
        histories: a :class:`TrainingHistory` per model name (the legend's labels).

    Returns:
        A figure with two panels: training loss (mean cross-entropy per image, in nats) and
        validation (or test) accuracy (percent).

    Raises:
        TypeError: ``histories`` is not a dict of :class:`TrainingHistory`.
        ValueError: no histories.
    """
    if not isinstance(histories, dict) or not all(
        isinstance(history, TrainingHistory) for history in histories.values()
    ):
        raise TypeError(f"histories must be a dict of TrainingHistory, got {histories!r:.80}")
    if not histories:
        raise ValueError("no histories to plot")
    # As in plot_bottleneck_sweep: two-line axis labels and one legend below both panels.
    figure = Figure(figsize=(10, 5.6))  # inches, scaled to the column by book_style
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    on_validation = all(history.validation_accuracy for history in histories.values())
    for name, history in histories.items():
        epochs = range(1, history.epochs + 1)
        curve = history.validation_accuracy if on_validation else history.test_accuracy
        loss_axes.plot(epochs, history.train_loss, marker=".", label=name)
        accuracy_axes.plot(epochs, [100 * a for a in curve], marker=".", label=name)
    for axes in (loss_axes, accuracy_axes):
        axes.set_xlabel("epoch")
        # whole epochs only: a tick at 2.5 would suggest half an epoch was measured
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss_axes.set_ylabel("training loss, nats\n(mean cross-entropy, natural log)")
    accuracy_axes.set_ylabel(f"{'validation' if on_validation else 'test'} accuracy (%)")
    figure.legend(*loss_axes.get_legend_handles_labels(), loc="outside lower center",
                  ncols=min(len(histories), 2))
    return figure


BRANCH_LABELS = {
    "branch1": "1x1",
    "branch2": "3x3",
    "branch3": "5x5",
    "branch4": "pool",
}
"""How each branch is labelled on the chart (the kernel of its main convolution)."""


@book_style
def plot_branch_macs(
    naive_macs: Mapping[str, int],
    reduced_macs: Mapping[str, int],
    title: str = "Where the MACs go",
) -> Figure:
    """Grouped bar chart of the MACs of each branch, naive module next to reduced module.

    Why a chart: the naive module's cost sits almost entirely in two branches (the 3x3 and the
    5x5 convolutions), and the 1x1 reductions shrink exactly those two; side by side bars make
    both facts visible at a glance. The totals are printed in the legend so that the reader
    sees the saving without adding the bars up.

    Args:
        naive_macs: ``{"branch1": MACs, ..., "branch4": MACs}`` of the naive module, as
            returned by :func:`onebyone.inception.branch_costs`.
        reduced_macs: the same for the module with 1x1 reductions.
        title: the chart's title.

    Returns:
        A matplotlib ``Figure`` with one axis: branches on x, millions of MACs on y.

    Raises:
        TypeError: an argument that is not a mapping of branch names to integers.
        ValueError: missing or extra branches, or a negative MAC count.
    """
    if not isinstance(title, str):
        raise TypeError(f"title must be a str, got {title!r}")
    for which, macs in (("naive_macs", naive_macs), ("reduced_macs", reduced_macs)):
        if not isinstance(macs, Mapping):
            raise TypeError(f"{which} must be a mapping of branch names to MACs, got {macs!r:.80}")
        for name, value in macs.items():
            validation.integer(f"{which}[{name!r}]", value)
        if set(macs) != set(BRANCH_LABELS):
            raise ValueError(
                f"{which} must have exactly the keys {sorted(BRANCH_LABELS)}, got {sorted(macs)}"
            )
        if any(value < 0 for value in macs.values()):
            raise ValueError(f"{which} has a negative MAC count: {dict(macs)}")
    positions = np.arange(len(BRANCH_LABELS))
    bar_width = 0.38  # in units of the distance between branches
    figure = Figure(figsize=(6.4, 3.6))
    axes = figure.add_subplot()
    for offset, macs, label, color in (
        (-bar_width / 2, naive_macs, "naive", "tab:red"),
        (bar_width / 2, reduced_macs, "with 1x1 reductions", "tab:blue"),
    ):
        millions = [macs[name] / 1e6 for name in BRANCH_LABELS]
        total = sum(macs.values()) / 1e6
        axes.bar(
            positions + offset, millions, bar_width, label=f"{label} ({total:,.0f} M MACs)",
            color=color,
        )
    axes.set_xticks(positions, [f"{name}\n({kernel})" for name, kernel in BRANCH_LABELS.items()])
    axes.set_xlabel("branch (main kernel)")
    axes.set_ylabel("multiply-accumulates (millions)")
    axes.set_title(title)
    axes.legend()
    return figure
