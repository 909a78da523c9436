"""The 1x1 convolution, four ways, against PyTorch's own nn.Conv2d (an independent reference)."""

import hypothesis.strategies as st
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from torch import nn

from onebyone import pointwise

shapes = st.tuples(
    st.integers(1, 3),  # N
    st.integers(1, 9),  # C_in
    st.integers(1, 9),  # C_out
    st.integers(1, 6),  # H
    st.integers(1, 6),  # W
)
TOLERANCE = {torch.float64: 1e-12, torch.float32: 1e-5}


def _random(shape, dtype, seed):
    n, c_in, c_out, h, w = shape
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c_in, h, w, generator=generator, dtype=dtype)
    weight = torch.randn(c_out, c_in, generator=generator, dtype=dtype)
    bias = torch.randn(c_out, generator=generator, dtype=dtype)
    return x, weight, bias


@settings(max_examples=60, deadline=None)
@given(shapes, st.sampled_from([torch.float32, torch.float64]), st.booleans(), st.integers(0, 99))
def test_matmul_and_einsum_match_conv2d(shape, dtype, with_bias, seed):
    x, weight, bias = _random(shape, dtype, seed)
    bias = bias if with_bias else None
    expected = F.conv2d(x, weight[:, :, None, None], bias)
    tol = TOLERANCE[dtype]
    for version in (pointwise.pointwise_as_matmul, pointwise.pointwise_as_einsum):
        result = version(x, weight, bias)
        assert result.dtype == dtype
        torch.testing.assert_close(result, expected, rtol=tol, atol=tol)
        # a C_out x C_in x 1 x 1 weight is accepted too
        torch.testing.assert_close(version(x, weight[:, :, None, None], bias), expected)


@settings(max_examples=40, deadline=None)
@given(shapes, st.sampled_from([torch.float32, torch.float64]), st.booleans())
def test_conversions_are_exact_and_agree(shape, dtype, with_bias):
    n, c_in, c_out, h, w = shape
    conv = nn.Conv2d(c_in, c_out, kernel_size=1, bias=with_bias, dtype=dtype)
    linear = pointwise.conv1x1_to_linear(conv)
    assert isinstance(linear, nn.Linear) and linear.weight.dtype == dtype
    assert torch.equal(linear.weight, conv.weight.reshape(c_out, c_in))
    assert (linear.bias is None) == (not with_bias)
    back = pointwise.linear_to_conv1x1(linear)
    assert torch.equal(back.weight, conv.weight)
    if with_bias:
        assert torch.equal(linear.bias, conv.bias) and torch.equal(back.bias, conv.bias)
    x = torch.randn(n, c_in, h, w, dtype=dtype)
    with torch.no_grad():
        tol = TOLERANCE[dtype]
        torch.testing.assert_close(
            pointwise.linear_per_pixel(linear, x), conv(x), rtol=tol, atol=tol
        )
        torch.testing.assert_close(back(x), conv(x), rtol=0, atol=0)


def test_integer_valued_float64_agrees_bit_for_bit():
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(-9, 10, (2, 7, 4, 5), generator=generator).double()
    weight = torch.randint(-9, 10, (3, 7), generator=generator).double()
    bias = torch.randint(-9, 10, (3,), generator=generator).double()
    expected = F.conv2d(x, weight[:, :, None, None], bias)
    assert torch.equal(pointwise.pointwise_as_matmul(x, weight, bias), expected)
    assert torch.equal(pointwise.pointwise_as_einsum(x, weight, bias), expected)


def test_conversion_does_not_share_storage():
    conv = nn.Conv2d(4, 2, kernel_size=1)
    linear = pointwise.conv1x1_to_linear(conv)
    with torch.no_grad():
        linear.weight.zero_()
    assert conv.weight.abs().sum() > 0


@pytest.mark.parametrize(
    "layer, message",
    [
        (nn.Conv2d(4, 2, kernel_size=3), r"kernel_size is \(3, 3\)"),
        (nn.Conv2d(4, 2, kernel_size=(1, 3)), r"kernel_size is \(1, 3\)"),
        (nn.Conv2d(4, 2, kernel_size=1, stride=2), r"stride is \(2, 2\)"),
        (nn.Conv2d(4, 2, kernel_size=1, padding=1), r"padding is \(1, 1\)"),
        (nn.Conv2d(4, 2, kernel_size=1, groups=2), r"groups is 2"),
    ],
)
def test_not_pointwise_is_refused_with_the_reason(layer, message):
    with pytest.raises(ValueError, match=message):
        pointwise.check_pointwise_conv(layer)
    with pytest.raises(ValueError, match=message):
        pointwise.conv1x1_to_linear(layer)


