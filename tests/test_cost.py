"""Tests for onebyone.cost against independent references.

The references are the hand formulas written out again here, PyTorch's own modules (real output
shapes, ``numel`` of real parameters), and ``torch.utils.flop_counter.FlopCounterMode``, which
counts FLOPs (2 x MACs) on a real forward pass.
"""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from onebyone.cost import (
    conv2d_macs,
    conv2d_output_size,
    conv2d_parameters,
    count_model,
    count_parameters,
    floating_dtype,
    linear_macs,
    model_macs,
)

FAST = settings(max_examples=40, deadline=None)


def flop_counter_flops(model: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one real forward pass, as counted by PyTorch."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return counter.get_total_flops()


@st.composite
def conv_layers(draw):
    """A random valid Conv2d (kernel, stride, padding, dilation, groups, bias) and its input."""
    groups = draw(st.integers(1, 3))
    in_channels = groups * draw(st.integers(1, 4))
    out_channels = groups * draw(st.integers(1, 4))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    bias = draw(st.booleans())
    # the smallest input the dilated kernel fits in, plus some room
    height = max(1, dilation[0] * (kernel[0] - 1) + 1 - 2 * padding[0]) + draw(st.integers(0, 6))
    width = max(1, dilation[1] * (kernel[1] - 1) + 1 - 2 * padding[1]) + draw(st.integers(0, 6))
    batch = draw(st.integers(1, 3))
    conv = nn.Conv2d(
        in_channels, out_channels, kernel, stride, padding, dilation, groups=groups, bias=bias
    )
    return conv, (batch, in_channels, height, width)


# --- hand formulas -------------------------------------------------------------------------


def test_output_size_by_hand():
    # 28 x 28, 5 x 5 kernel, padding 2 keeps the size; stride 2 halves it (rounded up)
    assert conv2d_output_size(28, 5, padding=2) == (28, 28)
    assert conv2d_output_size(28, 3, stride=2, padding=1) == (14, 14)
    # 7 x 9, kernel 3 dilated by 2 spans 5 pixels: 7 - 5 + 1 = 3 and 9 - 5 + 1 = 5
    assert conv2d_output_size((7, 9), 3, dilation=2) == (3, 5)
    # 224 x 224, 7 x 7 stride 2 padding 3 (ResNet's stem): floor((224 + 6 - 7) / 2) + 1 = 112
    assert conv2d_output_size(224, 7, stride=2, padding=3) == (112, 112)


def test_parameters_by_hand():
    assert conv2d_parameters(192, 32, 5) == 32 * 192 * 5 * 5 + 32
    assert conv2d_parameters(192, 32, 5, bias=False) == 32 * 192 * 25
    assert conv2d_parameters(192, 16, 1) == 192 * 16 + 16
    # depthwise 3 x 3 on 32 channels: one 3 x 3 filter per channel
    assert conv2d_parameters(32, 32, 3, groups=32, bias=False) == 32 * 9
    assert conv2d_parameters(8, 4, (1, 3), groups=2) == 4 * (8 // 2) * 3 + 4
    # a count is an int, also when groups divide the channels
    assert all(type(count) is int for count in (conv2d_parameters(8, 4, 3, groups=2),
                                                conv2d_output_size(9, 3, stride=2)[0],
                                                conv2d_macs(8, 4, 3, 5, groups=2)))
    model = nn.Sequential(nn.Conv2d(4, 2, 1, groups=2), nn.Flatten(), nn.Linear(18, 3))
    assert all(type(cost.macs) is int for cost in count_model(model, (2, 4, 3, 3)))


def test_macs_by_hand_classic_bottleneck():
    # GoogLeNet's example: 28 x 28 x 192 -> 5 x 5 -> 32, directly or through 16 channels
    assert conv2d_macs(192, 32, 5, 28) == 28 * 28 * 32 * 192 * 25 == 120_422_400
    assert conv2d_macs(192, 16, 1, 28) == 28 * 28 * 16 * 192 == 2_408_448
    assert conv2d_macs(16, 32, 5, 28) == 28 * 28 * 32 * 16 * 25 == 10_035_200


def test_macs_by_hand_groups_batch_rectangles():
    assert conv2d_macs(32, 32, 3, (10, 20), groups=32) == 10 * 20 * 32 * 1 * 9
    assert conv2d_macs(6, 4, (3, 1), (5, 7), groups=2, batch_size=3) == 3 * 4 * 5 * 7 * 3 * 3
    assert linear_macs(256, 10) == 2560
    assert linear_macs(256, 10, rows=7) == 7 * 2560


def test_macs_by_counting_the_products_of_a_small_convolution():
    # enumerate every (output, input channel, kernel tap) product of a tiny convolution
    in_channels, out_channels, kernel, height, width = 2, 3, 2, 4, 5
    h_out, w_out = conv2d_output_size((height, width), kernel)
    products = sum(
        1
        for _o in range(out_channels)
        for _i in range(h_out)
        for _j in range(w_out)
        for _c in range(in_channels)
        for _ki in range(kernel)
        for _kj in range(kernel)
    )
    assert conv2d_macs(in_channels, out_channels, kernel, (h_out, w_out)) == products


# --- against PyTorch ------------------------------------------------------------------------


@FAST
@given(conv_layers())
def test_output_size_matches_pytorch(layer):
    conv, input_shape = layer
    output = conv(torch.zeros(input_shape))
    expected = tuple(output.shape[-2:])
    size = conv2d_output_size(
        input_shape[-2:], conv.kernel_size, conv.stride, conv.padding, conv.dilation
    )
    assert size == expected


@FAST
@given(conv_layers())
def test_conv_parameters_match_pytorch(layer):
    conv, _ = layer
    expected = sum(p.numel() for p in conv.parameters())
    counted = conv2d_parameters(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        groups=conv.groups,
        bias=conv.bias is not None,
    )
    assert counted == expected
    assert count_parameters(conv) == expected


@FAST
@given(conv_layers())
def test_conv_macs_match_flop_counter(layer):
    conv, input_shape = layer
    flops = flop_counter_flops(conv, torch.randn(input_shape))
    (cost,) = count_model(conv, input_shape)
    assert 2 * cost.macs == flops
    assert cost.kind == "Conv2d"
    assert cost.parameters == sum(p.numel() for p in conv.parameters())
    assert cost.output_shape == tuple(conv(torch.zeros(input_shape)).shape)


@FAST
@given(
    in_features=st.integers(1, 40),
    out_features=st.integers(1, 40),
    leading=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    bias=st.booleans(),
)
def test_linear_macs_match_flop_counter(in_features, out_features, leading, bias):
    linear = nn.Linear(in_features, out_features, bias=bias)
    input_shape = (*leading, in_features)
    flops = flop_counter_flops(linear, torch.randn(input_shape))
    (cost,) = count_model(linear, input_shape)
    assert 2 * cost.macs == flops
    assert cost.parameters == in_features * out_features + (out_features if bias else 0)


@pytest.mark.parametrize(
    ("module", "input_shape"),
    [
        (nn.Linear(5, 3), (5,)),  # a single vector, no batch axis
        (nn.Conv2d(2, 4, 3), (2, 6, 6)),  # an unbatched C x H x W image
        (nn.Conv2d(2, 4, 3, padding="same"), (1, 2, 6, 6)),
        (nn.Conv2d(2, 4, 3, padding="same", dilation=2), (1, 2, 6, 7)),
    ],
)
def test_unbatched_inputs_and_same_padding_match_flop_counter(module, input_shape):
    flops = flop_counter_flops(module, torch.randn(input_shape))
    assert 2 * model_macs(module, input_shape) == flops


def _small_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 4, 1),
        nn.ReLU(),
        nn.Conv2d(4, 6, 3, stride=2, groups=2, bias=False),
        nn.Flatten(),
        nn.Linear(6 * 3 * 3, 5),
    )


