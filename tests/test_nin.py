"""Tests for onebyone.nin: shapes, parameter counts by hand, the per-pixel MLP, and training."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from onebyone.cost import conv2d_output_size, count_parameters, model_macs
from onebyone.digits import load_digits_split
from onebyone.layers import init_he_normal
from onebyone.multiseed import DIGITS_SETTINGS
from onebyone.nin import (
    MlpConv,
    PlainCNN,
    SmallNiN,
    dead_class_maps,
    per_pixel_mlp,
)
from onebyone.runtime import seed_everything
from onebyone.training import train_classifier


def conv_parameters(c_in: int, c_out: int, k: int) -> int:
    """Weights and biases of a k x k convolution, by hand."""
    return c_out * c_in * k * k + c_out


def test_mlpconv_is_conv_relu_conv1x1_relu_conv1x1_relu():
    seed_everything(0)
    block = MlpConv(3, 5, 4, kernel_size=3, padding=1)
    x = torch.randn(2, 3, 6, 7)
    expected = F.relu(F.conv2d(x, block.conv.weight, block.conv.bias, padding=1))
    expected = F.relu(F.conv2d(expected, block.cccp1.weight, block.cccp1.bias))
    expected = F.relu(F.conv2d(expected, block.cccp2.weight, block.cccp2.bias))
    torch.testing.assert_close(block(x), expected)
    assert block(x).shape == (2, 4, 6, 7)
    assert count_parameters(block) == (
        conv_parameters(3, 5, 3) + conv_parameters(5, 5, 1) + conv_parameters(5, 4, 1)
    )


@settings(max_examples=30, deadline=None)
@given(
    channels=st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6)),
    kernel=st.integers(1, 4),
    padding=st.integers(0, 2),
    stride=st.integers(1, 3),
    extra=st.tuples(st.integers(0, 5), st.integers(0, 5)),
)
def test_mlpconv_shapes_and_parameters_for_any_size(channels, kernel, padding, stride, extra):
    c_in, hidden, c_out = channels
    height = max(1, kernel - 2 * padding) + extra[0]
    width = max(1, kernel - 2 * padding) + extra[1]
    block = MlpConv(c_in, hidden, c_out, kernel, padding=padding, stride=stride)
    output = block(torch.randn(2, c_in, height, width))
    expected_size = conv2d_output_size((height, width), kernel, stride, padding)
    assert output.shape == (2, c_out, *expected_size)
    assert output.min() >= 0  # the final ReLU
    assert count_parameters(block) == (
        conv_parameters(c_in, hidden, kernel) + conv_parameters(hidden, hidden, 1)
        + conv_parameters(hidden, c_out, 1)
    )  # fmt: skip


def test_mlpconv_without_final_relu_can_be_negative():
    seed_everything(0)
    block = MlpConv(3, 5, 4, kernel_size=1, final_relu=False)
    assert block(torch.randn(4, 3, 5, 5)).min() < 0


def test_mlpconv_stride_and_padding():
    block = MlpConv(2, 3, 3, kernel_size=3, padding=0, stride=2)
    assert block(torch.zeros(1, 2, 9, 9)).shape == (1, 3, 4, 4)


def test_mlpconv_defaults_are_no_padding_stride_1_and_a_final_relu():
    seed_everything(0)
    block = MlpConv(2, 3, 4, kernel_size=3)
    x = torch.randn(1, 2, 7, 6)
    expected = F.relu(F.conv2d(x, block.conv.weight, block.conv.bias))  # 1 x 3 x 5 x 4
    expected = F.relu(F.conv2d(expected, block.cccp1.weight, block.cccp1.bias))
    expected = F.relu(F.conv2d(expected, block.cccp2.weight, block.cccp2.bias))
    torch.testing.assert_close(block(x), expected)
    assert expected.shape == (1, 4, 5, 4)


@pytest.mark.parametrize("final_relu", [True, False])
def test_per_pixel_mlp_is_what_the_1x1_convolutions_compute(final_relu):
    seed_everything(0)
    block = MlpConv(3, 6, 4, kernel_size=3, padding=1, final_relu=final_relu)
    x = torch.randn(2, 3, 5, 5)
    features = F.relu(block.conv(x))  # N x 6 x 5 x 5
    mlp = per_pixel_mlp(block)
    assert all(isinstance(layer, (nn.Linear, nn.ReLU)) for layer in mlp)
    per_pixel = mlp(features.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # N x 4 x 5 x 5
    torch.testing.assert_close(per_pixel, block(x))
    # one pixel by hand: the MLP sees only that pixel's 6 channels
    pixel = features[1, :, 2, 3]
    torch.testing.assert_close(mlp(pixel), block(x)[1, :, 2, 3])


def test_small_nin_shapes_and_global_average_pooling_head():
    seed_everything(0)
    model = SmallNiN().eval()
    x = torch.randn(5, 1, 8, 8)
    class_maps = model.mlpconv3(
        model.pool2(model.mlpconv2(model.pool1(model.mlpconv1(x))))
    )  # dropout is off in eval mode
    assert class_maps.shape == (5, 10, 2, 2)
    torch.testing.assert_close(model(x), class_maps.mean(dim=(2, 3)))
    assert count_parameters(model.head) == 0
    assert not any(isinstance(m, nn.Linear) for m in model.modules())


def test_small_nin_parameters_by_hand():
    model = SmallNiN(channels=(8, 16, 12), kernel_size=3)
    expected = (
        conv_parameters(1, 8, 3) + 2 * conv_parameters(8, 8, 1)
        + conv_parameters(8, 16, 3) + 2 * conv_parameters(16, 16, 1)
        + conv_parameters(16, 12, 3) + conv_parameters(12, 12, 1) + conv_parameters(12, 10, 1)
    )  # fmt: skip
    assert count_parameters(model) == expected


def test_a_5x5_kernel_is_padded_by_2_and_keeps_the_sizes():
    """kernel_size // 2 = 2 pixels of padding: the same maps as with 3x3 kernels."""
    seed_everything(0)
    nin_model = SmallNiN(channels=(2, 3, 2), kernel_size=5).eval()
    x = torch.randn(2, 1, 8, 8)
    class_maps = nin_model.mlpconv3(nin_model.pool2(nin_model.mlpconv2(nin_model.pool1(
        nin_model.mlpconv1(x)))))  # fmt: skip
    assert class_maps.shape == (2, 10, 2, 2)
    torch.testing.assert_close(nin_model(x), class_maps.mean(dim=(2, 3)))
    cnn = PlainCNN(channels=(2, 3, 2), hidden_features=5, image_size=16, kernel_size=5).eval()
    assert cnn(torch.randn(2, 1, 16, 16)).shape == (2, 10)
    # 16 x 16 -> pool -> 8 x 8 -> pool -> 4 x 4: 2 maps of 4 x 4 flattened
    assert count_parameters(cnn.head) == (2 * 4 * 4) * 5 + 5 + 5 * 10 + 10


