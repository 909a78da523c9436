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
