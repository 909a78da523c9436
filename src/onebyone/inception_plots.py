"""Where an Inception module's multiply-accumulates go: one bar per branch, naive next to reduced.

Why a chart: the naive module's cost sits almost entirely in two branches (the 3x3 and the 5x5
convolutions), and the 1x1 reductions shrink exactly those two; side by side bars make both
facts visible at a glance. The figure is built without pyplot, so creating it opens no window
and leaves no global state behind; a notebook shows the returned figure.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from onebyone import validation
from onebyone.plotting import book_style

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

    Why: see the module docstring; the totals are printed in the legend so that the reader
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
    width = 0.38
    figure = Figure(figsize=(6.4, 3.6), layout="constrained")
    axes = figure.add_subplot()
    for offset, macs, label, color in (
        (-width / 2, naive_macs, "naive", "tab:red"),
        (width / 2, reduced_macs, "with 1x1 reductions", "tab:blue"),
    ):
        millions = [macs[name] / 1e6 for name in BRANCH_LABELS]
        total = sum(macs.values()) / 1e6
        axes.bar(
            positions + offset, millions, width, label=f"{label} ({total:,.0f} M MACs)", color=color
        )
    axes.set_xticks(positions, [f"{name}\n({kernel})" for name, kernel in BRANCH_LABELS.items()])
    axes.set_xlabel("branch (main kernel)")
    axes.set_ylabel("multiply-accumulates (millions)")
    axes.set_title(title)
    axes.legend()
    return figure