@pytest.mark.parametrize("dilation", [2, (3, 1)])
def test_a_dilated_1x1_is_accepted_and_is_the_same_function(dilation):
    torch.manual_seed(0)
    dilated = nn.Conv2d(8, 4, kernel_size=1, dilation=dilation)
    plain = nn.Conv2d(8, 4, kernel_size=1)
    with torch.no_grad():
        plain.weight.copy_(dilated.weight)
        plain.bias.copy_(dilated.bias)
    pointwise.check_pointwise_conv(dilated)
    x = torch.randn(2, 8, 5, 7)
    with torch.no_grad():
        # Equal up to rounding: with one thread PyTorch picks another kernel for the dilated layer,
        # whose sums round differently in the last bit.
        torch.testing.assert_close(dilated(x), plain(x), rtol=1e-6, atol=1e-6)
        linear = pointwise.conv1x1_to_linear(dilated)
        torch.testing.assert_close(pointwise.linear_per_pixel(linear, x), dilated(x))


def test_several_problems_are_all_named():
    with pytest.raises(ValueError, match=r"kernel_size .*; stride .*; groups"):
        pointwise.check_pointwise_conv(nn.Conv2d(4, 2, kernel_size=3, stride=2, groups=2))


def test_wrong_module_types_are_refused():
    with pytest.raises(TypeError, match=r"conv must be an instance of Conv2d, got Linear"):
        pointwise.conv1x1_to_linear(nn.Linear(3, 2))
    with pytest.raises(TypeError, match=r"linear must be an instance of Linear, got Conv2d"):
        pointwise.linear_to_conv1x1(nn.Conv2d(3, 2, 1))
    with pytest.raises(TypeError, match=r"linear must be an instance of Linear"):
        pointwise.linear_per_pixel(nn.Conv2d(3, 2, 1), torch.randn(1, 3, 2, 2))


@pytest.mark.parametrize(
    "function", [pointwise.pointwise_as_matmul, pointwise.pointwise_as_einsum]
)
def test_bad_tensors_are_refused(function):
    weight = torch.randn(2, 3)
    with pytest.raises(ValueError, match="4-D input"):
        function(torch.randn(3, 4, 4), weight)
    with pytest.raises(ValueError, match="input has 5 channels but the weight expects 3"):
        function(torch.randn(1, 5, 4, 4), weight)
    with pytest.raises(ValueError, match=r"not 1x1"):
        function(torch.randn(1, 3, 4, 4), torch.randn(2, 3, 3, 3))
    with pytest.raises(ValueError, match="C_out x C_in"):
        function(torch.randn(1, 3, 4, 4), torch.randn(6))
    with pytest.raises(ValueError, match=r"bias has shape \(3,\), expected \(2,\)"):
        function(torch.randn(1, 3, 4, 4), weight, torch.randn(3))


def test_linear_per_pixel_checks_channels():
    with pytest.raises(ValueError, match="input has 4 channels but the weight expects 3"):
        pointwise.linear_per_pixel(nn.Linear(3, 2), torch.randn(1, 4, 2, 2))


def test_valid_padding_is_no_padding_and_errors_say_what_is_wrong():
    pointwise.check_pointwise_conv(nn.Conv2d(4, 2, 1, padding="valid"))
    with pytest.raises(ValueError, match=r"^conv is not a plain 1x1 convolution: kernel_size is "
                                         r"\(3, 3\), not \(1, 1\); groups is 2, not 1$"):
        pointwise.check_pointwise_conv(nn.Conv2d(4, 2, 3, groups=2))
    with pytest.raises(ValueError, match=r"weight has a \(3, 3\) kernel, not 1x1"):
        pointwise.pointwise_as_matmul(torch.zeros(1, 4, 2, 2), torch.zeros(2, 4, 3, 3))
    with pytest.raises(TypeError, match=r"^linear must be an instance of Linear, got Conv2d"):
        pointwise.linear_per_pixel(nn.Conv2d(4, 2, 1), torch.zeros(1, 4, 2, 2))


def test_conversions_stay_on_the_layers_device():
    linear = pointwise.conv1x1_to_linear(nn.Conv2d(4, 2, 1, device="meta"))
    assert linear.weight.is_meta and linear.bias.is_meta
    conv = pointwise.linear_to_conv1x1(nn.Linear(4, 2, device="meta"))
    assert conv.weight.is_meta and conv.bias.is_meta and conv.weight.shape == (2, 4, 1, 1)


@pytest.mark.parametrize(
    "function", [pointwise.pointwise_as_matmul, pointwise.pointwise_as_einsum]
)
def test_non_tensors_are_refused_by_name(function):
    x, weight = torch.randn(1, 3, 2, 2), torch.randn(2, 3)
    with pytest.raises(TypeError, match=r"^x must be a torch\.Tensor, got list: \[1\.0\]$"):
        function([1.0], weight)
    with pytest.raises(TypeError, match=r"^weight must be a torch\.Tensor, got float: 2\.0$"):
        function(x, 2.0)
    with pytest.raises(TypeError, match=r"^bias must be a torch\.Tensor, got list: \[0, 0\]$"):
        function(x, weight, [0, 0])
