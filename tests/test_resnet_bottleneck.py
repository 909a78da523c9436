"""ResNet's bottleneck and basic block: shapes, weights, MACs against PyTorch's counters."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from onebyone.cost import model_macs
from onebyone.resnet_bottleneck import BasicBlock, Bottleneck, convolution_weights


def test_shapes_are_kept_by_both_blocks():
    x = torch.randn(2, 256, 8, 8)
    assert Bottleneck(256, 64)(x).shape == x.shape
    assert BasicBlock(256)(x).shape == x.shape


def test_weights_match_numel_and_the_papers_counts():
    bottleneck, basic = Bottleneck(256, 64), BasicBlock(256)
    assert convolution_weights(bottleneck) == 69_632
    assert convolution_weights(basic) == 1_179_648
    for block in (bottleneck, basic):
        convs = [m for m in block.modules() if isinstance(m, torch.nn.Conv2d)]
        assert all(conv.bias is None for conv in convs)
        assert convolution_weights(block) == sum(p.numel() for c in convs for p in c.parameters())


def test_macs_agree_with_flop_counter():
    shape = (1, 256, 14, 14)
    for block in (Bottleneck(256, 64), BasicBlock(256)):
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            block(torch.randn(shape))
        assert counter.get_total_flops() == 2 * model_macs(block, shape)
        assert model_macs(block, shape) == 14 * 14 * convolution_weights(block)


def test_bad_input_and_sizes_are_refused():
    with pytest.raises(ValueError, match="x must be N x 256 x H x W, got 1 x 64 x 8 x 8"):
        Bottleneck(256, 64)(torch.randn(1, 64, 8, 8))
    with pytest.raises(ValueError, match="positive"):
        Bottleneck(0, 64)
    with pytest.raises(ValueError, match="positive"):
        BasicBlock(-1)
