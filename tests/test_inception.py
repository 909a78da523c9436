"""Inception modules against hand formulas, FlopCounterMode and PyTorch's own convolutions."""

import hypothesis.strategies as st
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from onebyone.inception import (
    BRANCHES,
    Inception,
    NaiveInception,
    branch_costs,
    branch_parameters,
)
from onebyone.layers import conv_relu

channels = st.integers(1, 6)
sizes = st.integers(1, 7)


def _convs(module):
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def test_conv_relu_is_a_convolution_then_a_relu():
    block = conv_relu(3, 5, kernel_size=3, stride=2, padding=1)
    x = torch.randn(2, 3, 9, 9)
    conv = block[0]
    expected = F.relu(F.conv2d(x, conv.weight, conv.bias, stride=2, padding=1))
    torch.testing.assert_close(block(x), expected)
    assert block(x).shape == (2, 5, 5, 5)


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (0, ValueError, "must be a positive int"),
        (-3, ValueError, "must be a positive int"),
        (2.0, TypeError, "must be an integer"),
        (True, TypeError, "must be an integer"),
        (None, TypeError, "must be an integer"),
    ],
)
def test_bad_channels_are_refused(bad, error, message):
    with pytest.raises(error, match=f"ch1x1 {message}"):
        Inception(8, bad, 4, 4, 2, 2, 2)
    with pytest.raises(error, match=f"ch3x3 {message}"):
        NaiveInception(8, 4, bad, 4)
    with pytest.raises(error, match=f"out_channels {message}"):
        conv_relu(3, bad, kernel_size=1)


@settings(max_examples=25, deadline=None)
@given(channels, channels, channels, channels, channels, channels, channels, sizes, sizes)
def test_inception_keeps_height_and_width_and_stacks_the_branches(
    in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, height, width
):
    module = Inception(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)
    assert module.out_channels == ch1x1 + ch3x3 + ch5x5 + pool_proj
    x = torch.randn(2, in_channels, height, width)
    y = module(x)
    assert y.shape == (2, module.out_channels, height, width)
    # the output is the four branches side by side, in order, each computed by hand
    conv1 = module.branch1[0]
    red3, conv3 = module.branch2[0][0], module.branch2[1][0]
    red5, conv5 = module.branch3[0][0], module.branch3[1][0]
    proj = module.branch4[1][0]
    expected = torch.cat(
        [
            F.relu(F.conv2d(x, conv1.weight, conv1.bias)),
            F.relu(
                F.conv2d(
                    F.relu(F.conv2d(x, red3.weight, red3.bias)), conv3.weight, conv3.bias, padding=1
                )
            ),
            F.relu(
                F.conv2d(
                    F.relu(F.conv2d(x, red5.weight, red5.bias)), conv5.weight, conv5.bias, padding=2
                )
            ),
            F.relu(F.conv2d(F.max_pool2d(x, 3, stride=1, padding=1), proj.weight, proj.bias)),
        ],
        dim=1,
    )
    torch.testing.assert_close(y, expected)


@settings(max_examples=25, deadline=None)
@given(channels, channels, channels, channels, sizes, sizes)
def test_naive_inception_passes_the_pooled_input_through(
    in_channels, ch1x1, ch3x3, ch5x5, height, width
):
    module = NaiveInception(in_channels, ch1x1, ch3x3, ch5x5)
    assert module.out_channels == ch1x1 + ch3x3 + ch5x5 + in_channels
    x = torch.randn(1, in_channels, height, width)
    y = module(x)
    assert y.shape == (1, module.out_channels, height, width)
    pooled = F.max_pool2d(x, 3, stride=1, padding=1)
    torch.testing.assert_close(y[:, -in_channels:], pooled)
    conv3 = module.branch2[0]
    torch.testing.assert_close(
        y[:, ch1x1 : ch1x1 + ch3x3], F.relu(F.conv2d(x, conv3.weight, conv3.bias, padding=1))
    )


def test_every_convolution_is_followed_by_a_relu():
    for module in (Inception(8, 4, 4, 6, 2, 3, 2), NaiveInception(8, 4, 6, 3)):
        layers = [m for m in module.modules() if not isinstance(m, (nn.Sequential,))][1:]
        for index, layer in enumerate(layers):
            if isinstance(layer, nn.Conv2d):
                assert isinstance(layers[index + 1], nn.ReLU)
        assert not any(isinstance(m, nn.BatchNorm2d) for m in module.modules())


def test_wrong_input_is_refused_with_the_expected_shape():
    module = Inception(8, 4, 4, 6, 2, 3, 2)
    with pytest.raises(
        ValueError, match=r"Inception: x must be N x 8 x H x W, got 1 x 7 x 5 x 5"
    ):
        module(torch.randn(1, 7, 5, 5))
    with pytest.raises(ValueError, match="NaiveInception: x must be N x 8"):
        NaiveInception(8, 4, 6, 3)(torch.randn(8, 5, 5))


def test_branch_costs_of_inception_3a_by_hand():
    """GoogLeNet's inception (3a) on its 28 x 28 x 192 input, formula written out here."""
    hw = 28 * 28
    reduced = branch_costs(Inception(192, 64, 96, 128, 16, 32, 32), (1, 192, 28, 28))
    assert reduced == {
        "branch1": hw * 192 * 64,
        "branch2": hw * (192 * 96 + 96 * 128 * 9),
        "branch3": hw * (192 * 16 + 16 * 32 * 25),
        "branch4": hw * 192 * 32,
    }
    naive = branch_costs(NaiveInception(192, 64, 128, 32), (2, 192, 28, 28))
    assert naive == {
        "branch1": 2 * hw * 192 * 64,
        "branch2": 2 * hw * 192 * 128 * 9,
        "branch3": 2 * hw * 192 * 32 * 25,
        "branch4": 0,
    }


@settings(max_examples=15, deadline=None)
@given(channels, channels, channels, channels, channels, channels, channels, sizes)
def test_branch_costs_add_up_to_flop_counter_mode(
    in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, size
):
    for module in (
        Inception(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj),
        NaiveInception(in_channels, ch1x1, ch3x3, ch5x5),
    ):
        costs = branch_costs(module, (2, in_channels, size, size))
        assert list(costs) == list(BRANCHES)
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            module(torch.randn(2, in_channels, size, size))
        assert 2 * sum(costs.values()) == counter.get_total_flops()  # FLOPs = 2 x MACs


def test_branch_costs_refuses_other_modules_and_bad_shapes():
    with pytest.raises(TypeError, match="module must be an instance of Inception or NaiveInc"):
        branch_costs(nn.Conv2d(3, 3, 1), (1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"input_shape must have 4 sizes"):
        branch_costs(Inception(8, 4, 4, 6, 2, 3, 2), (8, 4, 4))


def test_branch_parameters_against_pytorch_and_by_hand():
    module = Inception(192, 64, 96, 128, 16, 32, 32)
    counts = branch_parameters(module)
    for name in BRANCHES:
        branch = getattr(module, name)
        assert counts[name] == sum(p.numel() for p in branch.parameters())
    assert counts["branch2"] == (192 * 96 + 96) + (96 * 128 * 9 + 128)
    assert branch_parameters(NaiveInception(8, 4, 6, 3))["branch4"] == 0
    with pytest.raises(TypeError, match="got Linear"):
        branch_parameters(nn.Linear(2, 2))
