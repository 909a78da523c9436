"""Draw the book's block diagrams as small, reproducible SVG files in book/figures/.

Why: every other figure of the book is a data plot; these show one idea each (a 1x1 filter, a
bottleneck, an mlpconv block, an Inception module, ResNet's bottleneck block, a depthwise-
separable layer) in the style of d2l's block diagrams. They are drawn by this script, not by
hand, so that every number on them (channels, sizes, MACs, parameters) is computed by the
package at drawing time, and the SVG text is plain Python string building: no matplotlib, no
fonts or links to fetch, no timestamps or random ids, so the same package gives the same bytes.

Conventions shared by all diagrams, so that a reader learns them once:

- orange boxes are 1x1 convolutions (and the fully connected layer they are), blue boxes are
  spatial ``k x k`` convolutions, grey boxes are operations without weights (pooling,
  concatenation, addition);
- the viewBox is :data:`WIDTH` user units wide and no text is smaller than :data:`MIN_FONT`,
  so that on a phone 390 pixels wide (a text column of 358) every label is about 10 pixels high;
- MACs are multiply-accumulates for one image, as everywhere in the book (:mod:`onebyone.cost`).

    python tools/diagrams.py              writes book/figures/*.svg
    python tools/diagrams.py --out DIR    writes them into DIR instead

tests/test_diagrams.py regenerates them and fails when a committed file is stale.
"""

from __future__ import annotations

import argparse
import itertools
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from torch import nn

from onebyone import (
    bottleneck,
    cost,
    googlenet,
    inception,
    mobilenet,
    nin,
    resnet_bottleneck,
    separable,
)
from onebyone.atomic import write_text_atomically

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "book" / "figures"

WIDTH = 560  # user units; a phone's 358-pixel column shows them at 0.64 pixel each
MIN_FONT = 15  # user units: 9.6 pixels on that column, above the book's 8-pixel floor
FONT = 17  # the usual label size
SUB_FONT = 15  # subscripts (C_in), never below MIN_FONT
FONT_FAMILY = "DejaVu Sans, Arial, sans-serif"

INK = "#212529"  # text and outlines: 16:1 on white
MUTED = "#495057"  # arrows and secondary text: 9:1 on white
FAINT = "#adb5bd"  # grid lines inside volumes
HIGHLIGHT = "#868e96"  # the one pixel a figure follows
POINTWISE = ("#ffe8cc", "#d9480f")  # (fill, stroke): 1x1 convolutions, fully connected layers
SPATIAL = ("#d0ebff", "#1864ab")  # k x k convolutions (depthwise ones included)
OTHER = ("#e9ecef", "#495057")  # no weights: pooling, concatenation, addition
LEGEND = {
    "pointwise": (POINTWISE, "1×1 convolution"),
    "spatial": (SPATIAL, "k×k convolution"),
    "other": (OTHER, "no weights"),
}

# Advance widths of DejaVu Sans, in ems, for estimating how wide a label is (the widest of the
# font stack, so a label that fits in DejaVu Sans fits in Arial too).
_NARROW = set(",.:;!|il'()[]{} ")
_WIDE = set("×→−+=∑·⋮MWmw")


def text_width(text: str, size: float) -> float:
    """Estimated width, in user units, of ``text`` at font size ``size`` (markup removed)."""
    total = 0.0
    for kind, part in _segments(text):
        part_size = SUB_FONT if kind == "sub" else size
        for char in part:
            if char in _NARROW:
                em = 0.32
            elif char in _WIDE:
                em = 0.84
            elif char.isupper():
                em = 0.72
            else:
                em = 0.62
            total += em * part_size
    return total


def _segments(text: str) -> list[tuple[str, str]]:
    """Split ``"C_{in} x"`` into ``[("normal", "C"), ("sub", "in"), ("normal", " x")]``."""
    parts: list[tuple[str, str]] = []
    for match in re.finditer(r"_\{([^}]*)\}|[^_]+|_", text):
        if match.group(1) is not None:
            parts.append(("sub", match.group(1)))
        else:
            parts.append(("normal", match.group(0)))
    return parts


def plain(text: str) -> str:
    """``text`` as a reader hears it: ``"C_{in}"`` becomes ``"C_in"``."""
    return "".join(part if kind == "normal" else f"_{part}" for kind, part in _segments(text))


def _n(value: float) -> str:
    """A coordinate, rounded to 0.1 unit and written the same way on every machine."""
    rounded = round(value, 1)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.1f}"


