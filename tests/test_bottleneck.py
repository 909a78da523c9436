"""Tests for onebyone.bottleneck against hand formulas, PyTorch modules and FlopCounterMode."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from onebyone.bottleneck import (
    BottleneckComparison,
    ConvCost,
    bottleneck_path,
    bottleneck_sweep,
    break_even_channels,
    compare_bottleneck,
    conv_cost,
    reduction_strategies,
    same_conv,
    strategy_costs,
)
from onebyone.plotting import plot_bottleneck_sweep


def flops(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(torch.randn(input_shape))
    return counter.get_total_flops()


def test_the_classic_googlenet_numbers_by_hand():
    comparison = compare_bottleneck(192, 32, 5, 28, 28, reduced_channels=16)
    assert comparison.direct.macs == 28 * 28 * 32 * (5 * 5 * 192) == 120_422_400
    assert comparison.reduction.macs == 28 * 28 * 16 * 192 == 2_408_448
    assert comparison.spatial.macs == 28 * 28 * 32 * (5 * 5 * 16) == 10_035_200
    assert comparison.bottleneck.macs == 12_443_648
    assert comparison.mac_ratio == pytest.approx(120_422_400 / 12_443_648)
    assert comparison.direct.parameters == 5 * 5 * 192 * 32 + 32
    assert comparison.bottleneck.parameters == (192 * 16 + 16) + (5 * 5 * 16 * 32 + 32)
    assert comparison.parameter_ratio == pytest.approx(153_632 / 15_920)


def test_parameters_without_bias():
    comparison = compare_bottleneck(192, 32, 5, 28, 28, reduced_channels=16, bias=False)
    assert comparison.direct.parameters == 5 * 5 * 192 * 32
    assert comparison.bottleneck.parameters == 192 * 16 + 5 * 5 * 16 * 32
    assert comparison.direct.macs == 120_422_400  # MACs never count biases


@settings(max_examples=30, deadline=None)
@given(
    in_channels=st.integers(1, 12),
    out_channels=st.integers(1, 12),
    reduced=st.integers(1, 12),
    kernel=st.sampled_from([1, 3, 5]),
    height=st.integers(1, 9),
    width=st.integers(1, 9),
    bias=st.booleans(),
)
def test_comparison_matches_real_modules(
    in_channels, out_channels, reduced, kernel, height, width, bias
):
    comparison = compare_bottleneck(in_channels, out_channels, kernel, height, width, reduced, bias)
    direct = same_conv(in_channels, out_channels, kernel, bias=bias)
    path = nn.Sequential(
        same_conv(in_channels, reduced, 1, bias=bias),
        same_conv(reduced, out_channels, kernel, bias=bias),
    )
    shape = (1, in_channels, height, width)
    assert direct(torch.zeros(shape)).shape[-2:] == (height, width)  # "same" padding
    assert 2 * comparison.direct.macs == flops(direct, shape)
    assert 2 * comparison.bottleneck.macs == flops(path, shape)
    assert comparison.direct.parameters == sum(p.numel() for p in direct.parameters())
    assert comparison.bottleneck.parameters == sum(p.numel() for p in path.parameters())


def test_stride_shrinks_the_output():
    cost = conv_cost(8, 4, 3, 28, 28, stride=2)
    assert cost.macs == 14 * 14 * 4 * 8 * 9
    assert flops(same_conv(8, 4, 3, stride=2), (1, 8, 28, 28)) == 2 * cost.macs


@settings(max_examples=60, deadline=None)
@given(
    in_channels=st.integers(1, 300),
    out_channels=st.integers(1, 300),
    kernel=st.sampled_from([1, 3, 5, 7]),
)
def test_break_even_channels_by_brute_force(in_channels, out_channels, kernel):
    """Below the break-even width the bottleneck is strictly cheaper, from it on it is not."""
    r = break_even_channels(in_channels, out_channels, kernel)
    direct = in_channels * kernel * kernel * out_channels  # MACs per pixel, by hand
    bottleneck = lambda width: width * in_channels + width * kernel * kernel * out_channels  # noqa: E731
    assert bottleneck(r) >= direct
    assert r == 1 or bottleneck(r - 1) < direct


def test_break_even_channels_of_the_classic_example():
    # 192 * 25 * 32 / (192 + 25 * 32) = 153,600 / 992 = 154.8...
    assert break_even_channels(192, 32, 5) == 155
    sweep = bottleneck_sweep(192, 32, 5, 28, 28, reduced_channels=[154, 155])
    assert sweep[0].bottleneck.macs < sweep[0].direct.macs <= sweep[1].bottleneck.macs


def test_sweep_is_compare_bottleneck_for_each_width():
    sweep = bottleneck_sweep(64, 32, 3, 7, 7, reduced_channels=range(1, 6), bias=False)
    assert [c.reduced_channels for c in sweep] == [1, 2, 3, 4, 5]
    assert sweep[2] == compare_bottleneck(64, 32, 3, 7, 7, 3, bias=False)
    # the bottleneck's cost is linear in its width
    macs = [c.bottleneck.macs for c in sweep]
    assert all(b - a == macs[1] - macs[0] for a, b in itertools.pairwise(macs))


def test_plot_marks_where_the_saving_disappears():
    sweep = bottleneck_sweep(192, 32, 5, 28, 28, reduced_channels=range(4, 257, 4))
    figure = plot_bottleneck_sweep(sweep)
    assert isinstance(figure, Figure)
    macs_axes, parameters_axes = figure.axes
    assert "MACs" in macs_axes.get_ylabel() and "channels" in macs_axes.get_xlabel()
    assert "parameters" in parameters_axes.get_ylabel()
    vertical = [line for line in macs_axes.get_lines() if line.get_label() == "saving disappears"]
    assert len(vertical) == 1
    assert vertical[0].get_xdata()[0] == 156  # first width of the sweep at or past 155
    direct = [line for line in macs_axes.get_lines() if line.get_label() == "direct k x k"]
    assert direct[0].get_ydata()[0] == pytest.approx(120.4224)


def test_costs_add():
    assert ConvCost(1, 2) + ConvCost(10, 20) == ConvCost(11, 22)


def test_reduction_strategies_match_flop_counter_and_shapes():
    strategies = reduction_strategies(192, 32, 5, reduced_channels=16, expanded_channels=384)
    costs = {c.name: c for c in strategy_costs(strategies, 192, 28, 28)}
    assert list(costs) == list(strategies)
    for name, module in strategies.items():
        assert 2 * costs[name].macs == flops(module, (1, 192, 28, 28))
        assert costs[name].parameters == sum(p.numel() for p in module.parameters())
        assert costs[name].output_shape == tuple(module(torch.zeros(1, 192, 28, 28)).shape)
    # spatial reduction quarters the MACs and the output; depth reduction keeps the output
    assert costs["2x2 max pooling first"].output_shape == (1, 32, 14, 14)
    assert costs["stride 2"].macs * 4 == costs["direct"].macs
    assert costs["1x1 reduction first"].output_shape == (1, 32, 28, 28)
    assert costs["1x1 reduction first"].macs == 12_443_648
    assert costs["1x1 expansion first"].macs > costs["direct"].macs


def test_bad_inputs():
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        conv_cost(8, 8, 4, 10, 10)
    with pytest.raises(ValueError, match="reduced_channels must be a positive integer"):
        compare_bottleneck(8, 8, 3, 10, 10, reduced_channels=0)
    with pytest.raises(ValueError, match="height must be a positive integer"):
        conv_cost(8, 8, 3, 0, 10)
    with pytest.raises(ValueError, match="reduced_channels is empty"):
        bottleneck_sweep(8, 8, 3, 10, 10, reduced_channels=[])
    with pytest.raises(ValueError, match="sweep is empty"):
        plot_bottleneck_sweep([])
    mixed = [compare_bottleneck(8, 8, 3, 10, 10, 2), compare_bottleneck(8, 4, 3, 10, 10, 2)]
    with pytest.raises(ValueError, match="mixes different layers"):
        plot_bottleneck_sweep(mixed)
    with pytest.raises(ValueError, match="in_channels must be a positive integer"):
        break_even_channels(0, 8, 3)
    with pytest.raises(ValueError, match="expanded_channels must be a positive integer"):
        reduction_strategies(8, 8, 3, 2, expanded_channels=-1)


def test_comparison_is_a_frozen_record():
    comparison = compare_bottleneck(8, 8, 3, 10, 10, 2)
    assert isinstance(comparison, BottleneckComparison)
    with pytest.raises(AttributeError):
        comparison.reduced_channels = 3  # type: ignore[misc]


def test_bottleneck_path_defaults_to_biases_and_a_relu():
    path = bottleneck_path(8, 4, 3, 2)  # 1x1 8 -> 2, ReLU, 3x3 2 -> 4
    assert [type(layer) for layer in path] == [nn.Conv2d, nn.ReLU, nn.Conv2d]
    assert path[0].bias.shape == (2,) and path[2].bias.shape == (4,)
    assert [type(layer) for layer in bottleneck_path(8, 4, 3, 2, relu=False)] == [nn.Conv2d] * 2


def test_strategy_costs_names_the_strategy_that_is_not_a_module():
    with pytest.raises(TypeError, match=r"^strategies\['direct'\] must be an instance of Module, "
                                        r"got str: 'conv'$"):
        strategy_costs({"direct": "conv"}, 3, 4, 4)


def test_bias_reaches_every_convolution_of_every_strategy():
    def biases(module):
        return [conv.bias is not None for conv in module.modules() if isinstance(conv, nn.Conv2d)]

    assert biases(bottleneck_path(8, 4, 3, 2, bias=False)) == [False, False]
    strategies = reduction_strategies(8, 4, 3, 2, 16)  # bias by default
    assert [biases(module) for module in strategies.values()] == [[True], [True], [True],
                                                                  [True, True], [True, True]]
    strategies = reduction_strategies(8, 4, 3, 2, 16, bias=False)
    assert [biases(module) for module in strategies.values()] == [[False], [False], [False],
                                                                  [False, False], [False, False]]


def test_same_conv_and_sweep_count_biases_by_default():
    conv = same_conv(3, 4, 3)
    assert conv.bias.shape == (4,) and conv.padding == (1, 1)
    (comparison,) = bottleneck_sweep(3, 4, 3, 8, 8, [2])
    assert comparison.direct.parameters == 4 * 3 * 3 * 3 + 4  # weights + biases
    assert comparison.reduction.parameters == 2 * 3 + 2
    assert conv_cost(3, 4, 3, 8, 8).parameters == 4 * 3 * 3 * 3 + 4
    with pytest.raises(ValueError, match=r"^reduced_channels is empty: give at least one "
                                         r"bottleneck width$"):
        bottleneck_sweep(3, 4, 3, 8, 8, [])
