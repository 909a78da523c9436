"""Table 1: the published data loads, and the recount agrees with formulas written out here."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from onebyone.googlenet import GoogLeNet
from onebyone.table1 import (
    AGREES,
    CHANNELS_OFF,
    PAPER_KILO,
    PARAMS_OFF,
    UNEXPLAINED,
    PublishedRow,
    RecountRow,
    diagnose,
    format_table1,
    load_table1,
    plain_stem_cost,
    recount_table1,
    separable_stem_cost,
    total,
    weights_implied_by_ops,
)

STAGES = (
    "conv1 maxpool1 conv2 maxpool2 inception3a inception3b maxpool3 inception4a inception4b"
    " inception4c inception4d inception4e maxpool4 inception5a inception5b avgpool dropout fc"
    " softmax"
).split()


@pytest.fixture  # per test: mutmut maps each test to the functions it calls
def recount():
    return {row.stage: row for row in recount_table1()}


def test_the_published_table_loads():
    rows = load_table1()
    assert [row.stage for row in rows] == STAGES
    assert all(isinstance(row, PublishedRow) for row in rows)
    table = {row.stage: row for row in rows}
    assert table["conv1"].patch_size == 7 and table["conv1"].stride == 2
    assert table["conv1"].params_k == pytest.approx(2.7) and table["conv1"].ops_m == 34
    assert table["inception3a"].channels() == (64, 96, 128, 16, 32, 32)
    assert table["inception5b"].output_size == (1024, 7, 7)
    assert table["maxpool4"].params_k is None and table["maxpool4"].ops_m is None
    assert table["conv2"].depth == 2 and table["conv2"].ch3x3red == 64
    # the published ops add up to the paper's "1.5 billion multiply-adds", to the nearest 0.1 G
    assert round(sum(row.ops_m or 0 for row in rows) / 1000, 1) == 1.5


def test_every_module_output_is_the_sum_of_its_published_branches():
    for row in load_table1():
        if row.type == "inception":
            ch1x1, _, ch3x3, _, ch5x5, pool_proj = row.channels()
            assert ch1x1 + ch3x3 + ch5x5 + pool_proj == row.output_size[0]


def test_inception_3a_recounted_by_hand(recount):
    weights = 192 * 64 + 192 * 96 + 96 * 128 * 9 + 192 * 16 + 16 * 32 * 25 + 192 * 32
    row = recount["inception3a"]
    assert row.weights == weights == 163_328
    assert row.biases == 64 + 96 + 128 + 16 + 32 + 32
    assert row.macs == weights * 28 * 28
    assert row.published_params_k == 159 and row.published_ops_m == 128
    assert row.params_k == pytest.approx(weights / 1024)
    assert row.params_difference_percent == pytest.approx(100 * (weights / 1024 - 159) / 159)
    assert row.ops_difference_percent == pytest.approx(100 * (weights * 784 / 1e6 - 128) / 128)


def test_inception_5b_conv2_and_fc_recounted_by_hand(recount):
    weights_5b = 832 * 384 + 832 * 192 + 192 * 384 * 9 + 832 * 48 + 48 * 128 * 25 + 832 * 128
    assert recount["inception5b"].weights == weights_5b
    assert recount["inception5b"].macs == weights_5b * 7 * 7
    assert recount["conv2"].weights == 64 * 64 + 64 * 192 * 9
    assert recount["conv2"].macs == (64 * 64 + 64 * 192 * 9) * 56 * 56
    assert recount["fc"].weights == 1024 * 1000 and recount["fc"].biases == 1000
    assert recount["fc"].macs == 1024 * 1000
    for pooling in ("maxpool1", "avgpool", "dropout", "softmax"):
        assert (recount[pooling].weights, recount[pooling].macs) == (0, 0)


def test_two_rows_pin_the_papers_kilo_to_1024_weights_without_biases(recount):
    assert recount["conv2"].weights == 112 * PAPER_KILO
    assert recount["fc"].weights == 1000 * PAPER_KILO
    assert recount["conv2"].weights + recount["conv2"].biases != 112 * PAPER_KILO


def test_recounted_macs_match_flop_counter_mode_stage_by_stage(recount):
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        GoogLeNet().to("meta")(torch.empty(1, 3, 224, 224, device="meta"))
    flops = counter.get_flop_counts()
    for stage, row in recount.items():
        measured = sum(flops.get(f"GoogLeNet.{stage}", {}).values())
        assert 2 * row.macs == measured, stage  # FLOPs = 2 x MACs


def test_total_sums_every_column(recount):
    rows = list(recount.values())
    summed = total(rows)
    assert summed.stage == "total"
    assert summed.weights == sum(
        p.numel() for n, p in GoogLeNet().named_parameters() if n.endswith("weight")
    )
    assert summed.macs == sum(row.macs for row in rows)
    published = [2.7, 112, 159, 380, 364, 437, 463, 580, 840, 1072, 1388, 1000]
    assert summed.published_params_k == pytest.approx(sum(published))
    with pytest.raises(ValueError, match="cannot total an empty table"):
        total([])


def test_weights_implied_by_ops():
    table = {row.stage: row for row in load_table1()}
    assert weights_implied_by_ops(table["inception3a"]) == pytest.approx(128e6 / (28 * 28))
    assert weights_implied_by_ops(table["inception5a"]) == pytest.approx(54e6 / 49)
    with pytest.raises(ValueError, match="only Inception rows with published ops imply weights"):
        weights_implied_by_ops(table["conv2"])
    with pytest.raises(TypeError, match=r"^row must be a PublishedRow, got str$"):
        weights_implied_by_ops("inception3a")


def test_stem_costs_by_hand():
    plain = plain_stem_cost()
    assert plain.weights == 3 * 64 * 7 * 7
    assert plain.macs == 3 * 64 * 7 * 7 * 112 * 112
    separable = separable_stem_cost()
    assert separable.weights == 3 * 8 * 7 * 7 + 24 * 64
    assert separable.macs == (3 * 8 * 7 * 7 + 24 * 64) * 112 * 112
    assert separable_stem_cost(depth_multiplier=1).weights == 3 * 49 + 3 * 64
    with pytest.raises(ValueError, match="depth_multiplier must be a positive int"):
        separable_stem_cost(depth_multiplier=0)


def test_format_table1_has_a_line_per_costed_row(recount):
    rows = list(recount.values())
    text = format_table1([*rows, total(rows)])
    lines = text.splitlines()
    assert lines[0].split() == "stage params K ours K diff % ops M ours M diff %".split()
    stages = [line.split()[0] for line in lines[2:]]
    costed = ["conv1", "conv2", *[s for s in STAGES if s.startswith("inception")], "fc", "total"]
    assert stages == costed
    line_3a = next(line for line in lines if line.startswith("inception3a"))
    assert line_3a.split() == ["inception3a", "159.0", "159.5", "+0.3", "128", "128.0", "+0.0"]


def _inception_row(params_k, ops_m):
    """A made-up 10 x 10 Inception row of the published table."""
    return PublishedRow(
        stage="x",
        type="inception",
        patch_size=None,
        stride=None,
        output_size=(8, 10, 10),
        depth=2,
        ch1x1=2,
        ch3x3red=2,
        ch3x3=2,
        ch5x5red=2,
        ch5x5=2,
        pool_proj=2,
        params_k=params_k,
        ops_m=ops_m,
    )


def _recount_row(weights):
    return RecountRow("x", weights, 0, weights * 100, None, None)


def test_diagnose_names_the_odd_count_out():
    # 100 K weights -> 10.24 M MACs at 10 x 10; half a unit of ops is 5,000 weights there
    weights = 100 * 1024
    assert diagnose(_inception_row(100, 10), _recount_row(weights)) == AGREES
    assert diagnose(_inception_row(90, 10), _recount_row(weights)) == PARAMS_OFF
    assert diagnose(_inception_row(90, 9), _recount_row(weights)) == CHANNELS_OFF
    assert diagnose(_inception_row(90, 5), _recount_row(weights)) == UNEXPLAINED
    # 10 K off is 20 half-units of the params column: 25 half-units let it pass
    assert diagnose(_inception_row(90, 5), _recount_row(weights), 25.0) == AGREES


def test_diagnose_on_the_real_table(recount):
    table = {row.stage: row for row in load_table1()}
    verdicts = {
        stage: diagnose(table[stage], recount[stage])
        for stage in STAGES
        if table[stage].type == "inception"
    }
    assert verdicts["inception3a"] == AGREES  # 159 K printed, 159.5 K counted: half a unit
    assert verdicts["inception4c"] == PARAMS_OFF  # 463 K printed, 497.5 K counted, ops: 498 K
    assert verdicts["inception4e"] == PARAMS_OFF  # 840 K printed, 847 K counted and from ops
    # 364 K and 73 M (363.7 K) agree; the channels give 366.75 K and 73.6 M, printed 74
    assert verdicts["inception4a"] == CHANNELS_OFF
    assert verdicts["inception5a"] == CHANNELS_OFF  # 1072 K and 54 M agree, channels give less


def test_diagnose_refuses_bad_input(recount):
    table = {row.stage: row for row in load_table1()}
    with pytest.raises(ValueError, match="rows of different stages"):
        diagnose(table["inception3a"], recount["inception3b"])
    with pytest.raises(ValueError, match="half_units must be positive"):
        diagnose(table["inception3a"], recount["inception3a"], 0.0)
    with pytest.raises(TypeError, match=r"^published must be a PublishedRow, got RecountRow$"):
        diagnose(recount["inception3a"], recount["inception3a"])
    with pytest.raises(
        TypeError, match=r"^recount\[0\] must be an instance of RecountRow, got PublishedRow: "
    ):
        diagnose(table["inception3a"], table["inception3a"])


def test_format_table1_never_prints_minus_zero(recount):
    line_4e = next(
        line for line in format_table1(list(recount.values())).splitlines() if "4e" in line
    )
    assert recount["inception4e"].ops_difference_percent < 0  # 169.996 M against 170 M
    assert line_4e.split()[-1] == "+0.0"


def test_recount_counts_the_model_it_is_given():
    model = GoogLeNet(num_classes=10)
    rows = {row.stage: row for row in recount_table1(model)}
    assert (rows["fc"].weights, rows["fc"].biases, rows["fc"].macs) == (1024 * 10, 10, 1024 * 10)
    assert rows["conv2"].weights == 64 * 64 + 64 * 192 * 9  # the rest as published
    assert (rows["maxpool1"].weights, rows["maxpool1"].biases) == (0, 0)  # no layer: zeros
    model.fc = torch.nn.Linear(1024, 10, bias=False)
    assert next(row for row in recount_table1(model) if row.stage == "fc").biases == 0


def test_format_table1_leaves_unpublished_cells_blank():
    lines = format_table1([_recount_row(2048)]).splitlines()  # 2 K weights, 0.2 M MACs
    assert lines[1] == "-" * len(lines[0])
    assert lines[2].split() == ["x", "2.0", "0.2"]


def test_agreement_is_half_a_printed_unit_inclusive():
    weights = 100 * 1024  # 10.24 M MACs at 10 x 10: the ops, 10 M, agree
    # params: 100.5 K is exactly half a unit off, 100.6 K more
    assert diagnose(_inception_row(100.5, 10), _recount_row(weights)) == AGREES
    assert diagnose(_inception_row(99.5, 10), _recount_row(weights)) == AGREES
    assert diagnose(_inception_row(100.6, 10), _recount_row(weights)) == PARAMS_OFF
    # ops: 5,000 weights (0.5 M / 100) is the ops column's half unit at 10 x 10
    recount = RecountRow("x", 105_000, 0, 10_500_000, None, None)  # 10.5 M counted
    assert diagnose(_inception_row(90, 10), recount) == PARAMS_OFF  # 10.5 M prints as 10
    recount = RecountRow("x", 105_100, 0, 10_510_000, None, None)  # 10.51 M prints as 11
    assert diagnose(_inception_row(90, 10), recount) == UNEXPLAINED
    # params and ops against each other: both roundings add up
    recount = RecountRow("x", 200_000, 0, 20_000_000, None, None)
    edge_k = (100_000 + 5_000 + 512) / 1024  # 10 M = 100,000 weights, plus both half units
    assert diagnose(_inception_row(edge_k, 10), recount) == CHANNELS_OFF
    assert diagnose(_inception_row(edge_k + 0.01, 10), recount) == UNEXPLAINED


def test_percent_differences_and_total_of_made_up_rows():
    row = RecountRow("a", 2048, 2, 3_000_000, published_params_k=1.0, published_ops_m=None)
    assert row.params_difference_percent == 100.0  # 2 K counted, 1 K published
    assert row.ops_difference_percent is None
    assert RecountRow("b", 1, 0, 0, 0.0, 0.0).params_difference_percent is None  # no divide by 0
    other = RecountRow("b", 1024, 3, 1_000_000, published_params_k=None, published_ops_m=5.0)
    assert total([row, other]) == RecountRow("total", 3072, 5, 4_000_000, 1.0, 5.0)
    with pytest.raises(ValueError, match=r"^cannot total an empty table$"):
        total([])


def test_recount_and_total_name_what_they_refuse():
    with pytest.raises(TypeError, match=r"^model must be an instance of GoogLeNet, got Linear: "):
        recount_table1(nn.Linear(2, 2))
    with pytest.raises(TypeError, match=r"^rows must be a list, got str: 'inception3a'$"):
        total("inception3a")