@dataclass
class Drawing:
    """An SVG under construction: elements are appended in drawing order.

    Every label is checked as it is added: no font below :data:`MIN_FONT`, and no text outside
    the viewBox (by the estimate of :func:`text_width`), so that a clipped label fails here
    rather than on a phone.
    """

    name: str
    height: float
    title: str
    description: str
    elements: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def text(
        self,
        x: float,
        y: float,
        content: str,
        size: float = FONT,
        anchor: str = "middle",
        weight: str = "normal",
        fill: str = INK,
        italic: bool = False,
    ) -> None:
        """A one-line label with its baseline at ``y``; ``_{...}`` marks a subscript."""
        if size < MIN_FONT:
            raise ValueError(f"{self.name}: font {size} below {MIN_FONT} for {content!r}")
        width = text_width(content, size)
        left = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
        if left < 0 or left + width > WIDTH or y - size < 0 or y + size / 4 > self.height:
            raise ValueError(
                f"{self.name}: label {content!r} ({left:.0f}..{left + width:.0f}, baseline "
                f"{y:.0f}) leaves the {WIDTH} x {self.height} viewBox"
            )
        spans = []
        shift = 0
        for kind, part in _segments(content):
            if kind == "sub":
                spans.append(f'<tspan dy="5" font-size="{SUB_FONT}">{escape(part)}</tspan>')
                shift = 5
            else:
                dy = f' dy="-{shift}"' if shift else ""
                spans.append(f"<tspan{dy}>{escape(part)}</tspan>" if dy else escape(part))
                shift = 0
        attributes = [f'x="{_n(x)}"', f'y="{_n(y)}"', f'font-size="{_n(size)}"']
        if anchor != "start":
            attributes.append(f'text-anchor="{anchor}"')
        if weight != "normal":
            attributes.append(f'font-weight="{weight}"')
        if italic:
            attributes.append('font-style="italic"')
        if fill != INK:
            attributes.append(f'fill="{fill}"')
        self.elements.append(f"<text {' '.join(attributes)}>{''.join(spans)}</text>")
        self.texts.append(plain(content))

    def rect(
        self,
        x: float,
        y: float,
        width: float,
        height: float,
        colours: tuple[str, str] = ("#ffffff", INK),
        radius: float = 6,
        stroke_width: float = 1.5,
        dashed: bool = False,
    ) -> None:
        """A rectangle with rounded corners, filled and outlined with ``colours``."""
        fill, stroke = colours
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        self.elements.append(
            f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(width)}" height="{_n(height)}" '
            f'rx="{_n(radius)}" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="{_n(stroke_width)}"{dash}/>'
        )

    def box(
        self,
        x: float,
        y: float,
        width: float,
        height: float,
        lines: list[str],
        colours: tuple[str, str],
        size: float = FONT,
    ) -> None:
        """A layer: a rounded box with one or more centred lines of text that must fit in it."""
        self.rect(x, y, width, height, colours)
        leading = size * 1.25
        first = y + height / 2 - leading * (len(lines) - 1) / 2 + size * 0.35
        for index, line in enumerate(lines):
            if text_width(line, size) > width - 8:
                raise ValueError(f"{self.name}: {line!r} does not fit in a box {width} wide")
            self.text(x + width / 2, first + index * leading, line, size=size)

    def polygon(self, points: list[tuple[float, float]], fill: str, stroke: str = INK,
                stroke_width: float = 1.5) -> None:
        """A closed polygon (the faces of a volume, an arrowhead)."""
        coordinates = " ".join(f"{_n(px)},{_n(py)}" for px, py in points)
        self.elements.append(
            f'<polygon points="{coordinates}" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="{_n(stroke_width)}" stroke-linejoin="round"/>'
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str = MUTED,
             stroke_width: float = 1.5, dashed: bool = False) -> None:
        """A straight line."""
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        self.elements.append(
            f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" stroke="{stroke}" '
            f'stroke-width="{_n(stroke_width)}"{dash}/>'
        )

    def arrow(self, points: list[tuple[float, float]], stroke: str = MUTED,
              dashed: bool = False) -> None:
        """A polyline through ``points`` with an arrowhead at the last point.

        The head is drawn as a polygon (not an SVG marker), so there are no ids to collide
        when several diagrams share a page.
        """
        (x0, y0), (x1, y1) = points[-2], points[-1]
        length = math.hypot(x1 - x0, y1 - y0)
        ux, uy = (x1 - x0) / length, (y1 - y0) / length
        head, half = 10, 5
        base = (x1 - ux * head, y1 - uy * head)
        shaft = [*points[:-1], base]
        coordinates = " ".join(f"{_n(px)},{_n(py)}" for px, py in shaft)
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        self.elements.append(
            f'<polyline points="{coordinates}" fill="none" stroke="{stroke}" '
            f'stroke-width="2"{dash}/>'
        )
        self.polygon(
            [(x1, y1), (base[0] - uy * half, base[1] + ux * half),
             (base[0] + uy * half, base[1] - ux * half)],
            fill=stroke, stroke=stroke, stroke_width=1,
        )

    def circle(self, x: float, y: float, radius: float, colours: tuple[str, str]) -> None:
        """A circle: one unit (one channel value) of a fully connected layer."""
        fill, stroke = colours
        self.elements.append(
            f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(radius)}" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="1.5"/>'
        )

    def legend(self, y: float, kinds: list[str]) -> None:
        """Colour swatches for ``kinds`` (keys of :data:`LEGEND`), centred on one line."""
        items = [LEGEND[kind] for kind in kinds]
        widths = [22 + 8 + text_width(label, MIN_FONT) for _, label in items]
        gap = 24
        x = (WIDTH - sum(widths) - gap * (len(items) - 1)) / 2
        for (colours, label), width in zip(items, widths, strict=True):
            self.rect(x, y - 14, 22, 18, colours, radius=4)
            self.text(x + 30, y, label, size=MIN_FONT, anchor="start")
            x += width + gap

    def svg(self) -> str:
        """The finished document: title and description first, for screen readers."""
        body = "\n".join(f"  {element}" for element in self.elements)
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {_n(self.height)}" '
            f'width="{WIDTH}" height="{_n(self.height)}" role="img" '
            f'aria-labelledby="{self.name}-title {self.name}-desc" '
            f'font-family="{FONT_FAMILY}" fill="{INK}">\n'
            f'  <title id="{self.name}-title">{escape(self.title)}</title>\n'
            f'  <desc id="{self.name}-desc">{escape(self.description)}</desc>\n'
            f'  <rect width="{WIDTH}" height="{_n(self.height)}" fill="#ffffff"/>\n'
            f"{body}\n"
            "</svg>\n"
        )


@dataclass(frozen=True)
class Diagram:
    """One drawn diagram: its file name (without ``.svg``), its SVG text, and its numbers.

    Attributes:
        name: the file is ``book/figures/<name>.svg``.
        svg: the document.
        numbers: every number written on the diagram, by name, as the package computed it
            (unrounded; the diagram shows ratios to one or two decimals), so that a chapter
            can glue the same values next to the figure.
    """

    name: str
    svg: str
    numbers: dict[str, int | float]


