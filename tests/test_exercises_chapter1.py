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
    return F.conv2d(x, weight[:, :, None, None], bias)


def _height_width_swapped(x, weight, bias):
    n, c, h, w = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(-1, c)
    return (rows @ weight.T + bias).reshape(n, w, h, -1).permute(0, 3, 1, 2)


def _no_bias(x, weight, bias):
    return F.conv2d(x, weight[:, :, None, None])


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