def test_count_model_whole_network_matches_flop_counter_and_shapes():
    model = _small_cnn()
    x = torch.randn(2, 3, 14, 14)
    real_shapes = []
    hooks = [
        module.register_forward_hook(lambda m, args, out: real_shapes.append(tuple(out.shape)))
        for module in model
        if isinstance(module, (nn.Conv2d, nn.Linear))
    ]
    flops = flop_counter_flops(model, x)
    for hook in hooks:
        hook.remove()
    costs = count_model(model, tuple(x.shape))
    assert [c.name for c in costs] == ["0", "3", "5", "7"]
    assert [c.output_shape for c in costs] == real_shapes
    assert 2 * model_macs(model, tuple(x.shape)) == flops
    assert sum(c.parameters for c in costs) == sum(p.numel() for p in model.parameters())


def test_count_model_leaves_the_model_alone():
    model = _small_cnn()
    before = [p.detach().clone() for p in model.parameters()]
    count_model(model, (1, 3, 14, 14))
    for old, new in zip(before, model.parameters(), strict=True):
        assert new.device.type == "cpu"
        assert torch.equal(old, new)


def test_a_layer_called_twice_is_counted_twice():
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(self.conv(x))

    model = Twice()
    costs = count_model(model, (1, 4, 5, 5))
    assert [c.name for c in costs] == ["conv", "conv"]
    assert 2 * model_macs(model, (1, 4, 5, 5)) == flop_counter_flops(model, torch.randn(1, 4, 5, 5))