def _volume(d: Drawing, x: float, y: float, size: float, depth: float, columns: int,
            slices: int, highlight: int | None, colours: tuple[str, str] = ("#ffffff", INK)
            ) -> None:
    """An ``H x W x C`` volume in oblique projection: the channels run up and to the right.

    ``(x, y)`` is the top left corner of the front face (``size`` square); ``depth`` is the
    length of the channel axis. Column ``highlight`` of the top row is shaded through the whole
    depth: one pixel's vector of channel values.
    """
    dx, dy = depth * 0.8, -depth * 0.6
    fill, stroke = colours
    d.polygon([(x, y), (x + dx, y + dy), (x + size + dx, y + dy), (x + size, y)], fill)
    d.polygon([(x + size, y), (x + size + dx, y + dy), (x + size + dx, y + size + dy),
               (x + size, y + size)], fill)
    d.polygon([(x, y), (x + size, y), (x + size, y + size), (x, y + size)], fill)
    cell = size / columns
    for i in range(1, columns):
        d.line(x + i * cell, y, x + i * cell, y + size, stroke=FAINT, stroke_width=1)
        d.line(x, y + i * cell, x + size, y + i * cell, stroke=FAINT, stroke_width=1)
        d.line(x + i * cell, y, x + i * cell + dx, y + dy, stroke=FAINT, stroke_width=1)
    for j in range(1, slices):
        fx, fy = dx * j / slices, dy * j / slices
        d.line(x + fx, y + fy, x + size + fx, y + fy, stroke=FAINT, stroke_width=1)
        d.line(x + size + fx, y + fy, x + size + fx, y + size + fy, stroke=FAINT, stroke_width=1)
    if highlight is not None:
        left = x + highlight * cell
        d.polygon([(left, y), (left + dx, y + dy), (left + cell + dx, y + dy),
                   (left + cell, y)], HIGHLIGHT, stroke=stroke)
        d.polygon([(left, y), (left + cell, y), (left + cell, y + cell), (left, y + cell)],
                  HIGHLIGHT, stroke=stroke)
    # redraw the outline on top of the grid
    d.polygon([(x, y), (x + size, y), (x + size, y + size), (x, y + size)], "none", stroke)


def _dense(d: Drawing, left: list[tuple[float, float]], right: list[tuple[float, float]],
           stroke: str) -> None:
    """Every unit of ``left`` joined to every unit of ``right``: a fully connected layer."""
    for x1, y1 in left:
        for x2, y2 in right:
            d.line(x1, y1, x2, y2, stroke=stroke, stroke_width=1.2)


def _column(x: float, top: float, count: int, spacing: float) -> list[tuple[float, float]]:
    return [(x, top + i * spacing) for i in range(count)]


def _row(left: float, y: float, count: int, spacing: float) -> list[tuple[float, float]]:
    return [(left + i * spacing, y) for i in range(count)]


def _units(d: Drawing, units: list[tuple[float, float]], colours: tuple[str, str],
           radius: float = 9) -> None:
    for ux, uy in units:
        d.circle(ux, uy, radius, colours)


def _inception_3a() -> tuple[dict[str, int], int]:
    """GoogLeNet's inception (3a): its arguments (Table 1's columns) and its input size."""
    return (
        googlenet.inception_arguments("inception3a"),
        googlenet.INCEPTION_INPUT_SIZE["inception3a"],
    )


def draw_pointwise_filter() -> Diagram:
    """Chapter 1: a 1x1 filter over a volume is a fully connected layer at every pixel."""
    arguments, size = _inception_3a()
    c_in, c_out = arguments["in_channels"], arguments["ch5x5"]  # Chapter 1's 192 -> 32
    parameters = cost.conv2d_parameters(c_in, c_out, 1)
    macs = cost.conv2d_macs(c_in, c_out, 1, size)
    layer = nn.Conv2d(c_in, c_out, kernel_size=1)
    assert parameters == cost.count_parameters(layer) == c_out * c_in + c_out
    assert macs == cost.model_macs(layer, (1, c_in, size, size)) == size * size * c_out * c_in

    d = Drawing(
        "pointwise_filter",
        height=700,
        title="A 1×1 convolution is a fully connected layer applied at every pixel",
        description=(
            f"Top: an H × W × C_in volume; a 1 × 1 × C_in filter reads the C_in values of one "
            f"pixel and writes one value of the same pixel in the H × W × C_out output; C_out "
            f"such filters slide over every pixel. Bottom: at one pixel this is one fully "
            f"connected layer from C_in inputs to C_out outputs, y = W x + b, with the same "
            f"weights W (C_out × C_in) at every pixel. Example: {size} × {size} × {c_in} to "
            f"{size} × {size} × {c_out} takes {parameters:,} parameters and {macs:,} "
            f"multiply-accumulates."
        ),
    )
    d.text(20, 30, "(a) A 1×1 filter slides over every pixel", anchor="start", weight="bold")
    _volume(d, 20, 140, 120, 110, columns=5, slices=6, highlight=1)
    d.text(80, 288, "input")
    d.text(80, 312, "H × W × C_{in}")
    filter_x, filter_y = 268, 116
    _volume(d, filter_x, filter_y, 24, 110, columns=1, slices=6, highlight=None,
            colours=POINTWISE)
    d.text(filter_x + 56, 178, "1 × 1 × C_{in}")
    d.text(filter_x + 56, 200, "filter")
    _volume(d, 400, 140, 120, 40, columns=5, slices=2, highlight=1)
    d.text(460, 288, "output")
    d.text(460, 312, "H × W × C_{out}")
    d.arrow([(200, 234), (390, 234)])
    d.text(300, 225, "× C_{out} filters", size=MIN_FONT)
    d.text(300, 256, "one output channel each", size=MIN_FONT)

    d.text(20, 362, "(b) At one pixel: one fully connected layer", anchor="start",
           weight="bold")
    inputs = _column(150, 400, 5, 36)
    outputs = _column(410, 418, 4, 36)
    _dense(d, inputs, outputs, POINTWISE[1])
    _units(d, inputs, (HIGHLIGHT, INK))  # the shaded pixel of (a)
    _units(d, outputs, (HIGHLIGHT, INK))
    d.text(128, 450, "x", anchor="end", italic=True)
    d.text(118, 476, "C_{in} values", anchor="end", size=MIN_FONT)
    d.text(118, 496, "of pixel (h, w)", anchor="end", size=MIN_FONT)
    d.text(432, 468, "y", anchor="start", italic=True)
    d.text(442, 494, "C_{out} values", anchor="start", size=MIN_FONT)
    d.text(280, 590, "y = W x + b,  W: C_{out} × C_{in}")
    d.text(280, 614, "the same W and b at all H × W pixels", size=MIN_FONT)
    example = (
        f"e.g. {size}×{size}×{c_in} → {size}×{size}×{c_out}: "
        f"{parameters:,} parameters, {macs:,} MACs"
    )
    d.text(280, 648, example, size=MIN_FONT, fill=MUTED)
    d.legend(684, ["pointwise"])
    numbers = {
        "size": size, "in_channels": c_in, "out_channels": c_out,
        "parameters": parameters, "macs": macs,
    }
    return Diagram(d.name, d.svg(), numbers)