def test_plain_cnn_flattens_image_size_over_4_squared_pixels_per_map():
    cnn = PlainCNN(channels=(2, 2, 3), hidden_features=4, image_size=4).eval()
    assert cnn(torch.randn(1, 1, 4, 4)).shape == (1, 10)
    assert cnn.head[1].in_features == 3 * 1 * 1  # 4 x 4 -> 2 x 2 -> 1 x 1


def test_plain_cnn_head_is_a_hidden_layer_with_relu_then_dropout():
    seed_everything(0)
    cnn = PlainCNN(channels=(2, 2, 3), hidden_features=6, dropout=0.5)
    features = torch.randn(4, 3, 2, 2)  # N x 3 x 2 x 2, what conv3 gives for 8 x 8 images
    hidden, classifier = (m for m in cnn.head if isinstance(m, nn.Linear))
    expected = classifier(F.relu(hidden(features.flatten(1))))  # N x 10
    torch.testing.assert_close(cnn.head.eval()(features), expected)
    cnn.head.train()
    assert not torch.equal(cnn.head(features), cnn.head(features))  # two dropout masks


def test_plain_cnn_defaults_by_hand():
    """Three 3x3 convolutions of 32 channels on 8 x 8 digits, a 64-unit hidden layer, 10 classes."""
    body = conv_parameters(1, 32, 3) + 2 * conv_parameters(32, 32, 3)
    head = (32 * 2 * 2) * 64 + 64 + 64 * 10 + 10
    assert count_parameters(PlainCNN()) == body + head