def test_count_parameters_matches_numel_and_trainable_only():
    model = _small_cnn()
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())
    model[0].weight.requires_grad_(False)
    frozen = model[0].weight.numel()
    assert count_parameters(model, trainable_only=True) == count_parameters(model) - frozen


# --- bad inputs -----------------------------------------------------------------------------


def test_lazy_layers_are_refused():
    with pytest.raises(ValueError, match="lazy"):
        count_parameters(nn.Sequential(nn.LazyConv2d(8, 3)))
    with pytest.raises(ValueError, match="lazy"):
        count_parameters(nn.LazyLinear(4))


def test_kernel_that_does_not_fit():
    with pytest.raises(ValueError, match="does not fit"):
        conv2d_output_size(4, 5)
    with pytest.raises(ValueError, match="does not fit"):
        conv2d_output_size((8, 3), 3, dilation=2)


def test_groups_must_divide_channels():
    with pytest.raises(ValueError, match="groups=3 must divide"):
        conv2d_parameters(8, 6, 3, groups=3)
    with pytest.raises(ValueError, match="groups=4 must divide"):
        conv2d_macs(8, 6, 3, 10, groups=4)


def test_pairs_must_be_pairs():
    with pytest.raises(ValueError, match="pair of ints"):
        conv2d_output_size((8, 8, 8), 3)


def test_a_bad_kernel_is_named_by_every_cost_function():
    with pytest.raises(ValueError, match=r"^kernel_size must be at least 1 on each axis, got 0$"):
        conv2d_parameters(3, 4, 0)
    with pytest.raises(TypeError, match=r"^kernel_size must be an integer or a pair of ints, "
                                        r"got 3\.0$"):
        conv2d_parameters(3, 4, 3.0)
    with pytest.raises(ValueError, match=r"^kernel_size must be at least 1 on each axis, "
                                         r"got \(3, 0\)$"):
        conv2d_macs(3, 4, (3, 0), 8)
    with pytest.raises(ValueError, match=r"^output_size must be at least 1 on each axis, "
                                         r"got \(8, -2\)$"):
        conv2d_macs(3, 4, 3, (8, -2))
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer, got 0$"):
        conv2d_macs(3, 4, 3, 8, batch_size=0)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"input_size": 0}, r"input_size must be at least 1 on each axis, got 0"),
        ({"kernel_size": (3, -1)}, r"kernel_size must be at least 1 on each axis, got \(3, -1\)"),
        ({"stride": 0}, r"stride must be at least 1 on each axis, got 0"),
        ({"padding": -1}, r"padding must be at least 0 on each axis, got -1"),
        ({"dilation": (1, 0)}, r"dilation must be at least 1 on each axis, got \(1, 0\)"),
    ],
)
def test_output_size_names_the_bad_argument_exactly(arguments, message):
    with pytest.raises(ValueError, match=rf"^{message}$"):
        conv2d_output_size(**{"input_size": 8, "kernel_size": 3, **arguments})


def test_a_bias_that_is_not_a_bool_is_named():
    with pytest.raises(TypeError, match=r"^bias must be True or False, got 'no'$"):
        conv2d_parameters(3, 4, 1, bias="no")


def test_count_model_refusals_say_which_layer_and_why():
    with pytest.raises(ValueError, match=re.escape(
        "layer '(the model itself)' (Conv1d) cannot be counted: count_model counts nn.Conv2d "
        "and nn.Linear layers only, and would silently leave this one out"
    )):
        count_model(nn.Conv1d(3, 4, 1), (1, 3, 5))
    # the lazy layer is named, not the Sequential holding it
    with pytest.raises(ValueError, match="^" + re.escape(
        "layer '1' (LazyConv2d) is lazy (uninitialised parameters): run one forward pass first, "
        "or build it with explicit sizes"
    ) + "$"):
        count_model(nn.Sequential(nn.ReLU(), nn.LazyConv2d(4, 1)), (1, 3, 5, 5))