def draw_depth_reduction() -> Diagram:
    """Chapter 2: a 5x5 convolution directly, and after a 1x1 reduction, with their MACs."""
    arguments, size = _inception_3a()
    c_in, r, c_out = arguments["in_channels"], arguments["ch5x5red"], arguments["ch5x5"]
    kernel = inception.Inception(**arguments).branch3[1][0].kernel_size[0]  # the 5x5 branch
    classic = bottleneck.compare_bottleneck(c_in, c_out, kernel, size, size, r)
    direct, reduction, spatial = classic.direct.macs, classic.reduction.macs, classic.spatial.macs
    total = classic.bottleneck.macs
    assert total == reduction + spatial
    assert direct == cost.model_macs(bottleneck.same_conv(c_in, c_out, kernel),
                                     (1, c_in, size, size))
    assert total == cost.model_macs(bottleneck.bottleneck_path(c_in, c_out, kernel, r),
                                    (1, c_in, size, size))
    ratio = classic.mac_ratio
    assert ratio == direct / total

    d = Drawing(
        "depth_reduction",
        height=470,
        title=f"A {kernel}×{kernel} convolution from {c_in} to {c_out} channels, directly and "
        f"after a 1×1 reduction to {r} channels",
        description=(
            f"Two paths from a {size} × {size} × {c_in} input to a {size} × {size} × {c_out} "
            f"output. Left, direct: one {kernel} × {kernel} convolution from {c_in} to {c_out} "
            f"channels, {direct:,} multiply-accumulates (MACs). Right: a 1 × 1 convolution "
            f"from {c_in} to {r} channels ({reduction:,} MACs), then the {kernel} × {kernel} "
            f"convolution from {r} to {c_out} channels ({spatial:,} MACs), {total:,} MACs in "
            f"all: {ratio:.2f} times fewer."
        ),
    )
    k = f"{kernel}×{kernel}"
    tensor_in = f"{size} × {size} × {c_in}"
    tensor_out = f"{size} × {size} × {c_out}"
    columns = (140, 420)
    d.text(columns[0], 30, "(a) direct", weight="bold")
    d.text(columns[1], 30, "(b) 1×1 reduction first", weight="bold")
    for x in columns:
        d.text(x, 66, tensor_in)
        d.text(x, 330, tensor_out)
    # (b): 1x1 reduction, the thin tensor, then the k x k convolution
    d.arrow([(columns[1], 76), (columns[1], 100)])
    d.box(columns[1] - 120, 100, 240, 58, [f"1×1 conv, {c_in} → {r}", f"{reduction:,} MACs"],
          POINTWISE)
    d.arrow([(columns[1], 158), (columns[1], 178)])
    d.text(columns[1], 196, f"{size} × {size} × {r}")
    d.arrow([(columns[1], 204), (columns[1], 226)])
    d.box(columns[1] - 120, 226, 240, 58, [f"{k} conv, {r} → {c_out}", f"{spatial:,} MACs"],
          SPATIAL)
    d.arrow([(columns[1], 284), (columns[1], 310)])
    # (a): the same k x k convolution, level with (b)'s, reading every input channel
    d.arrow([(columns[0], 76), (columns[0], 226)])
    d.box(columns[0] - 120, 226, 240, 58, [f"{k} conv, {c_in} → {c_out}", f"{direct:,} MACs"],
          SPATIAL)
    d.arrow([(columns[0], 284), (columns[0], 310)])
    d.line(280, 20, 280, 345, stroke=FAINT, stroke_width=1)
    d.text(columns[0], 372, f"{direct:,} MACs", weight="bold")
    d.text(columns[1], 372, f"{total:,} MACs", weight="bold")
    d.text(280, 410, f"{ratio:.2f}× fewer MACs with the 1×1 reduction")
    d.legend(452, ["pointwise", "spatial"])
    numbers = {
        "size": size, "in_channels": c_in, "reduced_channels": r, "out_channels": c_out,
        "kernel_size": kernel, "direct_macs": direct, "reduction_macs": reduction,
        "spatial_macs": spatial, "bottleneck_macs": total, "mac_ratio": ratio,
    }
    return Diagram(d.name, d.svg(), numbers)


