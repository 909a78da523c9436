"""Checks for the exercises of Chapter 1 (the 1x1 convolution as a per-pixel linear layer).

Each expected value is computed here from the package's formulas (``onebyone.cost``) or from
PyTorch itself, never typed in, so a check cannot drift from the book.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from onebyone.cost import conv2d_macs, conv2d_parameters
from onebyone.exercises.checks import expect, expect_integer, expect_tensor_close, passed


def check_bottleneck_parameters(answer: object) -> None:
    """Exercise 1: parameters (weights and biases) of a 1x1 convolution from 256 to 64 channels."""
    expected = conv2d_parameters(256, 64, kernel_size=1, bias=True)
    expect_integer(answer, expected, "the parameter count (weights and biases)")
    passed("a 1x1 convolution from 256 to 64 channels has C_in*C_out + C_out parameters")


def check_pointwise_macs(answer: object) -> None:
    """Exercise 2: MACs of a 1x1 convolution from 512 to 128 channels on one 14x14 image."""
    expected = conv2d_macs(512, 128, kernel_size=1, output_size=(14, 14))
    expect_integer(answer, expected, "the number of multiply-accumulates (MACs)")
    passed("H * W * C_in * C_out multiply-accumulates")


def check_pointwise_function(
    pointwise: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
) -> None:
    """Exercise 3: a 1x1 convolution ``pointwise(x, weight, bias)`` written with a matrix product.

    ``x`` is ``N x C_in x H x W``, ``weight`` is ``C_out x C_in`` and ``bias`` has ``C_out``
    entries; the answer is compared with ``torch.nn.functional.conv2d`` on several random shapes,
    including non-square images, so that a mixed-up height and width is caught.
    """
    generator = torch.Generator().manual_seed(1)
    for n, c_in, c_out, h, w in [(1, 3, 2, 4, 4), (2, 5, 7, 3, 6), (3, 8, 1, 1, 2)]:
        x = torch.randn(n, c_in, h, w, generator=generator, dtype=torch.float64)
        weight = torch.randn(c_out, c_in, generator=generator, dtype=torch.float64)
        bias = torch.randn(c_out, generator=generator, dtype=torch.float64)
        expected = F.conv2d(x, weight.view(c_out, c_in, 1, 1), bias)  # N x C_out x H x W
        try:
            answer = pointwise(x, weight, bias)
        except Exception as error:  # a student's bug: report it as a hint
            expect(False, f"pointwise raised {type(error).__name__}: {error}")
        expect_tensor_close(
            answer, expected, f"pointwise(x, weight, bias) for x of shape {tuple(x.shape)}",
            rtol=1e-10, atol=1e-10,
        )
    passed("pointwise(x, weight, bias) agrees with F.conv2d(kernel_size=1)")
