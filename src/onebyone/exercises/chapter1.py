"""Checks for the exercises of Chapter 1 (the 1x1 convolution as a per-pixel linear layer).

Each expected value is computed here from the package's formulas (``onebyone.cost``) or from
PyTorch itself, never typed in, so a check cannot drift from the book.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from onebyone.cost import conv2d_macs, conv2d_parameters
from onebyone.exercises.checks import (
    FLOPS_NOT_MACS,
    PER_PIXEL,
    ExerciseFailed,
    draw_parameters,
    expect,
    expect_integer,
    expect_plain_tensor,
    expect_tensor_close,
    passed,
)
from onebyone.exercises.forbidden import ANSWER_RULES, Rule, call_answer

NO_BIAS = "that leaves the biases out: nn.Conv2d has one per output channel unless bias=False"


def check_bottleneck_parameters(answer: object) -> None:
    """Exercise 1: parameters (weights and biases) of a 1x1 convolution from 256 to 64 channels."""
    expected = conv2d_parameters(256, 64, kernel_size=1, bias=True)
    mistakes = [
        (conv2d_parameters(256, 64, kernel_size=1, bias=False), NO_BIAS),
        (256 * 64 + 256, "one bias per output channel, not per input channel"),
    ]
    expect_integer(answer, expected, "the parameter count (weights and biases)", mistakes)
    passed("a 1x1 convolution from 256 to 64 channels has C_in*C_out + C_out parameters")


def check_pointwise_macs(answer: object) -> None:
    """Exercise 2: MACs of a 1x1 convolution from 512 to 128 channels on one 14x14 image."""
    expected = conv2d_macs(512, 128, kernel_size=1, output_size=(14, 14))
    mistakes = [
        (2 * expected, FLOPS_NOT_MACS),
        (512 * 128, PER_PIXEL),
        (expected + 14 * 14 * 128, "a bias is added, not multiplied: MACs count the weights' "
                                   "multiply-accumulates only"),
    ]
    expect_integer(answer, expected, "the number of multiply-accumulates (MACs)", mistakes)
    passed("H * W * C_in * C_out multiply-accumulates")


def _hidden_generator(hidden_seed: int | None) -> torch.Generator | None:
    return None if hidden_seed is None else torch.Generator().manual_seed(hidden_seed)


def _size(generator: torch.Generator, low: int, high: int) -> int:
    """A size drawn uniformly from ``low`` to ``high``, both included."""
    return int(torch.randint(low, high + 1, (1,), generator=generator).item())


def _drawn_conv(
    c_in: int, c_out: int, groups: int, bias: bool, drawn: torch.Generator
) -> nn.Conv2d:
    """A float64 1x1 convolution whose weights (and bias) are drawn from ``drawn``."""
    conv = nn.Conv2d(c_in, c_out, kernel_size=1, groups=groups, bias=bias, dtype=torch.float64)
    draw_parameters(drawn, conv)
    return conv


def _check_conversion(
    rule: Rule,
    conv_to_linear: Callable[[nn.Conv2d], nn.Linear],
    conv: nn.Conv2d,
    name: str,
    sizes: tuple[int, int, int],
    drawn: torch.Generator,
    hint: str = "",
) -> None:
    """Check ``conv_to_linear(conv)`` on one convolution, for both conversion checks.

    The answer must return an ``nn.Linear`` of the right size, with a bias exactly when the
    convolution has one, that computes the convolution on a channels-last input of ``sizes``
    ``(N, H, W)``, and whose weights are a copy: changing them must leave ``conv`` as it was.
    ``hint``, when given, ends the messages a wrong matrix would cause (the grouped case's
    block-diagonal matrix).
    """
    def expect_with_hint(condition: bool, message: str) -> None:
        expect(condition, f"{message}: {hint}" if hint else message)

    c_in, c_out, bias = conv.in_channels, conv.out_channels, conv.bias is not None
    before = [parameter.detach().clone() for parameter in conv.parameters()]
    try:
        linear = call_answer(rule, "conv_to_linear", conv_to_linear, conv)
    except ExerciseFailed as failure:
        raise ExerciseFailed(f"{name}: {failure}" + (f"; {hint}" if hint else "")) from None
    expect(isinstance(linear, nn.Linear), f"{name} should be an nn.Linear, got {type(linear)}")
    expect_with_hint(
        (linear.in_features, linear.out_features) == (c_in, c_out),
        f"{name} maps {linear.in_features} to {linear.out_features} features, "
        f"expected {c_in} to {c_out}",
    )
    expect(
        (linear.bias is not None) == bias,
        f"{name} {'has no' if bias else 'has a'} bias, but the convolution "
        f"{'has one' if bias else 'has none'}",
    )
    n, h, w = sizes
    x = torch.randn(n, c_in, h, w, generator=drawn, dtype=torch.float64)
    with torch.no_grad():
        expected = conv(x).permute(0, 2, 3, 1)  # N x H x W x C_out
        output = call_answer(rule, f"{name} on a channels-last input",
                             linear.to(torch.float64), x.permute(0, 2, 3, 1))
    what = f"{name} on a channels-last input"
    expect_plain_tensor(output, what)
    same_layout = (output.shape == expected.shape and output.dtype == expected.dtype
                   and not output.is_meta)
    try:
        expect_tensor_close(output, expected, what, rtol=1e-10, atol=1e-10)
    except ExerciseFailed as failure:
        if not same_layout:
            raise
        expect_with_hint(False, str(failure))  # wrong values: the matrix is wrong
    with torch.no_grad():
        linear.weight.add_(1.0)
    expect(
        all(torch.equal(old, new) for old, new in zip(before, conv.parameters(), strict=True)),
        f"changing the weight of {name} changed the convolution: copy the weights",
    )


def check_conv_to_linear(
    conv_to_linear: Callable[[nn.Conv2d], nn.Linear], *, hidden_seed: int | None = None
) -> None:
    """Exercise 3: ``conv_to_linear(conv)`` turns a 1x1 ``nn.Conv2d`` into the ``nn.Linear``
    that computes the same function on a channels-last view (``N x H x W x C_in``), without the
    package's ``pointwise`` module (refused while the answer runs).

    Tried on convolutions with and without a bias; the linear layer must be a copy (changing it
    must not change the convolution). With ``hidden_seed``, also on two convolutions (and
    inputs) of sizes drawn from it, which the student cannot know in advance.
    """
    rule = ANSWER_RULES["chapter1.check_conv_to_linear"]
    generator = torch.Generator().manual_seed(3)
    cases = [(5, 3, True, (2, 3, 4), generator), (4, 6, False, (2, 3, 4), generator)]
    hidden = _hidden_generator(hidden_seed)
    if hidden is not None:
        for bias in (True, False):
            sizes = (_size(hidden, 1, 3), _size(hidden, 1, 6), _size(hidden, 1, 6))
            cases.append((_size(hidden, 1, 12), _size(hidden, 1, 12), bias, sizes, hidden))
    for c_in, c_out, bias, sizes, drawn in cases:
        conv = _drawn_conv(c_in, c_out, 1, bias, drawn)
        name = f"conv_to_linear(nn.Conv2d({c_in}, {c_out}, 1, bias={bias}))"
        _check_conversion(rule, conv_to_linear, conv, name, sizes, drawn)
    passed("a 1x1 convolution is a linear layer on each pixel's channels")


def check_pointwise_function(
    pointwise: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    hidden_seed: int | None = None,
) -> None:
    """Exercise 4: a 1x1 convolution ``pointwise(x, weight, bias)`` written with a matrix product.

    ``x`` is ``N x C_in x H x W``, ``weight`` is ``C_out x C_in`` and ``bias`` has ``C_out``
    entries; the answer is compared with ``torch.nn.functional.conv2d`` on several random shapes,
    including non-square images, so that a mixed-up height and width is caught. It runs under
    :func:`~onebyone.exercises.forbidden.refusing`, and fails if any convolution, einsum,
    ``F.linear`` or function of the package ran. With ``hidden_seed``, it is also tried on two
    shapes (and values) drawn from it, which the student cannot know in advance.
    """
    rule = ANSWER_RULES["chapter1.check_pointwise_function"]
    generator = torch.Generator().manual_seed(1)
    cases = [((1, 3, 2, 4, 4), generator), ((2, 5, 7, 3, 6), generator),
             ((3, 8, 1, 1, 2), generator)]
    hidden = _hidden_generator(hidden_seed)
    if hidden is not None:
        for _ in range(2):
            shape = (_size(hidden, 1, 3), _size(hidden, 1, 9), _size(hidden, 1, 9),
                     _size(hidden, 1, 7), _size(hidden, 1, 7))
            cases.append((shape, hidden))
    for (n, c_in, c_out, h, w), drawn in cases:
        x = torch.randn(n, c_in, h, w, generator=drawn, dtype=torch.float64)
        weight = torch.randn(c_out, c_in, generator=drawn, dtype=torch.float64)
        bias = torch.randn(c_out, generator=drawn, dtype=torch.float64)
        expected = F.conv2d(x, weight.view(c_out, c_in, 1, 1), bias)  # N x C_out x H x W
        answer = call_answer(rule, "pointwise", pointwise, x, weight, bias)
        expect_tensor_close(
            answer, expected, f"pointwise(x, weight, bias) for x of shape {tuple(x.shape)}",
            rtol=1e-10, atol=1e-10,
        )
    passed("pointwise(x, weight, bias) agrees with F.conv2d(kernel_size=1), with no convolution")


# --- Exercise 5: predict, then test which outputs one pixel reaches ----------------------------

_REACH_1X1 = ("an output of a 1x1 convolution at (h, w) reads the input at (h, w) only, and each "
              "position has one output value per output channel")
_REACH_3X3 = ("an output of a 3x3 convolution reads the 3x3 neighbourhood around it: count the "
              "output positions whose window covers the pixel, times the output channels")


def _random_conv(in_channels: int, out_channels: int, kernel_size: int,
                 generator: torch.Generator) -> nn.Conv2d:
    """A "same" float64 convolution with weights and biases drawn from ``generator``."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2,
                     dtype=torch.float64)
    with torch.no_grad():
        for parameter in conv.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator,
                                        dtype=torch.float64))
    return conv