def draw_mlpconv() -> Diagram:
    """Chapter 3: an mlpconv block, and its two 1x1 convolutions as an MLP at one pixel."""
    block = nin.SmallNiN().mlpconv1  # the chapter's block: 3x3 conv 1 -> 32, two 1x1 32 -> 32
    c_in, hidden = block.conv.in_channels, block.conv.out_channels
    c_out = block.cccp2.out_channels
    kernel = block.conv.kernel_size[0]
    conv_parameters = cost.count_parameters(block.conv)
    cccp1_parameters = cost.count_parameters(block.cccp1)
    cccp2_parameters = cost.count_parameters(block.cccp2)
    cccp_parameters = cccp1_parameters + cccp2_parameters
    another = cost.conv2d_parameters(hidden, hidden, kernel_size=kernel)
    assert cccp1_parameters == cost.conv2d_parameters(hidden, hidden, 1)
    assert cccp2_parameters == cost.conv2d_parameters(hidden, c_out, 1)
    mlp = nin.per_pixel_mlp(block)
    assert [m.in_features for m in mlp if isinstance(m, nn.Linear)] == [hidden, hidden]
    assert cost.count_parameters(mlp) == cccp_parameters

    d = Drawing(
        "mlpconv",
        height=500,
        title="An mlpconv layer: a spatial convolution, then a small MLP at every pixel",
        description=(
            f"Left: an mlpconv block, a {kernel} × {kernel} convolution from {c_in} to {hidden} "
            f"channels with a ReLU ({conv_parameters:,} parameters), then two 1 × 1 "
            f"convolutions with ReLUs, {hidden} to {hidden} ({cccp1_parameters:,} parameters) "
            f"and {hidden} to {c_out} ({cccp2_parameters:,} parameters). Right: at one pixel "
            f"the two 1 × 1 convolutions are a two-layer perceptron on that pixel's {hidden} "
            f"channel values, the same at every pixel. Together they add {cccp_parameters:,} "
            f"parameters; another {kernel} × {kernel} convolution from {hidden} to {hidden} "
            f"channels would add {another:,}."
        ),
    )
    k = f"{kernel}×{kernel}"
    x = 140
    d.text(x, 30, "(a) An mlpconv block", weight="bold")
    d.text(420, 30, "(b) At one pixel: an MLP", weight="bold")
    d.text(x, 66, f"H × W × {c_in}")
    d.arrow([(x, 74), (x, 96)])
    d.box(x - 120, 96, 240, 56, [f"{k} conv, {c_in} → {hidden}, ReLU",
                                 f"{conv_parameters:,} parameters"], SPATIAL)
    d.arrow([(x, 152), (x, 182)])
    d.text(x + 8, 172, f"H × W × {hidden}", anchor="start", size=MIN_FONT, fill=MUTED)
    d.box(x - 120, 182, 240, 56, [f"1×1 conv, {hidden} → {hidden}, ReLU",
                                  f"{cccp1_parameters:,} parameters"], POINTWISE)
    d.arrow([(x, 238), (x, 268)])
    d.box(x - 120, 268, 240, 56, [f"1×1 conv, {hidden} → {c_out}, ReLU",
                                  f"{cccp2_parameters:,} parameters"], POINTWISE)
    d.arrow([(x, 324), (x, 350)])
    d.text(x, 370, f"H × W × {c_out}")
    # (b): the channel vector of one pixel through the two 1x1 layers, level with them
    rows = (167, 253, 339)
    layers = [_row(312, y, 5, 34) for y in rows]
    for upper, lower in itertools.pairwise(layers):
        _dense(d, upper, lower, POINTWISE[1])
    for units in layers:
        _units(d, units, (HIGHLIGHT, INK))  # one pixel's values, as in pointwise_filter
    for y, label in zip(rows, (f"{hidden} inputs", f"{hidden} hidden", f"{c_out} outputs"),
                        strict=True):
        d.text(464, y + 5, label, anchor="start", size=MIN_FONT)
    for y in (210, 296):
        d.line(262, y, 300, y, stroke=POINTWISE[1], dashed=True)
    d.text(420, 380, "Linear, ReLU, Linear, ReLU:", size=MIN_FONT)
    d.text(420, 400, "the same weights at every pixel", size=MIN_FONT)
    d.text(280, 440, f"the two 1×1 layers: {cccp_parameters:,} parameters")
    d.text(280, 464, f"one more {k} conv, {hidden} → {hidden}: {another:,} parameters",
           size=MIN_FONT, fill=MUTED)
    d.legend(494, ["pointwise", "spatial"])
    numbers = {
        "in_channels": c_in, "hidden_channels": hidden, "out_channels": c_out,
        "kernel_size": kernel, "conv_parameters": conv_parameters,
        "cccp1_parameters": cccp1_parameters, "cccp2_parameters": cccp2_parameters,
        "cccp_parameters": cccp_parameters, "another_3x3_parameters": another,
    }
    return Diagram(d.name, d.svg(), numbers)


def _layer_macs(module: nn.Module, input_shape: tuple[int, int, int, int]) -> dict[str, int]:
    """MACs of every convolution of an Inception module, by the name of its branch and step."""
    return {layer.name: layer.macs for layer in cost.count_model(module, input_shape)}


