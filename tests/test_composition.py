"""Tests for onebyone.composition: a stack of 1x1 convolutions equals the composed one."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from onebyone.composition import collapse_pointwise_stack, compose_pointwise


def pointwise(in_channels: int, out_channels: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 1, bias=bias, dtype=torch.float64)


@settings(max_examples=40, deadline=None)
@given(
    channels=st.tuples(st.integers(1, 8), st.integers(1, 8), st.integers(1, 8)),
    biases=st.tuples(st.booleans(), st.booleans()),
    size=st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)),
    seed=st.integers(0, 1000),
)
def test_composed_conv_equals_the_stack(channels, biases, size, seed):
    torch.manual_seed(seed)
    c_in, c_mid, c_out = channels
    first, second = pointwise(c_in, c_mid, biases[0]), pointwise(c_mid, c_out, biases[1])
    x = torch.randn(size[0], c_in, size[1], size[2], dtype=torch.float64)
    composed = compose_pointwise(first, second)
    assert (composed.in_channels, composed.out_channels) == (c_in, c_out)
    assert (composed.bias is not None) == any(biases)
    torch.testing.assert_close(composed(x), second(first(x)))


def test_weight_and_bias_are_the_matrix_formulas():
    torch.manual_seed(0)
    first, second = pointwise(3, 4), pointwise(4, 2)
    composed = compose_pointwise(first, second)
    w1, w2 = first.weight[:, :, 0, 0], second.weight[:, :, 0, 0]  # C_mid x C_in, C_out x C_mid
    expected_weight = torch.einsum("om,mi->oi", w2, w1)
    expected_bias = torch.einsum("om,m->o", w2, first.bias) + second.bias
    torch.testing.assert_close(composed.weight[:, :, 0, 0], expected_weight)
    torch.testing.assert_close(composed.bias, expected_bias)


def test_composition_keeps_dtype_and_leaves_the_inputs_alone():
    torch.manual_seed(0)
    first, second = pointwise(3, 4), pointwise(4, 2)
    before = [p.clone() for p in (*first.parameters(), *second.parameters())]
    composed = compose_pointwise(first, second)
    assert composed.weight.dtype == torch.float64
    after = [*first.parameters(), *second.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_a_whole_stack_collapses_and_a_single_layer_is_copied():
    torch.manual_seed(0)
    stack = nn.Sequential(pointwise(5, 7), pointwise(7, 3, bias=False), pointwise(3, 4))
    x = torch.randn(2, 5, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(collapse_pointwise_stack(stack)(x), stack(x))
    single = collapse_pointwise_stack([stack[0]])
    assert single is not stack[0]
    torch.testing.assert_close(single(x), stack[0](x))


def test_relu_in_between_is_refused_and_really_does_not_collapse():
    # first maps x to (x, -x), second adds them after the ReLU: |x|, which is not affine
    first = nn.Conv2d(1, 2, 1, bias=False)
    second = nn.Conv2d(2, 1, 1, bias=False)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
        second.weight.copy_(torch.ones(1, 2, 1, 1))
    stack = nn.Sequential(first, nn.ReLU(), second)
    x = torch.tensor([-1.0, 0.0, 1.0]).view(3, 1, 1, 1)
    y = stack(x).flatten()
    torch.testing.assert_close(y, x.flatten().abs())
    # any affine f has f(-1) + f(1) = 2 f(0); |x| gives 2 != 0
    assert y[0] + y[2] != 2 * y[1]
    with pytest.raises(TypeError, match=r"ReLU, not an nn\.Conv2d"):
        collapse_pointwise_stack(stack)


def test_bad_inputs():
    with pytest.raises(ValueError, match="channel mismatch: the first layer outputs 4"):
        compose_pointwise(pointwise(3, 4), pointwise(5, 2))
    with pytest.raises(ValueError, match=r"kernel_size is \(3, 3\)"):
        compose_pointwise(nn.Conv2d(3, 4, 3), pointwise(4, 2))
    with pytest.raises(ValueError, match=r"stride is \(2, 2\)"):
        compose_pointwise(pointwise(3, 4), nn.Conv2d(4, 2, 1, stride=2))
    with pytest.raises(TypeError, match=r"must be an instance of Conv2d"):
        compose_pointwise(nn.Linear(3, 4), pointwise(4, 2))
    with pytest.raises(ValueError, match="empty"):
        collapse_pointwise_stack([])
