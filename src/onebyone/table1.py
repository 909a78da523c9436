"""GoogLeNet's Table 1, recounted: the paper's published numbers next to ours.

The published values are data (``onebyone/data/googlenet_table1.csv``, loaded by
:func:`load_table1`); the recount is code: :func:`recount_table1` walks
:class:`~onebyone.googlenet.GoogLeNet` with :func:`onebyone.cost.count_model` and sums every
stage's weights, biases and multiply-accumulates (MACs).

How the paper counted, as far as the numbers themselves tell (the chapter shows the evidence):

- "ops" are MACs in millions (10^6), biases not counted: they sum to the "1.5 billion
  multiply-adds" of the paper's text.
- "params" are weights without biases, and their "K" is 1024, not 1000: the "convolution 3x3/1"
  row has exactly 112 x 1024 weights and the linear layer exactly 1000 x 1024.
- For an Inception module every convolution runs at the module's H x W, so its MACs are exactly
  its weights times H x W. The paper's "ops" therefore imply a weight count of their own
  (:func:`weights_implied_by_ops`), a third witness when "params" and the channels disagree.
- Two counts agree when they differ by no more than the rounding of the printed columns allows
  (half a unit of each, :func:`diagnose`); the ops column is coarse for the 7 x 7 modules.
- The first row (2.7 K, 34 M) does not fit a plain 7x7 convolution (9,408 weights, 118 M MACs);
  it fits a depthwise-separable 7x7 with 8 filters per input channel (2,712 weights: 2.7 K
  only if this row's K is 1000), see :func:`separable_stem_cost`. Ioffe and Szegedy's
  BN-Inception paper states such a first layer for its own network; the GoogLeNet paper does
  not, so for GoogLeNet's row it remains an inference from the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from torch import nn

from onebyone import records, validation
from onebyone.cost import conv2d_macs, conv2d_output_size, conv2d_parameters, count_model
from onebyone.googlenet import GoogLeNet

PAPER_KILO = 1024
"""The paper's "K" in the params column: 1024 weights (see the module docstring)."""

PAPER_MEGA = 1_000_000
"""The paper's "M" in the ops column: 10^6 MACs."""

INPUT_SHAPE = (1, 3, 224, 224)
"""One RGB image of 224 x 224 pixels, the input of Table 1."""

_CHANNEL_COLUMNS = ("ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj")


@dataclass(frozen=True)
class PublishedRow:
    """One row of Table 1 as published (``None`` where the table's cell is empty).

    Attributes:
        stage: the stage of :class:`~onebyone.googlenet.GoogLeNet` this row describes.
        type: the table's "type" (``"convolution"``, ``"inception"``, ``"max pool"`` ...).
        patch_size, stride: "patch size/stride", in pixels.
        output_size: "output size" as ``(channels, height, width)`` (pixels for H, W).
        depth: layers with weights on the row's longest path.
        ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj: the channel columns.
        params_k: "params" in the paper's K (1024 weights).
        ops_m: "ops" in millions of MACs.
    """

    stage: str
    type: str
    patch_size: int | None
    stride: int | None
    output_size: tuple[int, int, int]
    depth: int
    ch1x1: int | None
    ch3x3red: int | None
    ch3x3: int | None
    ch5x5red: int | None
    ch5x5: int | None
    pool_proj: int | None
    params_k: float | None
    ops_m: float | None

    def channels(self) -> tuple[int | None, ...]:
        """The six channel columns, in the order of :class:`~onebyone.inception.Inception`."""
        return tuple(getattr(self, column) for column in _CHANNEL_COLUMNS)


_SIZE, _OPTIONAL = records.integer(1), True
COLUMNS: tuple[records.Column, ...] = (
    records.Column("stage", records.TEXT),
    records.Column("type", records.TEXT),
    records.Column("patch_size", _SIZE, _OPTIONAL),
    records.Column("stride", _SIZE, _OPTIONAL),
    records.Column("output_height", _SIZE),
    records.Column("output_width", _SIZE),
    records.Column("output_channels", _SIZE),
    records.Column("depth", records.integer(0)),
    *(records.Column(column, _SIZE, _OPTIONAL) for column in _CHANNEL_COLUMNS),
    records.Column("params_k", records.POSITIVE, _OPTIONAL),
    records.Column("ops_m", records.POSITIVE, _OPTIONAL),
)
"""The columns of ``googlenet_table1.csv``, in order: sizes and channels at least 1, depth at
least 0, params and ops positive; a blank cell (``None``) is an empty cell of the table."""