def draw_inception() -> Diagram:
    """Chapter 4: the naive Inception module against the one with 1x1 reductions, with MACs."""
    arguments, size = _inception_3a()
    c_in = arguments["in_channels"]
    input_shape = (1, c_in, size, size)
    naive = inception.NaiveInception(c_in, arguments["ch1x1"], arguments["ch3x3"],
                                     arguments["ch5x5"])
    reduced = inception.Inception(**arguments)
    naive_layers, reduced_layers = _layer_macs(naive, input_shape), _layer_macs(reduced,
                                                                                 input_shape)
    naive_total = sum(inception.branch_costs(naive, input_shape).values())
    reduced_total = sum(inception.branch_costs(reduced, input_shape).values())
    assert naive_total == sum(naive_layers.values()) == cost.model_macs(naive, input_shape)
    assert reduced_total == sum(reduced_layers.values()) == cost.model_macs(reduced, input_shape)
    assert naive.out_channels == arguments["ch1x1"] + arguments["ch3x3"] + arguments["ch5x5"] + c_in
    assert reduced.out_channels == (arguments["ch1x1"] + arguments["ch3x3"] + arguments["ch5x5"]
                                    + arguments["pool_proj"])
    saving = naive_total / reduced_total
    kernel_3x3 = reduced.branch2[1][0].kernel_size[0]
    kernel_5x5 = reduced.branch3[1][0].kernel_size[0]
    pool_kernel = reduced.branch4[0].kernel_size
    kernels = {"3": f"{kernel_3x3}×{kernel_3x3}", "5": f"{kernel_5x5}×{kernel_5x5}"}
    pool = f"{pool_kernel}×{pool_kernel}"

    d = Drawing(
        "inception",
        height=690,
        title="The naive Inception module and the module with 1×1 reductions, with their MACs",
        description=(
            f"GoogLeNet's inception (3a) on a {size} × {size} × {c_in} input. (a) Naive: four "
            f"branches, a 1 × 1 convolution to {arguments['ch1x1']} channels "
            f"({naive_layers['branch1.0']:,} MACs), a {kernels['3']} convolution to "
            f"{arguments['ch3x3']} ({naive_layers['branch2.0']:,} MACs), a {kernels['5']} "
            f"convolution to {arguments['ch5x5']} ({naive_layers['branch3.0']:,} MACs) and a "
            f"{pool} max pooling that keeps all {c_in} channels, concatenated to "
            f"{naive.out_channels} channels: {naive_total:,} MACs. (b) With 1 × 1 reductions: "
            f"1 × 1 convolutions to {arguments['ch3x3red']} and {arguments['ch5x5red']} "
            f"channels before the {kernels['3']} and {kernels['5']} convolutions, and one to "
            f"{arguments['pool_proj']} channels after the pooling; concatenated to "
            f"{reduced.out_channels} channels: {reduced_total:,} MACs, {saving:.1f} times fewer."
        ),
    )
    width, gap = 124, 8
    left = (WIDTH - 4 * width - 3 * gap) / 2
    lefts = [left + i * (width + gap) for i in range(4)]
    centres = [x + width / 2 for x in lefts]
    full = 4 * width + 3 * gap

    def conv(column: int, top: float, label: str, macs: int, colours: tuple[str, str]) -> None:
        d.box(lefts[column], top, width, 54, [label, f"{macs:,}"], colours, size=16)

    # (a) naive
    d.text(left, 28, "(a) Naive module", anchor="start", weight="bold")
    d.box(left, 42, full, 34, [f"input {size} × {size} × {c_in}"], ("#ffffff", INK))
    for c in centres:
        d.arrow([(c, 76), (c, 104)])
    conv(0, 104, f"1×1, {arguments['ch1x1']}", naive_layers["branch1.0"], POINTWISE)
    conv(1, 104, f"{kernels['3']}, {arguments['ch3x3']}", naive_layers["branch2.0"], SPATIAL)
    conv(2, 104, f"{kernels['5']}, {arguments['ch5x5']}", naive_layers["branch3.0"], SPATIAL)
    d.box(lefts[3], 104, width, 54, [f"{pool} max pool", f"keeps {c_in}"], OTHER, size=16)
    for c in centres:
        d.arrow([(c, 158), (c, 186)])
    d.box(left, 186, full, 34, [f"concatenate: {size} × {size} × {naive.out_channels}"], OTHER)
    d.text(WIDTH / 2, 250, f"{naive_total:,} MACs", weight="bold")

    # (b) with 1x1 reductions
    top = 300
    d.text(left, top, "(b) With 1×1 reductions (GoogLeNet's 3a)", anchor="start",
           weight="bold")
    d.box(left, top + 14, full, 34, [f"input {size} × {size} × {c_in}"], ("#ffffff", INK))
    row1, row2, concat = top + 76, top + 158, top + 240
    for c in centres:
        d.arrow([(c, top + 48), (c, row1)])
    conv(0, row1, f"1×1, {arguments['ch1x1']}", reduced_layers["branch1.0"], POINTWISE)
    conv(1, row1, f"1×1, {arguments['ch3x3red']}", reduced_layers["branch2.0.0"], POINTWISE)
    conv(2, row1, f"1×1, {arguments['ch5x5red']}", reduced_layers["branch3.0.0"], POINTWISE)
    d.box(lefts[3], row1, width, 54, [f"{pool} max pool", f"keeps {c_in}"], OTHER, size=16)
    for c in centres[1:]:
        d.arrow([(c, row1 + 54), (c, row2)])
    conv(1, row2, f"{kernels['3']}, {arguments['ch3x3']}", reduced_layers["branch2.1.0"],
         SPATIAL)
    conv(2, row2, f"{kernels['5']}, {arguments['ch5x5']}", reduced_layers["branch3.1.0"],
         SPATIAL)
    conv(3, row2, f"1×1, {arguments['pool_proj']}", reduced_layers["branch4.1.0"], POINTWISE)
    d.arrow([(centres[0], row1 + 54), (centres[0], concat)])
    for c in centres[1:]:
        d.arrow([(c, row2 + 54), (c, concat)])
    d.box(left, concat, full, 34, [f"concatenate: {size} × {size} × {reduced.out_channels}"],
          OTHER)
    d.text(WIDTH / 2, concat + 64, f"{reduced_total:,} MACs: {saving:.1f}× fewer", weight="bold")
    d.text(WIDTH / 2, concat + 96, "number in each box: its MACs for one image", size=MIN_FONT,
           fill=MUTED)
    d.legend(684, ["pointwise", "spatial", "other"])
    numbers = {
        "size": size, **arguments,
        "naive_out_channels": naive.out_channels, "reduced_out_channels": reduced.out_channels,
        **{f"naive_{name}": macs for name, macs in naive_layers.items()},
        **{f"reduced_{name}": macs for name, macs in reduced_layers.items()},
        "naive_macs": naive_total, "reduced_macs": reduced_total, "saving": saving,
        "kernel_3x3": kernel_3x3, "kernel_5x5": kernel_5x5, "pool_kernel": pool_kernel,
    }
    return Diagram(d.name, d.svg(), numbers)


