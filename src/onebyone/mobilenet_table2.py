"""MobileNet's Table 2, recounted: where the mult-adds and the parameters go, by layer type.

The published percentages are data (``onebyone/data/mobilenet_table2.csv``, loaded by
:func:`load_table2`); the recount is code: :func:`recount_table2` walks
:class:`~onebyone.mobilenet.MobileNet` with :func:`onebyone.cost.count_model` and sums the
multiply-accumulates (MACs, the paper's "mult-adds") and the parameters of each layer type.

How the paper counted, as far as the numbers tell: parameters are weights only (no biases, no
batch normalisation), and mult-adds are MACs. With these, every published share but one is
reproduced to the printed two decimals. The exception is the "Conv 3x3" mult-adds, printed as
1.19 % where the network gives 1.91 %: the published column sums to 99.29 %, and with 1.91 in
place of 1.19 it sums to 100.01 %, so the printed value is most likely two digits swapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from torch import nn

from onebyone import records, validation
from onebyone.cost import count_model
from onebyone.mobilenet import MobileNet

LAYER_TYPES = ("Conv 1x1", "Conv DW 3x3", "Conv 3x3", "Fully Connected")
"""The rows of Table 2, in its order."""

INPUT_SHAPE = (1, 3, 224, 224)
"""One RGB image of 224 x 224 pixels, the input of MobileNet-224."""


@dataclass(frozen=True)
class Table2Row:
    """One row of Table 2: a layer type's share of the network, in percent.

    Attributes:
        layer_type: one of :data:`LAYER_TYPES`.
        mult_adds_percent: share of the multiply-accumulates, percent.
        parameters_percent: share of the parameters, percent.
        mult_adds, parameters: the counts behind the shares (0 for the published rows).
    """

    layer_type: str
    mult_adds_percent: float
    parameters_percent: float
    mult_adds: int = 0
    parameters: int = 0


_PERCENT = records.number(0.0, maximum=100.0)
COLUMNS: tuple[records.Column, ...] = (
    records.Column("layer_type", records.one_of(*LAYER_TYPES)),
    records.Column("mult_adds_percent", _PERCENT),
    records.Column("parameters_percent", _PERCENT),
)
"""The columns of ``mobilenet_table2.csv``: a layer type of :data:`LAYER_TYPES` and two
percentages between 0 and 100."""


def load_table2(path: str | Path | records.Readable | None = None) -> dict[str, Table2Row]:
    """Table 2 of Howard et al. (2017) as published, by layer type, in the table's order.

    Args:
        path: another table of the same columns (:data:`COLUMNS`) to read instead of the
            package's ``onebyone/data/mobilenet_table2.csv``.

    Raises:
        onebyone.records.RecordError: a ``ValueError`` naming the file, line and column of a
            cell that cannot be trusted (a layer type Table 2 has not, a percentage outside
            0-100), or of a layer type given twice.
    """
    table = (resources.files("onebyone").joinpath("data", "mobilenet_table2.csv")
             if path is None else path)
    rows: dict[str, Table2Row] = {}

    def one_row_per_type(record: dict[str, object]) -> tuple[str, str] | None:
        if record["layer_type"] in rows:
            return "layer_type", f"{record['layer_type']!r} is given twice"
        rows[str(record["layer_type"])] = Table2Row(**record)
        return None

    records.read_records(table, COLUMNS, check=one_row_per_type, comments=True, least_rows=1)
    return rows


def layer_type(module: nn.Module) -> str:
    """The Table 2 type of a ``Conv2d`` or ``Linear`` of MobileNet.

    Raises:
        TypeError: ``module`` is not a ``Conv2d`` or ``Linear``.
        ValueError: a layer no row of Table 2 describes.
    """
    validation.module("module", module, (nn.Conv2d, nn.Linear))
    if isinstance(module, nn.Linear):
        return "Fully Connected"
    if module.kernel_size == (1, 1) and module.groups == 1:
        return "Conv 1x1"
    if module.kernel_size == (3, 3) and module.groups == module.in_channels > 1:
        return "Conv DW 3x3"
    if module.kernel_size == (3, 3) and module.groups == 1:
        return "Conv 3x3"
    raise ValueError(f"a layer Table 2 has no row for: {module}")


def recount_table2(model: nn.Module | None = None, biases: bool = False) -> dict[str, Table2Row]:
    """Each layer type's share of MobileNet's MACs and parameters, recounted from the network.

    Args:
        model: default :class:`~onebyone.mobilenet.MobileNet`.
        biases: count the biases as parameters too (the classifier's 1000 are the only ones);
            the paper did not.

    Returns:
        One :class:`Table2Row` per type of :data:`LAYER_TYPES`, with counts and percentages.

    Raises:
        TypeError: ``model`` is neither ``None`` nor a module, or ``biases`` not a bool.
        ValueError: a layer Table 2 has no row for, or one :func:`onebyone.cost.count_model`
            refuses.
    """
    biases = validation.boolean("biases", biases)
    model = MobileNet() if model is None else validation.module("model", model)
    modules = dict(model.named_modules())
    macs = dict.fromkeys(LAYER_TYPES, 0)
    parameters = dict.fromkeys(LAYER_TYPES, 0)
    for layer in count_model(model, INPUT_SHAPE):
        module = modules[layer.name]
        kind = layer_type(module)
        macs[kind] += layer.macs
        parameters[kind] += layer.parameters if biases else module.weight.numel()
    total_macs, total_parameters = sum(macs.values()), sum(parameters.values())
    return {kind: Table2Row(kind, 100 * macs[kind] / total_macs,
                            100 * parameters[kind] / total_parameters, macs[kind],
                            parameters[kind])
            for kind in LAYER_TYPES}


def format_table2(published: dict[str, Table2Row], recount: dict[str, Table2Row]) -> str:
    """Published and recounted shares side by side, as text (percent).

    Raises:
        TypeError: an argument that is not a dict of :class:`Table2Row`.
        ValueError: a layer type of :data:`LAYER_TYPES` missing from either.
    """
    for which, table in (("published", published), ("recount", recount)):
        if not isinstance(table, dict):
            raise TypeError(f"{which} must be a dict of Table2Row, got {type(table).__name__}")
        missing = [kind for kind in LAYER_TYPES if not isinstance(table.get(kind), Table2Row)]
        if missing:
            raise ValueError(f"{which} has no Table2Row for {missing}")
    lines = [f"{'type':<16} {'mult-adds %':>22} {'parameters %':>22}",
             f"{'':<16} {'paper':>10} {'ours':>11} {'paper':>10} {'ours':>11}"]
    for kind in LAYER_TYPES:
        paper, ours = published[kind], recount[kind]
        lines.append(f"{kind:<16} {paper.mult_adds_percent:>10.2f} {ours.mult_adds_percent:>11.2f}"
                     f" {paper.parameters_percent:>10.2f} {ours.parameters_percent:>11.2f}")
    return "\n".join(lines)
