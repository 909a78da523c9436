"""Every figure of the book, drawn in one style with one layout rule.

Why: no compute module imports matplotlib; a chapter asks this package for a figure of what a
compute module returned. One module per family of chapters, one shared style:

- :mod:`onebyone.plotting.style`: :func:`book_style`, the decorator every figure function wears
  (the book's font sizes, at most :data:`FIGURE_WIDTH_INCHES` wide, constrained layout), and
  :func:`smallest_text_pixels`, how small a figure's text gets on a phone;
- :mod:`onebyone.plotting.networks`: Chapters 1-4 (channels as images, the bottleneck sweep,
  training curves, an Inception module's MACs by branch);
- :mod:`onebyone.plotting.perf`: Chapter 5 (the roofline and each timing experiment).

Every figure function is importable from here (``plotting.plot_roofline(...)``).
"""

from onebyone.plotting.networks import (
    BRANCH_LABELS,
    plot_bottleneck_sweep,
    plot_branch_macs,
    plot_histories,
    show_channels,
)
from onebyone.plotting.perf import (
    plot_bottleneck,
    plot_inception,
    plot_precision,
    plot_roofline,
    plot_roofline_sweep,
    plot_same_math,
)
from onebyone.plotting.style import (
    FIGURE_WIDTH_INCHES,
    PHONE_COLUMN_PIXELS,
    READABLE_PIXELS,
    STYLE,
    book_style,
    smallest_text_pixels,
)

__all__ = [
    "BRANCH_LABELS",
    "FIGURE_WIDTH_INCHES",
    "PHONE_COLUMN_PIXELS",
    "READABLE_PIXELS",
    "STYLE",
    "book_style",
    "plot_bottleneck",
    "plot_bottleneck_sweep",
    "plot_branch_macs",
    "plot_histories",
    "plot_inception",
    "plot_precision",
    "plot_roofline",
    "plot_roofline_sweep",
    "plot_same_math",
    "show_channels",
    "smallest_text_pixels",
]