def draw_resnet_bottleneck() -> Diagram:
    """Chapter 6: ResNet-50's bottleneck block, with the weights and MACs of each convolution."""
    block = resnet_bottleneck.Bottleneck()  # ResNet-50's first stage: 256 channels, width 64
    channels, width = block.channels, block.width
    size = resnet_bottleneck.FIRST_STAGE_SIZE
    input_shape = (1, channels, size, size)
    layers = {layer.name: layer for layer in cost.count_model(block, input_shape)}
    weights = resnet_bottleneck.convolution_weights(block)
    macs = sum(layer.macs for layer in layers.values())
    assert weights == sum(layer.parameters for layer in layers.values())  # no biases
    assert macs == size * size * weights  # stride 1: every weight once per pixel
    basic = resnet_bottleneck.BasicBlock(channels)
    basic_macs = cost.model_macs(basic, input_shape)
    saving = basic_macs / macs
    k = block.conv2.kernel_size[0]

    d = Drawing(
        "resnet_bottleneck",
        height=520,
        title=f"ResNet-50's bottleneck block: 1×1 reduce, {k}×{k}, 1×1 restore, plus the input",
        description=(
            f"On a {size} × {size} × {channels} input: a 1 × 1 convolution from {channels} to "
            f"{width} channels ({layers['conv1'].parameters:,} weights, "
            f"{layers['conv1'].macs:,} MACs), a {k} × {k} convolution from {width} to {width} "
            f"({layers['conv2'].parameters:,} weights, {layers['conv2'].macs:,} MACs) and a "
            f"1 × 1 convolution from {width} back to {channels} "
            f"({layers['conv3'].parameters:,} weights, {layers['conv3'].macs:,} MACs), each "
            f"followed by batch normalisation, ReLUs after the first two; an identity shortcut "
            f"adds the input to the result, then a ReLU. In all {weights:,} weights and "
            f"{macs:,} MACs, {saving:.1f} times fewer MACs than two {k} × {k} convolutions at "
            f"{channels} channels."
        ),
    )
    x, half = 260, 125
    tensor = f"{size} × {size} × {channels}"
    d.text(x, 28, f"input {tensor}")
    d.arrow([(x, 38), (x, 70)])
    steps = (
        ("conv1", f"1×1 conv, {channels} → {width}", "BN, ReLU", POINTWISE, 70),
        ("conv2", f"{k}×{k} conv, {width} → {width}", "BN, ReLU", SPATIAL, 158),
        ("conv3", f"1×1 conv, {width} → {channels}", "BN", POINTWISE, 246),
    )
    for name, label, after, colours, top in steps:
        d.box(x - half, top, 2 * half, 58, [label, after], colours)
        d.text(x + half + 12, top + 25, f"{layers[name].parameters:,} weights", anchor="start",
               size=MIN_FONT)
        d.text(x + half + 12, top + 46, f"{layers[name].macs:,} MACs", anchor="start",
               size=MIN_FONT)
    d.arrow([(x, 128), (x, 158)])
    d.arrow([(x, 216), (x, 246)])
    d.arrow([(x, 304), (x, 330)])
    d.circle(x, 346, 16, OTHER)
    d.text(x, 353, "+", size=22)
    d.arrow([(x, 48), (40, 48), (40, 346), (x - 16, 346)])
    d.text(50, 200, "identity", anchor="start", size=MIN_FONT, fill=MUTED)
    d.arrow([(x, 362), (x, 392)])
    d.text(x + 10, 384, "ReLU", anchor="start", size=MIN_FONT, fill=MUTED)
    d.text(x, 412, f"output {tensor}")
    d.text(WIDTH / 2, 452, f"block: {weights:,} weights, {macs:,} MACs", weight="bold")
    d.text(WIDTH / 2, 478, f"{saving:.1f}× fewer MACs than two {k}×{k} convs at {channels}",
           size=MIN_FONT, fill=MUTED)
    d.legend(512, ["pointwise", "spatial", "other"])
    numbers = {
        "size": size, "channels": channels, "width": width,
        **{f"{name}_weights": layer.parameters for name, layer in layers.items()},
        **{f"{name}_macs": layer.macs for name, layer in layers.items()},
        "weights": weights, "macs": macs, "saving": saving, "kernel_size": k,
    }
    return Diagram(d.name, d.svg(), numbers)


def _separable_layer() -> tuple[int, int, int]:
    """MobileNet's separable layer from 256 to 256 channels: ``(M, N, D_F)`` from Table 1."""
    index = mobilenet.SEPARABLE_LAYERS.index((256, 256, 1))  # the chapter's layer
    name = f"features.{index}.depthwise"
    layer = next(layer for layer in cost.count_model(mobilenet.MobileNet(), (1, 3, 224, 224))
                 if layer.name == name)
    _, channels, size, _ = layer.output_shape
    return channels, mobilenet.SEPARABLE_LAYERS[index][1], size


