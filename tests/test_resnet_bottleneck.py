"""ResNet's bottleneck and basic block: shapes, weights, MACs against PyTorch's counters."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
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
    expected = r"^Bottleneck: x must be N x 256 x H x W, got 1 x 64 x 8 x 8$"
    with pytest.raises(ValueError, match=expected):
        Bottleneck(256, 64)(torch.randn(1, 64, 8, 8))
    expected = r"^BasicBlock: x must be N x 8 x H x W, got 1 x 4 x 3 x 3$"
    with pytest.raises(ValueError, match=expected):
        BasicBlock(8)(torch.randn(1, 4, 3, 3))
    with pytest.raises(ValueError, match="positive"):
        Bottleneck(0, 64)
    with pytest.raises(ValueError, match="positive"):
        BasicBlock(-1)


def _conv_bn(x, conv, bn, padding=0):
    """A convolution without bias, then batch normalisation with running statistics, by hand."""
    y = F.conv2d(x, conv.weight, padding=padding)
    return F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, eps=bn.eps)


def _with_random_batch_norms(block):
    with torch.no_grad():
        for bn in (m for m in block.modules() if isinstance(m, nn.BatchNorm2d)):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 1.5)
    return block.eval()


def test_bottleneck_is_figure_5_right_written_out():
    """1x1, BN, ReLU, 3x3, BN, ReLU, 1x1, BN, plus the identity, ReLU."""
    torch.manual_seed(0)
    block = _with_random_batch_norms(Bottleneck(8, 2))
    x = torch.randn(2, 8, 5, 5)
    out = F.relu(_conv_bn(x, block.conv1, block.bn1))  # 2 x 2 x 5 x 5
    out = F.relu(_conv_bn(out, block.conv2, block.bn2, padding=1))  # 2 x 2 x 5 x 5
    out = _conv_bn(out, block.conv3, block.bn3)  # 2 x 8 x 5 x 5
    torch.testing.assert_close(block(x), F.relu(out + x))


def test_basic_block_is_figure_5_left_written_out():
    """3x3, BN, ReLU, 3x3, BN, plus the identity, ReLU."""
    torch.manual_seed(0)
    block = _with_random_batch_norms(BasicBlock(4))
    x = torch.randn(2, 4, 5, 5)
    out = F.relu(_conv_bn(x, block.conv1, block.bn1, padding=1))
    out = _conv_bn(out, block.conv2, block.bn2, padding=1)
    torch.testing.assert_close(block(x), F.relu(out + x))


def test_default_sizes_are_those_of_the_papers_figure_5():
    """Bottleneck: 256-d in and out, 64 channels inside; basic block: 256 channels."""
    with torch.device("meta"):
        bottleneck, basic = Bottleneck(), BasicBlock()

    def shapes(block):
        return [tuple(m.weight.shape) for m in block.modules() if isinstance(m, nn.Conv2d)]

    assert shapes(bottleneck) == [(64, 256, 1, 1), (64, 64, 3, 3), (256, 64, 1, 1)]
    assert shapes(basic) == [(256, 256, 3, 3), (256, 256, 3, 3)]
