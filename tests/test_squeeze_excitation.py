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
    with pytest.raises(
        ValueError, match=r"^SqueezeExcitation: x must be N x 32 x H x W, got 1 x 16 x 4 x 4$"
    ):
        SqueezeExcitation(32, 16)(torch.randn(1, 16, 4, 4))


def test_default_reduction_is_the_papers_16():
    with torch.device("meta"):
        se = SqueezeExcitation(64)
    assert tuple(se.fc1.weight.shape) == (64 // 16, 64, 1, 1)
    assert tuple(se.fc2.weight.shape) == (64, 64 // 16, 1, 1)
    weights = se_weights(256)
    assert weights == 2 * 256**2 // 16 and type(weights) is int  # a count of weights


@pytest.mark.parametrize(
    ("stage", "error", "message"),
    [
        (("conv2_x", 3), ValueError, r"^each of stages must be \(name, blocks, channels\), got "),
        ((2, 3, 256), ValueError, r"^each of stages must be \(name, blocks, channels\), got "),
        (7, ValueError, r"^each of stages must be \(name, blocks, channels\), got 7$"),
        (("conv2_x", 0, 256), ValueError, r"^blocks of stage 'conv2_x' must be a positive int"),
    ],
    ids=["two-entries", "unnamed", "not-a-triple", "no-blocks"],
)
def test_se_added_weights_refuses_a_bad_stage_by_name(stage, error, message):
    with pytest.raises(error, match=message):
        se_added_weights((stage,))
