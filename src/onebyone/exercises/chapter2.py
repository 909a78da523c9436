"""Checks for the exercises of Chapter 2 (reducing depth, and what it saves).

Each expected value is computed here from the package's formulas (:mod:`onebyone.cost`,
:mod:`onebyone.bottleneck`), never typed in, so a check cannot drift from the book.
"""

from __future__ import annotations

from collections.abc import Callable

from onebyone.bottleneck import break_even_channels, compare_bottleneck
from onebyone.cost import conv2d_parameters
from onebyone.exercises.checks import expect, expect_integer, passed


def check_inception_3x3_branch_macs(answer: object) -> None:
    """Exercise 1: MACs of Inception (3a)'s 3x3 branch on one 28 x 28 x 192 input.

    The branch is a 1x1 convolution from 192 to 96 channels, then a "same" 3x3 convolution
    from 96 to 128 channels; biases are not counted in MACs.
    """
    expected = compare_bottleneck(192, 128, 3, 28, 28, reduced_channels=96).bottleneck.macs
    expect_integer(answer, expected, "the branch's multiply-accumulates (MACs, one image)")
    passed("H * W * (C_in * r + r * k^2 * C_out) multiply-accumulates")


def check_break_even_width(answer: object) -> None:
    """Exercise 2: the smallest 1x1 reduction width that saves nothing before a 3x3, 256 -> 256."""
    expected = break_even_channels(256, 256, 3)
    expect_integer(answer, expected, "the break-even width (channels)")
    passed("the saving disappears from r = C_in k^2 C_out / (C_in + k^2 C_out) up")


def check_resnet_bottleneck_parameters(answer: object) -> None:
    """Exercise 3: parameters, without biases, of a ResNet bottleneck block on 256 channels.

    The block is a 1x1 convolution 256 -> 64, a 3x3 convolution 64 -> 64 and a 1x1
    convolution 64 -> 256.
    """
    expected = (
        conv2d_parameters(256, 64, 1, bias=False)
        + conv2d_parameters(64, 64, 3, bias=False)
        + conv2d_parameters(64, 256, 1, bias=False)
    )
    expect_integer(answer, expected, "the block's parameters (weights only, no biases)")
    passed("the three weight tensors of the bottleneck block")


def check_bottleneck_macs_function(bottleneck_macs: Callable[..., int]) -> None:
    """Exercise 4: ``bottleneck_macs(in_channels, out_channels, kernel_size, height, width,
    reduced_channels)``, the MACs of one image through a 1x1 reduction to ``reduced_channels``
    and a "same" ``kernel_size`` convolution, for any sizes.

    Tried on several layers, square and not, so that a formula fitted to one example fails.
    """
    cases = [(192, 128, 3, 28, 28, 96), (256, 256, 3, 14, 14, 64), (480, 48, 5, 14, 7, 16),
             (3, 8, 1, 5, 9, 2)]
    for case in cases:
        in_channels, out_channels, kernel_size, height, width, reduced = case
        expected = compare_bottleneck(in_channels, out_channels, kernel_size, height, width,
                                      reduced_channels=reduced).bottleneck.macs
        call = f"bottleneck_macs{case}"
        try:
            answer = bottleneck_macs(*case)
        except Exception as error:  # a student's bug: report it as a hint
            expect(False, f"{call} raised {type(error).__name__}: {error}")
        expect_integer(answer, expected, call)
    passed("H * W * r * (C_in + k^2 C_out) for every layer tried")