def load_table1(path: str | Path | records.Readable | None = None) -> list[PublishedRow]:
    """Table 1 of Szegedy et al. (2014) as published, one :class:`PublishedRow` per row.

    Why: the published numbers are data, kept apart from the code that recounts them, with
    their source recorded in the CSV file's header.

    Args:
        path: another table of the same columns (:data:`COLUMNS`) to read instead of the
            package's ``onebyone/data/googlenet_table1.csv``.

    Returns:
        The rows in the table's order (``conv1`` to ``softmax``).

    Raises:
        onebyone.records.RecordError: a ``ValueError`` naming the file, line and column of a
            cell that cannot be trusted.
    """
    table = (resources.files("onebyone").joinpath("data", "googlenet_table1.csv")
             if path is None else path)
    rows = []
    for record in records.read_records(table, COLUMNS, comments=True, least_rows=1):
        size = (record.pop("output_channels"), record.pop("output_height"),
                record.pop("output_width"))
        rows.append(PublishedRow(output_size=size, **record))
    return rows


def _percent_difference(ours: float, published: float | None) -> float | None:
    if published is None or published == 0:
        return None
    return 100.0 * (ours - published) / published


@dataclass(frozen=True)
class RecountRow:
    """One row of Table 1 recounted with the package, next to the published values.

    Attributes:
        stage: the stage's name (``"total"`` for the sum over all rows).
        weights: weights of the stage's convolutions and linear layers (scalars, no biases).
        biases: their biases (scalars), which the paper does not count.
        macs: multiply-accumulates for one 3 x 224 x 224 image (biases not counted).
        published_params_k: the paper's "params" (K = 1024 weights), or ``None``.
        published_ops_m: the paper's "ops" (millions of MACs), or ``None``.
    """

    stage: str
    weights: int
    biases: int
    macs: int
    published_params_k: float | None
    published_ops_m: float | None

    @property
    def params_k(self) -> float:
        """Our weights in the paper's unit, K = 1024 weights."""
        return self.weights / PAPER_KILO

    @property
    def ops_m(self) -> float:
        """Our MACs in the paper's unit, millions."""
        return self.macs / PAPER_MEGA

    @property
    def params_difference_percent(self) -> float | None:
        """(ours - published) / published for params, in percent; ``None`` if not published."""
        return _percent_difference(self.params_k, self.published_params_k)

    @property
    def ops_difference_percent(self) -> float | None:
        """(ours - published) / published for ops, in percent; ``None`` if not published."""
        return _percent_difference(self.ops_m, self.published_ops_m)


def _stage_of(name: str) -> str:
    return name.split(".")[0]