def draw_depthwise_separable() -> Diagram:
    """Chapter 6: a standard 3x3 convolution against depthwise 3x3 then pointwise 1x1."""
    m, n, size = _separable_layer()
    layer = separable.DepthwiseSeparable(m, n)
    k = layer.depthwise.kernel_size[0]
    input_shape = (1, m, size, size)
    parts = {c.name: c for c in cost.count_model(layer, input_shape)}
    depthwise, pointwise = parts["depthwise"], parts["pointwise"]
    standard_macs = cost.conv2d_macs(m, n, k, size)
    standard_weights = cost.conv2d_parameters(m, n, k, bias=False)
    total = depthwise.macs + pointwise.macs
    assert total == cost.model_macs(layer, input_shape)
    assert depthwise.macs == k * k * m * size * size and pointwise.macs == m * n * size * size
    ratio = total / standard_macs
    assert abs(ratio - separable.separable_cost_ratio(n, k)) < 1e-12
    saving = 1 / ratio
    share = 100 * pointwise.macs / total

    d = Drawing(
        "depthwise_separable",
        height=690,
        title=f"A standard {k}×{k} convolution against a depthwise-separable one",
        description=(
            f"On a {size} × {size} input of {m} channels. (a) A standard {k} × {k} "
            f"convolution to {n} channels: every output channel reads all {m} input channels, "
            f"{standard_weights:,} weights, {standard_macs:,} MACs. (b) Depthwise-separable: a "
            f"{k} × {k} depthwise convolution filters each channel on its own "
            f"({depthwise.parameters:,} weights, {depthwise.macs:,} MACs), then a 1 × 1 "
            f"pointwise convolution mixes the {m} channels into {n} "
            f"({pointwise.parameters:,} weights, {pointwise.macs:,} MACs): {total:,} MACs, "
            f"{saving:.1f} times fewer, {share:.1f}% of them in the 1 × 1 convolution."
        ),
    )
    squares = 6
    square, step, left = 26, 40, 24

    def channels(y: float) -> list[tuple[float, float]]:
        for i in range(squares):
            d.rect(left + i * step, y - square / 2, square, square, ("#ffffff", INK), radius=2)
        return [(left + i * step + square / 2, y) for i in range(squares)]

    def links(upper: list[tuple[float, float]], lower: list[tuple[float, float]],
              stroke: str, dense: bool) -> None:
        pairs = ([(a, b) for a in upper for b in lower] if dense
                 else list(zip(upper, lower, strict=True)))
        for (x1, y1), (x2, y2) in pairs:
            d.line(x1, y1 + square / 2, x2, y2 - square / 2, stroke=stroke,
                   stroke_width=2 if not dense else 1.2)

    text_x = left + squares * step + 16
    d.text(left, 28, f"(a) Standard {k}×{k} convolution", anchor="start", weight="bold")
    a_in, a_out = channels(70), channels(200)
    links(a_in, a_out, SPATIAL[1], dense=True)
    d.text(text_x, 75, f"{m} channels, {size} × {size}", anchor="start", size=MIN_FONT)
    d.text(text_x, 122, f"{k}×{k} conv, {m} → {n}", anchor="start")
    d.text(text_x, 146, f"{standard_weights:,} weights", anchor="start", size=MIN_FONT)
    d.text(text_x, 166, f"{standard_macs:,} MACs", anchor="start", size=MIN_FONT)
    d.text(text_x, 205, f"{n} channels", anchor="start", size=MIN_FONT)

    top = 260
    d.text(left, top, "(b) Depthwise, then pointwise", anchor="start", weight="bold")
    b_in, b_mid, b_out = channels(top + 42), channels(top + 172), channels(top + 302)
    links(b_in, b_mid, SPATIAL[1], dense=False)
    links(b_mid, b_out, POINTWISE[1], dense=True)
    d.text(text_x, top + 47, f"{m} channels, {size} × {size}", anchor="start", size=MIN_FONT)
    d.text(text_x, top + 90, f"{k}×{k} depthwise", anchor="start")
    d.text(text_x, top + 112, "one filter per channel", anchor="start", size=MIN_FONT)
    d.text(text_x, top + 132, f"{depthwise.parameters:,} weights", anchor="start",
           size=MIN_FONT)
    d.text(text_x, top + 152, f"{depthwise.macs:,} MACs", anchor="start", size=MIN_FONT)
    d.text(text_x, top + 218, f"1×1 pointwise, {m} → {n}", anchor="start")
    d.text(text_x, top + 242, f"{pointwise.parameters:,} weights", anchor="start",
           size=MIN_FONT)
    d.text(text_x, top + 262, f"{pointwise.macs:,} MACs", anchor="start", size=MIN_FONT)
    d.text(text_x, top + 307, f"{n} channels", anchor="start", size=MIN_FONT)
    d.text(WIDTH / 2, top + 352, f"{total:,} MACs: {saving:.1f}× fewer than (a)",
           weight="bold")
    d.text(WIDTH / 2, top + 378, f"{share:.1f}% of them in the 1×1 convolution", size=MIN_FONT,
           fill=MUTED)
    d.legend(top + 418, ["pointwise", "spatial"])
    numbers = {
        "size": size, "in_channels": m, "out_channels": n, "kernel_size": k,
        "standard_weights": standard_weights, "standard_macs": standard_macs,
        "depthwise_weights": depthwise.parameters, "depthwise_macs": depthwise.macs,
        "pointwise_weights": pointwise.parameters, "pointwise_macs": pointwise.macs,
        "separable_macs": total, "saving": saving, "pointwise_share": share,
    }
    return Diagram(d.name, d.svg(), numbers)


DIAGRAMS: tuple[Callable[[], Diagram], ...] = (
    draw_pointwise_filter,
    draw_depth_reduction,
    draw_mlpconv,
    draw_inception,
    draw_resnet_bottleneck,
    draw_depthwise_separable,
)
"""Every diagram, in chapter order."""


def draw_all() -> list[Diagram]:
    """Every diagram, drawn from the package's current counts."""
    return [draw() for draw in DIAGRAMS]


def write_all(folder: Path) -> list[Path]:
    """Write every diagram to ``folder/<name>.svg`` (atomically); return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_text_atomically(folder / f"{diagram.name}.svg", diagram.svg)
        for diagram in draw_all()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIGURES, help="folder for the SVG files")
    arguments = parser.parse_args(argv)
    for path in write_all(arguments.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
