"""The Chapter 1 checks accept right answers and reject wrong ones."""

import pytest
import torch
import torch.nn.functional as F

from onebyone.exercises import chapter1
from onebyone.exercises.checks import ExerciseFailed


def test_parameters():
    assert chapter1.check_bottleneck_parameters(256 * 64 + 64) is None
    with pytest.raises(ExerciseFailed):
        chapter1.check_bottleneck_parameters(256 * 64)  # biases forgotten


def test_macs():
    assert chapter1.check_pointwise_macs(14 * 14 * 512 * 128) is None
    with pytest.raises(ExerciseFailed):
        chapter1.check_pointwise_macs(2 * 14 * 14 * 512 * 128)  # FLOPs, not MACs


def _right(x, weight, bias):
    n, c, h, w = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(-1, c)  # (N*H*W) x C_in
    return (rows @ weight.T + bias).reshape(n, h, w, -1).permute(0, 3, 1, 2)


def _conv2d(x, weight, bias):
    return F.conv2d(x, weight[:, :, None, None], bias)


def _einsum(x, weight, bias):
    return torch.einsum("nchw,oc->nohw", x, weight) + bias[:, None, None]


def _hidden_conv2d(x, weight, bias):
    convolve = getattr(torch.nn.functional, "conv" + "2d")
    return convolve(x, weight[:, :, None, None], bias)


def _conv_module(x, weight, bias):
    conv = torch.nn.Conv2d(weight.shape[1], weight.shape[0], 1, dtype=x.dtype)
    with torch.no_grad():
        conv.weight.copy_(weight[:, :, None, None])
        conv.bias.copy_(bias)
    return conv(x)


def _height_width_swapped(x, weight, bias):
    n, c, h, w = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(-1, c)
    return (rows @ weight.T + bias).reshape(n, w, h, -1).permute(0, 3, 1, 2)


def _no_bias(x, weight, bias):
    n, c, h, w = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(-1, c)
    return (rows @ weight.T).reshape(n, h, w, -1).permute(0, 3, 1, 2)


def _crashes(x, weight, bias):
    raise RuntimeError("shape mismatch")


def test_pointwise_function():
    assert chapter1.check_pointwise_function(_right) is None
    for wrong in (_height_width_swapped, _no_bias):
        with pytest.raises(ExerciseFailed):
            chapter1.check_pointwise_function(wrong)
    with pytest.raises(ExerciseFailed, match="raised RuntimeError: shape mismatch"):
        chapter1.check_pointwise_function(_crashes)


def test_swapped_height_width_is_really_wrong_on_non_square_images():
    x = torch.randn(1, 2, 3, 4)
    weight, bias = torch.randn(2, 2), torch.randn(2)
    assert _height_width_swapped(x, weight, bias).shape != _right(x, weight, bias).shape


@pytest.mark.parametrize("cheat", [_conv2d, _einsum, _hidden_conv2d, _conv_module])
def test_pointwise_function_refuses_convolution_and_einsum(cheat):
    with pytest.raises(ExerciseFailed, match="without any convolution or einsum"):
        chapter1.check_pointwise_function(cheat)


def _linear_copy(conv):
    linear = torch.nn.Linear(conv.in_channels, conv.out_channels, bias=conv.bias is not None,
                             dtype=conv.weight.dtype)
    with torch.no_grad():
        linear.weight.copy_(conv.weight[:, :, 0, 0])
        if conv.bias is not None:
            linear.bias.copy_(conv.bias)
    return linear


def _linear_shared(conv):
    linear = _linear_copy(conv)
    linear.weight = torch.nn.Parameter(conv.weight.view(conv.out_channels, conv.in_channels))
    return linear


def _linear_transposed(conv):
    linear = torch.nn.Linear(conv.out_channels, conv.in_channels, dtype=conv.weight.dtype)
    return linear


def _linear_always_bias(conv):
    linear = torch.nn.Linear(conv.in_channels, conv.out_channels, dtype=conv.weight.dtype)
    with torch.no_grad():
        linear.weight.copy_(conv.weight[:, :, 0, 0])
    return linear


def test_conv_to_linear():
    assert chapter1.check_conv_to_linear(_linear_copy) is None
    with pytest.raises(ExerciseFailed, match="copy the weights"):
        chapter1.check_conv_to_linear(_linear_shared)
    with pytest.raises(ExerciseFailed, match="maps 3 to 5 features, expected 5 to 3"):
        chapter1.check_conv_to_linear(_linear_transposed)
    with pytest.raises(ExerciseFailed, match="right shape but wrong values"):
        chapter1.check_conv_to_linear(_linear_always_bias)