def recount_table1(model: GoogLeNet | None = None) -> list[RecountRow]:
    """Recount the weights, biases and MACs of every row of Table 1 with the package.

    Why: a table that can be recomputed can be checked; where the recount and the paper
    disagree, the disagreement is a question about how the paper counted.

    Args:
        model: the network to count (a fresh :class:`~onebyone.googlenet.GoogLeNet` by default);
            it is walked on the meta device and is not modified.

    Returns:
        One :class:`RecountRow` per row of :func:`load_table1`, in the same order; rows without
        weights (pooling, dropout, softmax) count zero.

    Raises:
        TypeError: ``model`` is neither ``None`` nor a :class:`~onebyone.googlenet.GoogLeNet`.
    """
    model = GoogLeNet() if model is None else validation.module("model", model, GoogLeNet)
    weights: dict[str, int] = {}
    biases: dict[str, int] = {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            stage = _stage_of(name)
            weights[stage] = weights.get(stage, 0) + module.weight.numel()
            bias = 0 if module.bias is None else module.bias.numel()
            biases[stage] = biases.get(stage, 0) + bias
    macs: dict[str, int] = {}
    for layer in count_model(model, INPUT_SHAPE):
        stage = _stage_of(layer.name)
        macs[stage] = macs.get(stage, 0) + layer.macs
    return [
        RecountRow(
            stage=row.stage,
            weights=weights.get(row.stage, 0),
            biases=biases.get(row.stage, 0),
            macs=macs.get(row.stage, 0),
            published_params_k=row.params_k,
            published_ops_m=row.ops_m,
        )
        for row in load_table1()
    ]


def _recount_rows(rows: object, name: str = "rows") -> list[RecountRow]:
    return validation.items(name, rows, RecountRow)


def total(rows: list[RecountRow]) -> RecountRow:
    """The network's total: every column summed over ``rows`` (empty published cells count 0).

    Why: the paper's text gives the network's budget as "1.5 billion multiply-adds"; the sum of
    its ops column is the table's own version of that total.

    Raises:
        TypeError: ``rows`` holds something other than :class:`RecountRow`.
        ValueError: ``rows`` is empty.
    """
    rows = _recount_rows(rows)
    if not rows:
        raise ValueError("cannot total an empty table")
    return RecountRow(
        stage="total",
        weights=sum(row.weights for row in rows),
        biases=sum(row.biases for row in rows),
        macs=sum(row.macs for row in rows),
        published_params_k=sum(row.published_params_k or 0.0 for row in rows),
        published_ops_m=sum(row.published_ops_m or 0.0 for row in rows),
    )


def weights_implied_by_ops(row: PublishedRow) -> float:
    """The weight count (scalars) that an Inception row's published "ops" imply.

    Why: inside an Inception module every convolution has stride 1 and keeps H x W, so the
    module's MACs are exactly its weights times H x W. Dividing the published ops by H x W
    gives a second, independent published weight count to hold against "params".

    Args:
        row: an Inception row of :func:`load_table1`.

    Returns:
        ``ops_m * 10^6 / (H * W)``, in weights (the published ops are rounded to 1 M, so this
        is uncertain by ``0.5 * 10^6 / (H * W)`` weights).

    Raises:
        TypeError: ``row`` is not a :class:`PublishedRow`.
        ValueError: ``row`` is not an Inception row with published ops.
    """
    if not isinstance(row, PublishedRow):
        raise TypeError(f"row must be a PublishedRow, got {type(row).__name__}")
    if row.type != "inception" or row.ops_m is None:
        raise ValueError(f"only Inception rows with published ops imply weights, not {row.stage}")
    _, height, width = row.output_size
    return row.ops_m * PAPER_MEGA / (height * width)


AGREES = "agrees"
PARAMS_OFF = "params disagree with ops and channels"
CHANNELS_OFF = "channels disagree with params and ops"
UNEXPLAINED = "no two of the three agree"


PARAMS_HALF_UNIT_K = 0.5
"""Half a unit of the printed "params" of an Inception row (printed to the nearest 1 K), in K:
the most by which a correctly rounded value can differ from the count it rounds."""

OPS_HALF_UNIT_M = 0.5
"""Half a unit of the printed "ops" (printed to the nearest 1 M), in millions of MACs. Divided by
H x W it is coarse: 0.6 K weights at 28 x 28, 2.5 K at 14 x 14 and 10 K at 7 x 7."""


def _ops_half_unit_weights(row: PublishedRow) -> float:
    _, height, width = row.output_size
    return OPS_HALF_UNIT_M * PAPER_MEGA / (height * width)


def diagnose(published: PublishedRow, recount: RecountRow, half_units: float = 1.0) -> str:
    """Which of an Inception row's three weight counts is the odd one out.

    Why: an Inception row states its weights three times over: through its channel columns
    (our recount, exact), through "params" (in K = 1024 weights, printed to the nearest 1 K)
    and through "ops" (printed to the nearest 1 M MACs, divided by H x W, see
    :func:`weights_implied_by_ops`). Two counts agree when they differ by no more than their
    printed rounding allows: half a unit of each printed column they involve
    (:data:`PARAMS_HALF_UNIT_K`, :data:`OPS_HALF_UNIT_M`). A relative tolerance would not do:
    the table prints 2 to 4 significant digits (54 M, 1,388 K), so 1 % is many times the
    rounding of a large "params" value (13.9 K at 1,388 K, against 0.5 K) and only about
    that of a small "ops" one (0.54 M at 54 M).

    Args:
        published: an Inception row of :func:`load_table1`.
        recount: the same row from :func:`recount_table1`.
        half_units: how many half-units of printed rounding two counts may differ by and still
            agree (1: exactly what correct rounding allows).

    Returns:
        :data:`AGREES` when "params" matches the recount; otherwise :data:`PARAMS_OFF` when
        "ops" matches the recount, :data:`CHANNELS_OFF` when "params" and "ops" match each other,
        else :data:`UNEXPLAINED`.

    Raises:
        TypeError: rows of the wrong types, or ``half_units`` not a number.
        ValueError: rows of different stages, a non-Inception row, or ``half_units`` not
            positive.
    """
    if not isinstance(published, PublishedRow):
        raise TypeError(f"published must be a PublishedRow, got {type(published).__name__}")
    (recount,) = _recount_rows([recount], "recount")
    half_units = validation.positive_number("half_units", half_units)
    if published.stage != recount.stage:
        raise ValueError(f"rows of different stages: {published.stage} and {recount.stage}")
    implied = weights_implied_by_ops(published)
    from_params = published.params_k * PAPER_KILO
    params_slack = half_units * PARAMS_HALF_UNIT_K * PAPER_KILO  # weights
    ops_slack = half_units * _ops_half_unit_weights(published)  # weights
    if abs(from_params - recount.weights) <= params_slack:
        return AGREES
    if abs(implied - recount.weights) <= ops_slack:
        return PARAMS_OFF
    if abs(from_params - implied) <= params_slack + ops_slack:
        return CHANNELS_OFF
    return UNEXPLAINED


@dataclass(frozen=True)
class StemCost:
    """Weights and MACs of a candidate first layer (``conv1``) of GoogLeNet.

    Attributes:
        weights: scalars, no biases.
        macs: multiply-accumulates for one 3 x 224 x 224 image.
    """

    weights: int
    macs: int


def plain_stem_cost() -> StemCost:
    """Weights and MACs of ``conv1`` as the table describes it: a 7x7/2 convolution, 3 -> 64.

    Why: the baseline against which the published 2.7 K / 34 M of the first row is held.
    """
    output_size = conv2d_output_size(224, 7, stride=2, padding=3)  # 112 x 112 pixels
    return StemCost(
        weights=conv2d_parameters(3, 64, 7, bias=False),
        macs=conv2d_macs(3, 64, 7, output_size),
    )


def separable_stem_cost(depth_multiplier: int = 8) -> StemCost:
    """Weights and MACs of a depthwise-separable 7x7/2 first layer, 3 -> 64 channels.

    Why: it is the one simple layer we found that reproduces both numbers of the table's first
    row (2.7 K params if K is 1000 there, 34 M ops). It is a depthwise 7x7/2 convolution giving
    ``depth_multiplier`` maps per input channel (3 -> 24 with groups 3), then a 1x1
    convolution 24 -> 64. Ioffe and Szegedy's Inception variant with batch normalisation
    (BN-Inception) states this first layer, "separable convolution with depth multiplier 8",
    and TensorFlow-Slim's ``inception_v2`` builds it; the GoogLeNet paper does not describe
    it, so for GoogLeNet's row this remains an inference from the numbers.

    Args:
        depth_multiplier: output maps of the depthwise convolution per input channel.

    Raises:
        TypeError, ValueError: ``depth_multiplier`` not a positive integer.
    """
    depth_multiplier = validation.positive_integer("depth_multiplier", depth_multiplier)
    middle = 3 * depth_multiplier
    output_size = conv2d_output_size(224, 7, stride=2, padding=3)  # 112 x 112 pixels
    return StemCost(
        weights=conv2d_parameters(3, middle, 7, groups=3, bias=False)
        + conv2d_parameters(middle, 64, 1, bias=False),
        macs=conv2d_macs(3, middle, 7, output_size, groups=3)
        + conv2d_macs(middle, 64, 1, output_size),
    )


def _cell(value: float | None, spec: str) -> str:
    if value is None:
        return ""
    text = format(value, spec)
    if float(text.replace(",", "")) == 0:  # print "+0.0", never "-0.0"
        text = format(0.0, spec)
    return text


def format_table1(rows: list[RecountRow]) -> str:
    """Table 1 as fixed-width text: published params and ops next to ours and the difference.

    Why: one plain table that a notebook prints and a test can compare character by character.

    Args:
        rows: from :func:`recount_table1`, optionally followed by :func:`total`.

    Returns:
        Text with one line per row. Units: params in K = 1024 weights (no biases), ops in
        millions of MACs; differences in percent of the published value.

    Raises:
        TypeError: ``rows`` holds something other than :class:`RecountRow`.
    """
    rows = _recount_rows(rows)
    header = (
        f"{'stage':<12} {'params K':>9} {'ours K':>9} {'diff %':>7}"
        f" {'ops M':>7} {'ours M':>8} {'diff %':>7}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        if row.weights == 0 and row.published_params_k is None:
            continue
        lines.append(
            f"{row.stage:<12} {_cell(row.published_params_k, ',.1f'):>9}"
            f" {row.params_k:>9,.1f} {_cell(row.params_difference_percent, '+.1f'):>7}"
            f" {_cell(row.published_ops_m, ',.0f'):>7} {row.ops_m:>8,.1f}"
            f" {_cell(row.ops_difference_percent, '+.1f'):>7}"
        )
    return "\n".join(lines)
