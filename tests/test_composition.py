"""Tests for onebyone.composition: a stack of 1x1 convolutions equals the composed one."""

from __future__ import annotations

import copy

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
    # float64 to the last few bits: a step through float32 would be off by about 1e-8
    torch.testing.assert_close(composed.weight[:, :, 0, 0], expected_weight, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(composed.bias, expected_bias, rtol=1e-12, atol=1e-12)


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
    with torch.no_grad():
        single.weight.add_(1.0)  # a copy of the weights too: the stack is left as it was
    assert not torch.equal(single.weight, stack[0].weight)


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


def test_mixed_dtypes_compose_in_the_first_layers_dtype():
    torch.manual_seed(0)
    first = pointwise(3, 4)  # float64
    second = nn.Conv2d(4, 2, 1)  # float32
    composed = compose_pointwise(first, second)
    assert composed.weight.dtype == composed.bias.dtype == torch.float64
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    second_in_float64 = copy.deepcopy(second).double()
    expected = second_in_float64(first(x))  # 2 x 2 x 4 x 5
    torch.testing.assert_close(composed(x), expected)
    w2 = second_in_float64.weight[:, :, 0, 0]
    torch.testing.assert_close(composed.bias, w2 @ first.bias + second_in_float64.bias,
                               rtol=1e-12, atol=1e-12)
    no_first_bias = compose_pointwise(pointwise(3, 4, bias=False), second)
    assert no_first_bias.bias.dtype == torch.float64
    torch.testing.assert_close(no_first_bias.bias, second.bias.double())


def test_composition_stays_on_the_layers_device():
    first = nn.Conv2d(3, 4, 1, device="meta")
    second = nn.Conv2d(4, 2, 1, device="meta", dtype=torch.float16)
    composed = compose_pointwise(first, second)
    assert composed.weight.is_meta and composed.bias.is_meta
    assert composed.weight.shape == (2, 3, 1, 1) and composed.bias.shape == (2,)
    assert composed.weight.dtype == composed.bias.dtype == torch.float32
    assert collapse_pointwise_stack([first, second, nn.Conv2d(2, 5, 1, device="meta")]
                                    ).weight.shape == (5, 3, 1, 1)


def test_a_bias_only_in_one_layer_is_carried_through():
    torch.manual_seed(0)
    first, second = pointwise(3, 4, bias=True), pointwise(4, 2, bias=False)
    composed = compose_pointwise(first, second)
    torch.testing.assert_close(composed.bias, second.weight[:, :, 0, 0] @ first.bias)
    first, second = pointwise(3, 4, bias=False), pointwise(4, 2, bias=True)
    torch.testing.assert_close(compose_pointwise(first, second).bias, second.bias)
    assert compose_pointwise(pointwise(3, 4, False), pointwise(4, 2, False)).bias is None


def test_collapse_errors_name_the_layer():
    with pytest.raises(TypeError, match=r"^layer 1 is a ReLU, not an nn\.Conv2d: a stack with a "
                                        r"non-linearity between its 1x1 convolutions does not "
                                        r"collapse to one$"):
        collapse_pointwise_stack([pointwise(3, 4), nn.ReLU(), pointwise(4, 2)])
    with pytest.raises(ValueError, match=r"^the stack is empty: give at least one 1x1"):
        collapse_pointwise_stack(nn.Sequential())
    with pytest.raises(ValueError, match=r"kernel_size is \(3, 3\)"):  # a stack of one, checked
        collapse_pointwise_stack([nn.Conv2d(3, 4, 3)])
    with pytest.raises(ValueError, match=r"^channel mismatch: the first layer outputs 4 channels "
                                         r"but the second expects 5$"):
        collapse_pointwise_stack([pointwise(3, 4), pointwise(5, 2)])


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"^first is not a plain 1x1 convolution"):
        compose_pointwise(nn.Conv2d(3, 4, 3), pointwise(4, 2))
    with pytest.raises(ValueError, match=r"^second is not a plain 1x1 convolution"):
        compose_pointwise(pointwise(3, 4), nn.Conv2d(4, 2, 3))
    with pytest.raises(ValueError, match=r"^layers\[0\] is not a plain 1x1 convolution"):
        collapse_pointwise_stack([nn.Conv2d(3, 4, 3)])
    with pytest.raises(TypeError, match=r"^layers must be a list"):
        collapse_pointwise_stack(5)
