"""Figures shared by several chapters.

Why: a chapter should show a real plot without carrying plotting code; each function here
returns a ``matplotlib.figure.Figure`` and changes no global matplotlib state.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from matplotlib.figure import Figure


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
    """
    if len(rows) != len(row_titles):
        raise ValueError(f"{len(rows)} rows but {len(row_titles)} row titles")
    for tensor in rows:
        if tensor.dim() != 3:
            raise ValueError(f"each row must be C x H x W, got shape {tuple(tensor.shape)}")
    columns = max(tensor.shape[0] for tensor in rows)
    size = (cell_inches * columns + 1.2, cell_inches * len(rows))  # inches
    figure = Figure(figsize=size, layout="constrained")
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
                ax.set_title(channel_names[row][column], fontsize=9)
        axes[row][0].set_ylabel(title, fontsize=10)
    return figure
