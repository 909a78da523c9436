"""Checks for the exercises of Chapter 2 (reducing depth, and what it saves).

Each expected value is computed here from the package's formulas (:mod:`onebyone.cost`,
:mod:`onebyone.bottleneck`), never typed in, so a check cannot drift from the book.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from onebyone.bottleneck import break_even_channels, compare_bottleneck
from onebyone.cost import conv2d_macs, conv2d_output_size, conv2d_parameters
from onebyone.exercises.checks import (
    FLOPS_NOT_MACS,
    PER_PIXEL,
    expect,
    expect_close,
    expect_integer,
    passed,
)
from onebyone.exercises.forbidden import ANSWER_RULES, call_answer

NO_K_SQUARED = ("a k x k convolution does k^2 multiply-accumulates per input channel and output "
                "channel: is k^2 there?")


def _branch_mistakes(in_channels: int, out_channels: int, kernel_size: int, height: int,
                     width: int, reduced: int) -> list[tuple[int, str]]:
    """Plausible wrong MAC counts of a 1x1 reduction and a "same" k x k convolution."""
    pixels = height * width
    reduction = pixels * in_channels * reduced
    convolution = pixels * reduced * kernel_size**2 * out_channels
    right = reduction + convolution
    return [
        (2 * right, FLOPS_NOT_MACS),
        (right // pixels, PER_PIXEL),
        (pixels * in_channels * kernel_size**2 * out_channels,
         "that is the direct convolution on all the input channels: the branch reduces first"),
        (reduction + pixels * reduced * out_channels, NO_K_SQUARED),
        (convolution, "add the 1x1 reduction's multiply-accumulates"),
        (reduction, f"add the {kernel_size}x{kernel_size} convolution's multiply-accumulates"),
    ]


def check_inception_3x3_branch_macs(answer: object) -> None:
    """Exercise 1: MACs of Inception (3a)'s 3x3 branch on one 28 x 28 x 192 input.

    The branch is a 1x1 convolution from 192 to 96 channels, then a "same" 3x3 convolution
    from 96 to 128 channels; biases are not counted in MACs.
    """
    expected = compare_bottleneck(192, 128, 3, 28, 28, reduced_channels=96).bottleneck.macs
    expect_integer(answer, expected, "the branch's multiply-accumulates (MACs, one image)",
                   _branch_mistakes(192, 128, 3, 28, 28, 96))
    passed("H * W * (C_in * r + r * k^2 * C_out) multiply-accumulates")


def check_break_even_width(answer: object) -> None:
    """Exercise 2: the smallest 1x1 reduction width that saves nothing before a 3x3, 256 -> 256."""
    expected = break_even_channels(256, 256, 3)
    mistakes = [(expected - 1, "at that width the pair still saves a few MACs: the bound "
                               "r* is not a whole number")]
    expect_integer(answer, expected, "the break-even width (channels)", mistakes)
    passed("the saving disappears from r = C_in k^2 C_out / (C_in + k^2 C_out) up")


def check_resnet_bottleneck_parameters(answer: object) -> None:
    """Exercise 3: parameters, without biases, of a ResNet bottleneck block on 256 channels.

    The block is a 1x1 convolution 256 -> 64, a 3x3 convolution 64 -> 64 and a 1x1
    convolution 64 -> 256.
    """
    layers = [(256, 64, 1), (64, 64, 3), (64, 256, 1)]
    expected = sum(conv2d_parameters(c_in, c_out, k, bias=False) for c_in, c_out, k in layers)
    with_biases = sum(conv2d_parameters(c_in, c_out, k) for c_in, c_out, k in layers)
    mistakes = [
        (with_biases, "the question leaves the biases out: count the weights only"),
        (256 * 64 + 64 * 64 + 64 * 256, NO_K_SQUARED),
    ]
    expect_integer(answer, expected, "the block's parameters (weights only, no biases)", mistakes)
    passed("the three weight tensors of the bottleneck block")


def check_bottleneck_macs_function(
    bottleneck_macs: Callable[..., int], *, hidden_seed: int | None = None
) -> None:
    """Exercise 4: ``bottleneck_macs(in_channels, out_channels, kernel_size, height, width,
    reduced_channels)``, the MACs of one image through a 1x1 reduction to ``reduced_channels``
    and a "same" ``kernel_size`` convolution, for any sizes, without the package's
    ``bottleneck`` and ``cost`` modules (refused while the answer runs).

    Tried on several layers, square and not, so that a formula fitted to one example fails;
    with ``hidden_seed``, also on three layers of sizes drawn from it, which the student cannot
    know in advance.
    """
    rule = ANSWER_RULES["chapter2.check_bottleneck_macs_function"]
    cases = [(192, 128, 3, 28, 28, 96), (256, 256, 3, 14, 14, 64), (480, 48, 5, 14, 7, 16),
             (3, 8, 1, 5, 9, 2)]
    if hidden_seed is not None:
        generator = torch.Generator().manual_seed(hidden_seed)

        def draw(low: int, high: int) -> int:
            return int(torch.randint(low, high + 1, (1,), generator=generator).item())

        for _ in range(3):
            in_channels = draw(1, 512)
            cases.append((in_channels, draw(1, 512), 2 * draw(0, 3) + 1, draw(1, 56),
                          draw(1, 56), draw(1, in_channels)))
    expected_by_case = [compare_bottleneck(c_in, c_out, k, h, w, reduced_channels=r).bottleneck.macs
                        for c_in, c_out, k, h, w, r in cases]
    for case, expected in zip(cases, expected_by_case, strict=True):
        call = f"bottleneck_macs{case}"
        answer = call_answer(rule, call, bottleneck_macs, *case)
        expect_integer(answer, expected, call, _branch_mistakes(*case))
    passed("H * W * r * (C_in + k^2 C_out) for every layer tried")


# --- Exercise 5: predict, then count the classic bottleneck with a stride -----------------------

PREDICTIONS = ("larger", "smaller", "same")
"""The words a prediction of exercise 5 may use, for the saving against the stride-1 one."""


def _strided_macs(stride: int) -> tuple[int, int]:
    """MACs of one 28 x 28 x 192 image through the direct 5x5 convolution to 32 channels and
    through the classic bottleneck (1x1 to 16 channels, then the 5x5), with the 5x5 layers at
    ``stride`` (padding 2) and the 1x1 reduction at stride 1."""
    output = conv2d_output_size((28, 28), 5, stride=stride, padding=2)
    direct = conv2d_macs(192, 32, 5, output_size=output)
    pair = conv2d_macs(192, 16, 1, output_size=(28, 28)) + conv2d_macs(16, 32, 5, output)
    return direct, pair


def check_strided_saving(answer_prediction: object, answer_strided_saving: object) -> None:
    """Exercise 5: the classic bottleneck's saving when its 5x5 convolution has a stride of 2.

    The student predicts whether the saving (direct MACs / bottleneck MACs) is ``"larger"``,
    ``"smaller"`` or ``"same"`` than at stride 1, then counts it. The count is checked first,
    with hints for the likely slips (the stride-1 ratio, a ratio upside down, a direct layer
    without the stride, FLOPs over MACs); then the prediction against the student's own count,
    with a hint that says why the saving moves: the stride shrinks both 5x5 convolutions by
    four, but the 1x1 reduction still runs at every input pixel.
    """
    expect(isinstance(answer_prediction, str),
           f"answer_prediction should be a str, one of {', '.join(map(repr, PREDICTIONS))}; "
           f"got {type(answer_prediction).__name__}")
    prediction = answer_prediction.strip().lower()
    expect(prediction in PREDICTIONS,
           f"answer_prediction is {answer_prediction!r}; store one of "
           f"{', '.join(map(repr, PREDICTIONS))}")
    direct, pair = _strided_macs(2)
    direct_at_1, pair_at_1 = _strided_macs(1)
    expected = direct / pair
    at_stride_1 = direct_at_1 / pair_at_1
    mistakes = [
        (at_stride_1, "that is the saving at stride 1 (or with the 1x1 reduction at stride 2 "
                      "too): the reduction still runs on all 28 x 28 input pixels"),
        (pair / direct, "upside down: divide the direct convolution's MACs by the pair's"),
        (direct_at_1 / pair, "compare the pair with the direct convolution at the same "
                             "stride, 2"),
        (2 * expected, "a FLOP count divided by a MAC count: count both in the same unit"),
    ]
    expect(isinstance(answer_strided_saving, (int, float)) and
           not isinstance(answer_strided_saving, bool),
           f"answer_strided_saving should be a Python float, got "
           f"{type(answer_strided_saving).__name__}")
    for wrong, hint in mistakes:
        expect(not math.isclose(answer_strided_saving, wrong, rel_tol=1e-6),
               f"answer_strided_saving is {answer_strided_saving:.4g}: {hint}")
    expect_close(answer_strided_saving, expected, "answer_strided_saving (the saving)")
    if expected < at_stride_1:
        outcome = "smaller"
    elif expected > at_stride_1:
        outcome = "larger"
    else:
        outcome = "same"
    expect(prediction == outcome,
           f"you predicted {prediction!r}, but your count gives a saving of "
           f"{answer_strided_saving:.2f} against {at_stride_1:.2f} at stride 1: the stride "
           "divides the work of both 5x5 convolutions by four, but not the 1x1 reduction's, "
           "which still runs at every input pixel")
    passed("the stride shrinks the 5x5 layers, not the 1x1 reduction: the saving falls")
