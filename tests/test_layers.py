"""The shared layer helpers: GoogLeNet's convolution + ReLU, and He initialisation."""

import math

import torch
from torch import nn

from onebyone.layers import conv_relu, init_he_normal


def test_conv_relu_is_a_convolution_then_an_in_place_relu():
    block = conv_relu(3, 5, 3, stride=2, padding=1)
    conv, relu = block
    assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (3, 5, (3, 3))
    assert (conv.stride, conv.padding) == ((2, 2), (1, 1))
    # In place: the ReLU overwrites the convolution's output instead of keeping a second copy.
    assert isinstance(relu, nn.ReLU) and relu.inplace is True
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(block(x), torch.relu(conv(x)))


def test_init_he_normal_draws_weights_with_variance_two_over_fan_in_and_zeroes_biases():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(64, 256, 3), nn.ReLU(), nn.Linear(512, 300))
    init_he_normal(model)
    conv, _, linear = model
    for layer, fan_in in ((conv, 64 * 3 * 3), (linear, 512)):
        std = layer.weight.std().item()
        assert math.isclose(std, math.sqrt(2 / fan_in), rel_tol=0.02), (std, fan_in)
        assert torch.count_nonzero(layer.bias).item() == 0
