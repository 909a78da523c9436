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


def test_saved_activations_treat_the_input_as_a_layer_inside_a_network():
    # A ReLU saves its output for the backward pass only when its input needs a gradient, as the
    # input of every layer after the first does.
    assert saved_activation_bytes(nn.ReLU(), (2, 3, 4, 4)) == 2 * 3 * 4 * 4 * 4


def test_saved_activations_draw_no_random_numbers():
    layer = nn.Conv2d(4, 4, 1)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    saved_activation_bytes(layer, (1, 4, 2, 2))
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("argument", range(5))
def test_training_macs_name_the_bad_argument(argument):
    names = ("batch_size", "in_channels", "out_channels", "height", "width")
    arguments = [2, 32, 16, 7, 7]
    arguments[argument] = 0
    with pytest.raises(ValueError, match=names[argument]):
        pointwise_training_macs(*arguments)


def test_a_trained_models_statistics_and_eval_output_do_not_move():
    # issue 23: run in training mode on the model itself, the call moved running_mean and
    # running_var, and the model's eval output afterwards differed
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5))
    model(torch.randn(8, 3, 4, 4) * 3 + 1)  # training-mode statistics far from the defaults
    model.eval()
    x = torch.randn(2, 3, 4, 4)
    before, statistics = model(x), {k: v.clone() for k, v in model.state_dict().items()}
    saved_activation_bytes(model, (2, 3, 4, 4))
    assert not model.training
    assert all(torch.equal(statistics[k], v) for k, v in model.state_dict().items())
    assert torch.equal(model(x), before)


def test_dropout_draws_from_a_forked_generator_and_a_float64_model_is_measured_in_float64():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))  # built first: it draws weights
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    saved = saved_activation_bytes(model, (2, 4))
    assert torch.equal(torch.rand(3), expected)  # the global generator did not move
    assert saved > 0
    single = saved_activation_bytes(nn.Conv2d(4, 4, 1), (1, 4, 2, 2))
    assert saved_activation_bytes(nn.Conv2d(4, 4, 1).double(), (1, 4, 2, 2)) == 2 * single
