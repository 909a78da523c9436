"""The one style and the one layout rule every figure of the book is drawn with.

Why: a chapter should show a real plot without carrying plotting code; each figure function of
:mod:`onebyone.plotting` returns a ``matplotlib.figure.Figure`` and changes no global
matplotlib state.

The style exists because the web book is read on phones too: a figure is scaled to the width of
the text column, 358 pixels on a phone 390 pixels wide, so a 10-inch figure with 10-point labels
showed them about 5 pixels high. Every plotting function of the package is decorated with
:func:`book_style`, which draws it with the font sizes of :data:`STYLE` and no wider than
:data:`FIGURE_WIDTH_INCHES`; :func:`smallest_text_pixels` says how small its text gets on a phone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec

import matplotlib
from matplotlib.figure import Figure
from matplotlib.text import Text

from onebyone import validation

FIGURE_WIDTH_INCHES = 6.4  # the widest a figure is drawn; wider ones are scaled down to this
PHONE_COLUMN_PIXELS = 358  # the text column on a phone 390 CSS pixels wide
READABLE_PIXELS = 8.0  # the smallest text height, in CSS pixels, that the book accepts on a phone

# Font sizes in points: at 6.4 inches shown 358 pixels wide, 11 points is 8.5 pixels high.
STYLE = {
    "font.size": 12,
    "axes.titlesize": 12,
    "axes.labelsize": 12,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 11,
    "figure.titlesize": 12,
}

P = ParamSpec("P")


def book_style(draw: Callable[P, Figure]) -> Callable[P, Figure]:
    """Decorate a function that returns a figure so that it draws in the book's style.

    Why: font sizes are read from matplotlib's settings when each label is made, so the style
    must be in force while the function draws; it is, inside this decorator, and only there.
    A figure wider than :data:`FIGURE_WIDTH_INCHES` is scaled down to it (its text keeps its
    size in points, so it grows relative to the plot).

    The layout rule: every figure is laid out here, with matplotlib's constrained layout, so
    that labels do not overlap and a figure looks the same whichever chapter draws it. The
    drawing function chooses no layout of its own (no ``layout=``, no ``tight_layout``); one
    that does raises ``ValueError``.
    """

    @functools.wraps(draw)
    def drawn(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with matplotlib.rc_context(STYLE):
            figure = draw(*args, **kwargs)
            if figure.get_layout_engine() is not None:
                raise ValueError(f"{draw.__qualname__} chose a layout; book_style lays figures "
                                 "out (constrained layout)")
            width, height = figure.get_size_inches()
            if width > FIGURE_WIDTH_INCHES:
                scale = FIGURE_WIDTH_INCHES / width
                figure.set_size_inches(FIGURE_WIDTH_INCHES, height * max(scale, 0.75))
            figure.set_layout_engine("constrained")
        return figure

    return drawn


def smallest_text_pixels(figure: Figure, column_pixels: float = PHONE_COLUMN_PIXELS) -> float:
    """Height in CSS pixels of the figure's smallest visible text when shown ``column_pixels`` wide.

    A figure ``w`` inches wide is shown at ``column_pixels / w`` pixels per inch, and a font of
    ``s`` points is ``s / 72`` inches high. Figures narrower than the column are not enlarged.

    Raises:
        TypeError: ``figure`` is not a matplotlib ``Figure``; ``column_pixels`` not a number.
        ValueError: ``column_pixels`` not positive, or a figure without visible text.
    """
    if not isinstance(figure, Figure):
        raise TypeError(f"figure must be a matplotlib Figure, got {type(figure).__name__}")
    column_pixels = validation.positive_number("column_pixels", column_pixels)
    width_inches = figure.get_size_inches()[0]
    pixels_per_inch = min(column_pixels / width_inches, figure.dpi)
    sizes = [
        text.get_fontsize()
        for text in figure.findobj(Text)
        if text.get_visible() and text.get_text().strip()
    ]
    if not sizes:
        raise ValueError("the figure has no text")
    return min(sizes) / 72 * pixels_per_inch