def test_count_model_names_the_expected_shape_of_an_unbatched_input():
    with pytest.raises(ValueError, match="^" + re.escape(
        "layer '0' (Conv2d) of a model given input_shape (5, 4, 4): its input must be "
        "3 x H x W, got 5 x 4 x 4"
    ) + "$"):
        count_model(nn.Sequential(nn.Conv2d(3, 4, 1)), (5, 4, 4))


def test_count_model_names_the_model_itself_when_it_is_the_layer():
    with pytest.raises(ValueError, match="^" + re.escape(
        "layer '(the model itself)' (Conv2d) of a model given input_shape (1, 5, 4, 4): its "
        "input must be N x 3 x H x W, got 1 x 5 x 4 x 4"
    ) + "$"):
        count_model(nn.Conv2d(3, 4, 1), (1, 5, 4, 4))


def test_count_model_says_which_model_cannot_run_and_prints_nothing(capsys):
    # 2 x 2 images pooled 5 x 5: PyTorch's RuntimeError becomes a ValueError naming the model
    with pytest.raises(ValueError, match=r"^Sequential cannot run on a float32 input of shape "
                                         r"\(1, 3, 4, 4\): \S"):
        count_model(nn.Sequential(nn.Conv2d(3, 4, 1), nn.MaxPool2d(5)), (1, 3, 4, 4))
    assert len(count_model(nn.Sequential(nn.Conv2d(3, 4, 1)), (1, 3, 4, 4))) == 1
    assert capsys.readouterr().out == ""  # FlopCounterMode's table is not displayed


def test_count_model_lists_the_operations_it_cannot_attribute():
    class FunctionalConv(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(4, 3, 1, 1))
            self.matrix = nn.Parameter(torch.randn(5, 2))

        def forward(self, x):  # 1 x 3 x 5 x 5 -> 1 x 4 x 5 x 5 -> 1 x 4 x 5 x 2
            return F.conv2d(x, self.weight) @ self.matrix

    # convolution: 4 x 3 weights x 25 pixels = 300 MACs; product: 20 rows x 5 x 2 = 200 MACs
    with pytest.raises(ValueError, match="^" + re.escape(
        "FunctionalConv's forward pass does 500 MACs (aten.convolution: 300, aten.mm: 200) but "
        "its Conv2d and Linear layers account for 0: it computes convolutions or products "
        "outside such layers (F.conv2d, a matmul in forward), which count_model cannot "
        "attribute to a layer"
    ) + "$"):
        count_model(FunctionalConv(), (1, 3, 5, 5))


def test_count_parameters_names_its_bad_arguments():
    with pytest.raises(TypeError, match=r"^module must be an instance of Module, got str: 'conv'$"):
        count_parameters("conv")
    with pytest.raises(TypeError, match=r"^trainable_only must be True or False, got 'yes'$"):
        count_parameters(nn.Linear(2, 2), trainable_only="yes")
    with pytest.raises(ValueError, match="^" + re.escape(
        "parameter 'weight' is lazy (uninitialised): run one forward pass first, or give the "
        "layer explicit sizes"
    ) + "$"):
        count_parameters(nn.LazyLinear(3))


def test_a_float64_or_bfloat16_model_is_counted_like_a_float32_one():
    # issue 23: a float64 model was refused with a message that blamed the input's shape
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.LazyLinear(2))
    model(torch.zeros(1, 3, 6, 6))
    expected = model_macs(model, (2, 3, 6, 6))
    assert model_macs(model.double(), (2, 3, 6, 6)) == expected
    assert model_macs(model.to(torch.bfloat16), (2, 3, 6, 6)) == expected
    assert floating_dtype(model) == torch.bfloat16
    assert floating_dtype(nn.ReLU()) == torch.float32  # nothing to read: the default


def test_a_model_of_mixed_dtypes_is_refused_naming_the_dtype_of_the_input():
    model = nn.Sequential(nn.Conv2d(3, 4, 1).double(), nn.Conv2d(4, 2, 1))
    with pytest.raises(ValueError, match=r"cannot run on a float64 input of shape \(1, 3, 2, 2\)"):
        model_macs(model, (1, 3, 2, 2))
