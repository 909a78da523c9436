"""Folding batch normalisation into a convolution: equal to the pair in eval mode only."""

import pytest
import torch
from torch import nn

from onebyone.batchnorm_fold import fold_batchnorm


def _pair(bias: bool, kernel_size: int = 1):
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 6, kernel_size, padding=kernel_size // 2, bias=bias)
    bn = nn.BatchNorm2d(6)
    with torch.no_grad():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.normal_()
        bn.bias.normal_()
    return conv, bn.eval()


@pytest.mark.parametrize(("bias", "kernel_size"), [(False, 1), (True, 1), (True, 3)])
def test_fold_equals_the_pair_in_eval_mode(bias, kernel_size):
    conv, bn = _pair(bias, kernel_size)
    folded = fold_batchnorm(conv, bn)
    x = torch.randn(2, 8, 5, 5)
    with torch.no_grad():
        assert torch.allclose(folded(x), bn(conv(x)), atol=1e-5)
        bn.train()
        assert not torch.allclose(folded(x), bn(conv(x)), atol=1e-3)


def test_fold_leaves_the_originals_alone_and_refuses_mismatches():
    conv, bn = _pair(bias=False)
    before = conv.weight.clone()
    fold_batchnorm(conv, bn)
    assert torch.equal(conv.weight, before) and conv.bias is None
    with pytest.raises(ValueError, match="running statistics"):
        fold_batchnorm(conv, nn.BatchNorm2d(5))
    with pytest.raises(TypeError):
        fold_batchnorm(conv, nn.LayerNorm(6))


def test_fold_refuses_a_layer_that_is_not_a_conv2d():
    _, bn = _pair(bias=False)
    linear = nn.Linear(8, 6)  # has out_channels' worth of weights but is not a convolution
    with pytest.raises(TypeError, match="conv must be an instance of Conv2d"):
        fold_batchnorm(linear, bn)


def test_fold_keeps_every_hyperparameter_of_the_convolution():
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2, bias=False,
                      padding_mode="reflect", dtype=torch.float64)
    bn = nn.BatchNorm2d(6, dtype=torch.float64)
    with torch.no_grad():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
    bn.eval()
    folded = fold_batchnorm(conv, bn)
    for name in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
                 "groups", "padding_mode"):
        assert getattr(folded, name) == getattr(conv, name), name
    assert folded.weight.dtype == torch.float64 and folded.bias is not None
    x = torch.randn(2, 4, 9, 9, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(folded(x), bn(conv(x)), atol=1e-12)


def test_fold_without_affine_parameters_is_the_normalisation_alone():
    conv, _ = _pair(bias=True)
    bn = nn.BatchNorm2d(6, affine=False)  # no gamma, no beta: scale 1 / sqrt(var + eps), shift 0
    with torch.no_grad():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
    bn.eval()
    folded = fold_batchnorm(conv, bn)
    x = torch.randn(2, 8, 5, 5)
    with torch.no_grad():
        assert torch.allclose(folded(x), bn(conv(x)), atol=1e-5)


def test_fold_stays_on_the_device_of_the_convolution():
    conv = nn.Conv2d(8, 6, 1, device="meta")
    bn = nn.BatchNorm2d(6, device="meta").eval()
    folded = fold_batchnorm(conv, bn)
    assert folded.weight.device.type == "meta" and folded.bias.device.type == "meta"