def _changed_by_one_pixel(layer: nn.Module, x: torch.Tensor, pixel: tuple[int, int]) -> int:
    """The experiment, as the check runs it: how many output values of ``layer`` move when
    every channel of ``x`` at ``pixel`` (row, column) moves by 1."""
    row, column = pixel
    changed = x.clone()
    changed[:, :, row, column] += 1.0
    with torch.no_grad():
        return int(((layer(changed) - layer(x)).abs() > 1e-9).sum())


def check_changed_outputs(
    predicted_1x1: object,
    predicted_3x3: object,
    count_changed: Callable[[nn.Module, torch.Tensor, tuple[int, int]], object],
) -> None:
    """Exercise 5: which outputs does one input pixel reach?

    A 1x1 convolution and a 3x3 convolution with padding 1, both from 8 to 4 channels, map a
    ``1 x 8 x 6 x 6`` input to ``1 x 4 x 6 x 6``; the student predicts how many of the 144
    output values change when the 8 channels of pixel (2, 3) change (``predicted_1x1``,
    ``predicted_3x3``), then writes the experiment, ``count_changed(layer, x, pixel)``.

    The experiment is checked first, against the check's own, on those two layers and on three
    more (a corner pixel, two images of another width, a 5x5 kernel), so that a function that
    returns the predicted numbers without running the layers fails; then each prediction is
    compared with what the experiment counts, with a hint that says why the count is what it is.
    """
    generator = torch.Generator().manual_seed(5)
    one_by_one = _random_conv(8, 4, 1, generator)
    three_by_three = _random_conv(8, 4, 3, generator)
    x = torch.randn(1, 8, 6, 6, generator=generator, dtype=torch.float64)
    cases = [
        ("the 1x1 convolution, pixel (2, 3)", one_by_one, x, (2, 3)),
        ("the 3x3 convolution, pixel (2, 3)", three_by_three, x, (2, 3)),
        ("the 3x3 convolution, corner pixel (0, 0)", three_by_three, x, (0, 0)),
        ("a 1x1 convolution from 5 to 7 channels on two 3 x 5 images",
         _random_conv(5, 7, 1, generator),
         torch.randn(2, 5, 3, 5, generator=generator, dtype=torch.float64), (1, 4)),
        ("a 5x5 convolution with padding 2, from 3 to 2 channels",
         _random_conv(3, 2, 5, generator),
         torch.randn(1, 3, 6, 6, generator=generator, dtype=torch.float64), (2, 3)),
    ]
    counted = []
    for what, layer, data, pixel in cases:
        expected = _changed_by_one_pixel(layer, data, pixel)
        try:
            answer = count_changed(layer, data.clone(), pixel)
        except Exception as error:  # a student's bug: report it as a hint
            expect(False, f"count_changed raised {type(error).__name__}: {error}")
        expect_integer(answer, expected, f"count_changed on {what}")
        counted.append(expected)
    for name, predicted, measured, why in [
        ("predicted_1x1", predicted_1x1, counted[0], _REACH_1X1),
        ("predicted_3x3", predicted_3x3, counted[1], _REACH_3X3),
    ]:
        expect(isinstance(predicted, int) and not isinstance(predicted, bool),
               f"{name} should be a Python int, got {type(predicted).__name__}")
        expect(predicted == measured,
               f"{name} is {predicted:,}, but your experiment counts {measured:,} changed "
               f"values: {why}")
    passed("a 1x1 output reads one pixel, a 3x3 output a 3x3 neighbourhood")


