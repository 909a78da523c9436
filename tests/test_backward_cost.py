"""The backward pass of a 1x1 convolution: two more products, checked with FlopCounterMode."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from onebyone.backward_cost import pointwise_training_macs, saved_activation_bytes
from onebyone.resnet_bottleneck import BasicBlock, Bottleneck


@pytest.mark.parametrize("input_requires_grad", [True, False])
def test_training_macs_agree_with_flop_counter(input_requires_grad):
    layer = nn.Conv2d(32, 16, kernel_size=1, bias=False)
    x = torch.randn(2, 32, 7, 7, requires_grad=input_requires_grad)
    with FlopCounterMode(display=False) as counter:
        layer(x).sum().backward()
    macs = pointwise_training_macs(2, 32, 16, 7, 7, input_requires_grad)
    assert counter.get_total_flops() == 2 * sum(macs.values())
    assert (macs["grad_input"] == macs["forward"]) == input_requires_grad


def test_saved_activations_count_inputs_and_exclude_weights():
    layer = nn.Conv2d(16, 16, kernel_size=1, bias=False)
    saved = saved_activation_bytes(layer, (1, 16, 8, 8))
    assert saved == 16 * 8 * 8 * 4  # only the input; the weight is a parameter
    assert layer.training  # the mode is restored
    assert saved_activation_bytes(Bottleneck(64, 16), (1, 64, 8, 8)) < saved_activation_bytes(
        BasicBlock(64), (1, 64, 8, 8))
