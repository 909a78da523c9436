"""MobileNet-224 and its Table 2: the network's shapes and the recount against the paper's data."""


import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from onebyone.cost import count_parameters, model_macs
from onebyone.mobilenet import SEPARABLE_LAYERS, MobileNet
from onebyone.mobilenet_table2 import (
    LAYER_TYPES,
    Table2Row,
    format_table2,
    layer_type,
    load_table2,
    recount_table2,
)


def test_published_table_loads_in_order():
    published = load_table2()
    assert tuple(published) == LAYER_TYPES
    assert all(0 < row.mult_adds_percent < 100 for row in published.values())
    assert sum(row.parameters_percent for row in published.values()) == pytest.approx(100, abs=0.05)


def test_network_shapes_and_flops_against_pytorch():
    model = MobileNet()
    shapes = []
    hooks = [block.register_forward_hook(lambda m, a, o: shapes.append(tuple(o.shape)))
             for block in model.features]
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        logits = model(torch.randn(1, 3, 224, 224))
    for hook in hooks:
        hook.remove()
    assert logits.shape == (1, 1000)
    assert shapes[0] == (1, 64, 112, 112) and shapes[-1] == (1, 1024, 7, 7)
    assert len(shapes) == len(SEPARABLE_LAYERS) == 13
    assert counter.get_total_flops() == 2 * model_macs(model, (1, 3, 224, 224))


def test_recount_reproduces_the_table_but_one_cell():
    published, recount = load_table2(), recount_table2()
    for kind in LAYER_TYPES:
        assert recount[kind].parameters_percent == pytest.approx(
            published[kind].parameters_percent, abs=0.005)
        if kind != "Conv 3x3":
            assert recount[kind].mult_adds_percent == pytest.approx(
                published[kind].mult_adds_percent, abs=0.005)
    assert round(recount["Conv 3x3"].mult_adds_percent, 2) == 1.91  # printed 1.19
    total = sum(row.mult_adds for row in recount.values())
    assert total == model_macs(MobileNet(), (1, 3, 224, 224))
    weights = sum(row.parameters for row in recount.values())
    conv_and_fc = [m for m in MobileNet().modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert weights == sum(m.weight.numel() for m in conv_and_fc)
    with_biases = recount_table2(biases=True)
    assert sum(row.parameters for row in with_biases.values()) == weights + 1000
    assert count_parameters(MobileNet()) > weights + 1000  # batch norm is not counted
    assert "Conv DW 3x3" in format_table2(published, recount)


def test_layer_type_refuses_what_table_2_has_no_row_for():
    assert layer_type(nn.Conv2d(8, 8, 3, groups=8)) == "Conv DW 3x3"
    with pytest.raises(ValueError, match="no row"):
        layer_type(nn.Conv2d(8, 8, 5))
    with pytest.raises(TypeError):
        layer_type(nn.ReLU())


def test_layer_type_of_one_or_two_input_channels():
    """Depthwise means one filter per input channel, with more than one channel to filter."""
    with torch.device("meta"):
        single, pair = nn.Conv2d(1, 8, 3), nn.Conv2d(2, 2, 3, groups=2)
    assert layer_type(single) == "Conv 3x3"  # groups == in_channels == 1: a standard 3x3
    assert layer_type(pair) == "Conv DW 3x3"


def test_format_table2_prints_paper_and_ours_side_by_side():
    published = load_table2()
    ours = {kind: Table2Row(kind, 10.0 * i + 0.125, 20.0 * i + 0.5) for i, kind in
            enumerate(LAYER_TYPES)}
    lines = format_table2(published, ours).split("\n")
    assert lines[0].split() == ["type", "mult-adds", "%", "parameters", "%"]
    assert lines[1].split() == ["paper", "ours", "paper", "ours"]
    assert len(lines) == 2 + len(LAYER_TYPES)
    for line, kind in zip(lines[2:], LAYER_TYPES, strict=True):
        paper, mine = published[kind], ours[kind]
        assert line.startswith(kind)
        assert line[len(kind):].split() == [
            f"{paper.mult_adds_percent:.2f}", f"{mine.mult_adds_percent:.2f}",
            f"{paper.parameters_percent:.2f}", f"{mine.parameters_percent:.2f}",
        ]  # fmt: skip


def test_format_table2_refuses_a_table_that_is_not_a_full_dict_of_rows():
    published = load_table2()
    with pytest.raises(TypeError, match=r"^published must be a dict of Table2Row, got list$"):
        format_table2(list(published.values()), published)
    with pytest.raises(TypeError, match=r"^recount must be a dict of Table2Row, got tuple$"):
        format_table2(published, ())
    partial = {kind: row for kind, row in published.items() if kind != "Fully Connected"}
    with pytest.raises(ValueError, match=r"^recount has no Table2Row for \['Fully Connected'\]$"):
        format_table2(published, partial)


def test_load_table2_refuses_a_layer_type_that_table_2_has_not(tmp_path):
    text = "# a comment\n\nlayer_type,mult_adds_percent,parameters_percent\nConv 5x5,1.0,2.0\n"
    (tmp_path / "table2.csv").write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=r"table2\.csv, line 4, column layer_type: 'Conv 5x5' is "
                                         r"not one of Conv 1x1, Conv DW 3x3, "):
        load_table2(tmp_path / "table2.csv")


def test_recount_of_a_given_model():
    """A 10-class MobileNet: the classifier holds 1024 x 10 weights (and 10 biases) and MACs."""
    recount = recount_table2(MobileNet(num_classes=10), biases=True)
    assert [row.layer_type for row in recount.values()] == list(LAYER_TYPES)
    classifier = recount["Fully Connected"]
    assert (classifier.mult_adds, classifier.parameters) == (1024 * 10, 1024 * 10 + 10)