# --- Exercise 3, with groups: a grouped 1x1 convolution as one linear layer -------------------

_GROUPED = ("with g groups the stored weight is C_out x C_in/g: the linear layer needs the full "
            "C_out x C_in matrix, each group's C_out/g x C_in/g block on the diagonal and "
            "zeros elsewhere (torch.block_diag)")


def check_grouped_conv_to_linear(
    conv_to_linear: Callable[[nn.Conv2d], nn.Linear], *, hidden_seed: int | None = None
) -> None:
    """Exercise 3, second check: ``conv_to_linear(conv)`` also turns a 1x1 ``nn.Conv2d`` with
    ``groups`` into the ``nn.Linear`` that computes the same function on a channels-last view.

    Why a second check: the chapter spells out the ungrouped conversion (a reshape), so the
    exercise asks for the grouped one, whose linear weight is block-diagonal. Tried with 1 to 4
    groups, with and without a bias; the linear layer must be a copy. With ``hidden_seed``,
    also on two grouped convolutions (and inputs) of sizes drawn from it. The answer runs under
    the rule of :func:`check_conv_to_linear` (no ``onebyone.pointwise``).
    """
    rule = ANSWER_RULES["chapter1.check_conv_to_linear"]
    generator = torch.Generator().manual_seed(4)
    # (C_in, C_out, groups, bias, (N, H, W), the generator of its values)
    cases = [(6, 4, 2, True, (2, 3, 4), generator), (6, 9, 3, False, (1, 2, 5), generator),
             (4, 8, 4, True, (2, 2, 3), generator), (5, 3, 1, True, (1, 3, 2), generator)]
    hidden = _hidden_generator(hidden_seed)
    if hidden is not None:
        for bias in (True, False):
            groups = _size(hidden, 2, 4)
            sizes = (_size(hidden, 1, 3), _size(hidden, 1, 6), _size(hidden, 1, 6))
            cases.append((groups * _size(hidden, 1, 4), groups * _size(hidden, 1, 4), groups,
                          bias, sizes, hidden))
    for c_in, c_out, groups, bias, sizes, drawn in cases:
        conv = _drawn_conv(c_in, c_out, groups, bias, drawn)
        name = f"conv_to_linear(nn.Conv2d({c_in}, {c_out}, 1, groups={groups}, bias={bias}))"
        hint = _GROUPED if groups > 1 else ""
        _check_conversion(rule, conv_to_linear, conv, name, sizes, drawn, hint)
    passed("a grouped 1x1 convolution is a linear layer with a block-diagonal matrix")