def test_plain_cnn_shapes_and_fully_connected_head():
    model = PlainCNN(channels=(8, 16, 12), hidden_features=20).eval()
    assert model(torch.randn(3, 1, 8, 8)).shape == (3, 10)
    assert count_parameters(model.head) == (12 * 2 * 2) * 20 + 20 + 20 * 10 + 10
    expected_body = (
        conv_parameters(1, 8, 3) + conv_parameters(8, 16, 3) + conv_parameters(16, 12, 3)
    )
    assert count_parameters(model) == expected_body + count_parameters(model.head)


@pytest.mark.parametrize("model", [SmallNiN(), PlainCNN()], ids=["nin", "cnn"])
def test_macs_match_flop_counter(model):
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.eval()(torch.randn(2, 1, 8, 8))
    assert 2 * model_macs(model, (2, 1, 8, 8)) == counter.get_total_flops()


def test_he_initialisation():
    seed_everything(0)
    model = nn.Sequential(nn.Conv2d(64, 256, 3), nn.Linear(400, 300))
    init_he_normal(model)
    for layer, fan_in in ((model[0], 64 * 9), (model[1], 400)):
        assert torch.all(layer.bias == 0)
        assert layer.weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.05)


def test_models_are_seeded():
    seed_everything(3)
    first = SmallNiN()
    seed_everything(3)
    second = SmallNiN()
    assert all(
        torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters(), strict=True)
    )


def test_small_nin_learns_the_digits():
    """At the chapters' shared settings (one seed): at least 95% test accuracy."""
    shared = DIGITS_SETTINGS
    seed_everything(0)
    model = SmallNiN()
    split = load_digits_split(shared.test_fraction, 0, shared.validation_fraction)
    history = train_classifier(
        model, split, epochs=shared.max_epochs, learning_rate=shared.learning_rate,
        batch_size=shared.batch_size, device="cpu", progress=False,
    )  # fmt: skip
    assert history.final_test_accuracy >= 0.95


def test_dead_class_maps_finds_a_class_that_scores_zero_everywhere():
    seed_everything(0)
    model = SmallNiN(relu_on_class_maps=True)
    images = torch.rand(32, 1, 8, 8)
    model.train()
    assert dead_class_maps(model, images) == []  # a fresh He-initialised model: all alive
    assert model.training  # the mode is restored
    with torch.no_grad():
        model.mlpconv3.cccp2.bias[[2, 7]] = -100.0
    assert dead_class_maps(model, images) == [2, 7]
    without_relu = SmallNiN()
    with torch.no_grad():
        without_relu.mlpconv3.cccp2.bias[2] = -100.0
    assert dead_class_maps(without_relu, images) == []  # negative, not zero: still learnable


def test_wrong_inputs_are_refused_by_the_layer_that_got_them():
    with pytest.raises(ValueError, match=r"^MlpConv: x must be N x 3 x H x W, got 1 x 2 x 5 x 5$"):
        MlpConv(3, 4, 5, kernel_size=3)(torch.zeros(1, 2, 5, 5))
    with pytest.raises(ValueError, match=r"^SmallNiN: x must be N x 1 x H x W, got 1 x 3 x 8 x 8$"):
        SmallNiN(channels=(2, 2, 2))(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"^PlainCNN: x must be N x 1 x 8 x 8, got 1 x 1 x 9 x 9$"):
        PlainCNN(channels=(2, 2, 2))(torch.zeros(1, 1, 9, 9))


def test_bad_inputs():
    with pytest.raises(ValueError, match="hidden_channels must be a positive integer"):
        MlpConv(3, 0, 4, kernel_size=3)
    with pytest.raises(TypeError, match="block must be an instance of MlpConv"):
        per_pixel_mlp(nn.Conv2d(3, 4, 1))
    with pytest.raises(TypeError, match=r"^model must be an instance of SmallNiN, got PlainCNN"):
        dead_class_maps(PlainCNN(channels=(2, 2, 2)), torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="three channel widths"):
        SmallNiN(channels=(8, 8))
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        SmallNiN(kernel_size=2)
    with pytest.raises(ValueError, match=r"dropout must be a probability in \[0, 1\)"):
        PlainCNN(dropout=1.0)
    with pytest.raises(ValueError, match="multiple of 4"):
        PlainCNN(image_size=6)
