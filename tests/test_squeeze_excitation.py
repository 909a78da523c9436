"""Squeeze-and-excitation: the 1x1 convolutions are fully connected layers; the weight count."""

import pytest
import torch

from onebyone.cost import count_parameters
from onebyone.pointwise import conv1x1_to_linear
from onebyone.squeeze_excitation import (
    RESNET50_STAGES,
    SqueezeExcitation,
    se_added_weights,
    se_weights,
)


def test_block_equals_linear_layers_on_the_pooled_vector():
    torch.manual_seed(0)
    se = SqueezeExcitation(64, reduction=16)
    x = torch.randn(3, 64, 7, 7)
    fc1, fc2 = conv1x1_to_linear(se.fc1), conv1x1_to_linear(se.fc2)
    scales = torch.sigmoid(fc2(torch.relu(fc1(x.mean(dim=(2, 3))))))
    with torch.no_grad():
        assert torch.allclose(se(x), x * scales[:, :, None, None], atol=1e-6)


def test_weight_counts_against_numel():
    se = SqueezeExcitation(256, reduction=16)
    weights = se.fc1.weight.numel() + se.fc2.weight.numel()
    assert se_weights(256, 16) == weights
    assert count_parameters(se) == weights + 16 + 256  # biases
    added = se_added_weights()
    assert sum(added.values()) == 2 * sum(n * c * c for _, n, c in RESNET50_STAGES) // 16
    assert round(sum(added.values()) / 1e6, 1) == 2.5


def test_bad_reduction_is_refused():
    with pytest.raises(ValueError, match="must divide"):
        SqueezeExcitation(100, reduction=16)
    with pytest.raises(ValueError, match="must divide"):
        se_weights(100, 16)
    with pytest.raises(ValueError, match="x must be N x 32 x H x W"):
        SqueezeExcitation(32, 16)(torch.randn(1, 16, 4, 4))
