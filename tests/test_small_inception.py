"""The small Inception network for digits: shapes, size, cost and that it can learn."""

import pytest
import torch
from torch import nn

from onebyone.cost import count_parameters, model_macs
from onebyone.inception import Inception
from onebyone.small_inception import SmallInceptionNet


def test_shapes_stage_by_stage():
    torch.manual_seed(0)
    model = SmallInceptionNet().eval()
    x = torch.rand(5, 1, 8, 8)
    x = model.stem(x)
    assert x.shape == (5, 32, 8, 8)
    x = model.inception1(x)
    assert x.shape == (5, 56, 8, 8)
    x = model.maxpool(x)
    assert x.shape == (5, 56, 4, 4)
    x = model.inception2(x)
    assert x.shape == (5, 88, 4, 4)
    assert model(torch.rand(5, 1, 8, 8)).shape == (5, 10)
    assert isinstance(model.inception1, Inception) and isinstance(model.inception2, Inception)


def test_parameters_and_macs_by_hand():
    def conv(c_in, c_out, k):
        return c_in * c_out * k * k

    def module(c_in, ch1, ch3r, ch3, ch5r, ch5, proj):
        return (
            conv(c_in, ch1, 1)
            + conv(c_in, ch3r, 1)
            + conv(ch3r, ch3, 3)
            + conv(c_in, ch5r, 1)
            + conv(ch5r, ch5, 5)
            + conv(c_in, proj, 1)
        )

    weights_1, weights_2 = module(32, 16, 16, 24, 4, 8, 8), module(56, 24, 24, 32, 8, 16, 16)
    biases = 32 + (16 + 16 + 24 + 4 + 8 + 8) + (24 + 24 + 32 + 8 + 16 + 16) + 10
    model = SmallInceptionNet()
    assert count_parameters(model) == conv(1, 32, 3) + weights_1 + weights_2 + 88 * 10 + biases
    macs = conv(1, 32, 3) * 64 + weights_1 * 64 + weights_2 * 16 + 88 * 10
    assert model_macs(model, (1, 1, 8, 8)) == macs


def test_initialisation_is_seeded_and_biases_start_at_zero():
    torch.manual_seed(3)
    first = SmallInceptionNet()
    torch.manual_seed(3)
    second = SmallInceptionNet()
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)
    assert all(m.bias.abs().sum() == 0 for m in first.modules() if isinstance(m, nn.Conv2d))


def test_learns_a_small_batch():
    """A few steps of Adam on 64 random 'digits' drive the training loss down."""
    torch.manual_seed(0)
    model = SmallInceptionNet(dropout=0.0)
    images, labels = torch.rand(64, 1, 8, 8), torch.randint(0, 10, (64,))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        loss = nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_bad_dropout_is_refused():
    with pytest.raises(ValueError, match=r"dropout must be a probability in \[0, 1\)"):
        SmallInceptionNet(dropout=1.5)


def test_a_wrong_input_is_refused_by_the_network_by_name():
    expected = r"^SmallInceptionNet: x must be N x 1 x H x W, got 2 x 3 x 8 x 8$"
    with pytest.raises(ValueError, match=expected):
        SmallInceptionNet()(torch.rand(2, 3, 8, 8))
