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
from onebyone.exercises.checks import expect, expect_integer, expect_tensor_close, passed
from onebyone.exercises.forbidden import forbidden_calls, recorded_calls


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


def check_conv_to_linear(conv_to_linear: Callable[[nn.Conv2d], nn.Linear]) -> None:
    """Exercise 3: ``conv_to_linear(conv)`` turns a 1x1 ``nn.Conv2d`` into the ``nn.Linear``
    that computes the same function on a channels-last view (``N x H x W x C_in``).

    Tried on convolutions with and without a bias; the linear layer must be a copy (changing it
    must not change the convolution).
    """
    generator = torch.Generator().manual_seed(3)
    for c_in, c_out, bias in [(5, 3, True), (4, 6, False)]:
        conv = nn.Conv2d(c_in, c_out, kernel_size=1, bias=bias, dtype=torch.float64)
        with torch.no_grad():
            for parameter in conv.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator))
        before = [parameter.detach().clone() for parameter in conv.parameters()]
        try:
            linear = conv_to_linear(conv)
        except Exception as error:  # a student's bug: report it as a hint
            expect(False, f"conv_to_linear raised {type(error).__name__}: {error}")
        name = f"conv_to_linear(nn.Conv2d({c_in}, {c_out}, 1, bias={bias}))"
        expect(isinstance(linear, nn.Linear), f"{name} should be an nn.Linear, got {type(linear)}")
        expect(
            (linear.in_features, linear.out_features) == (c_in, c_out),
            f"{name} maps {linear.in_features} to {linear.out_features} features, "
            f"expected {c_in} to {c_out}",
        )
        expect(
            (linear.bias is not None) == bias,
            f"{name} {'has no' if bias else 'has a'} bias, but the convolution "
            f"{'has one' if bias else 'has none'}",
        )
        x = torch.randn(2, c_in, 3, 4, generator=generator, dtype=torch.float64)
        with torch.no_grad():
            expected = conv(x).permute(0, 2, 3, 1)  # N x H x W x C_out
            output = linear.to(torch.float64)(x.permute(0, 2, 3, 1))  # N x H x W x C_out
        expect_tensor_close(output, expected, f"{name} on a channels-last input", rtol=1e-10,
                            atol=1e-10)
        with torch.no_grad():
            linear.weight.add_(1.0)
        expect(
            all(torch.equal(old, new) for old, new in zip(before, conv.parameters(), strict=True)),
            f"changing the weight of {name} changed the convolution: copy the weights",
        )
    passed("a 1x1 convolution is a linear layer on each pixel's channels")


def check_pointwise_function(
    pointwise: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
) -> None:
    """Exercise 4: a 1x1 convolution ``pointwise(x, weight, bias)`` written with a matrix product.

    ``x`` is ``N x C_in x H x W``, ``weight`` is ``C_out x C_in`` and ``bias`` has ``C_out``
    entries; the answer is compared with ``torch.nn.functional.conv2d`` on several random shapes,
    including non-square images, so that a mixed-up height and width is caught. It runs while
    :func:`~onebyone.exercises.forbidden.recorded_calls` records every operation, and fails if
    any convolution or einsum ran.
    """
    generator = torch.Generator().manual_seed(1)
    for n, c_in, c_out, h, w in [(1, 3, 2, 4, 4), (2, 5, 7, 3, 6), (3, 8, 1, 1, 2)]:
        x = torch.randn(n, c_in, h, w, generator=generator, dtype=torch.float64)
        weight = torch.randn(c_out, c_in, generator=generator, dtype=torch.float64)
        bias = torch.randn(c_out, generator=generator, dtype=torch.float64)
        expected = F.conv2d(x, weight.view(c_out, c_in, 1, 1), bias)  # N x C_out x H x W
        try:
            answer, calls = recorded_calls(pointwise, x, weight, bias)
        except Exception as error:  # a student's bug: report it as a hint
            expect(False, f"pointwise raised {type(error).__name__}: {error}")
        used = forbidden_calls(calls)
        expect(
            not used,
            f"pointwise called {', '.join(used)}: write it with a matrix product (@) and "
            "reshapes, without any convolution or einsum",
        )
        expect_tensor_close(
            answer, expected, f"pointwise(x, weight, bias) for x of shape {tuple(x.shape)}",
            rtol=1e-10, atol=1e-10,
        )
    passed("pointwise(x, weight, bias) agrees with F.conv2d(kernel_size=1), with no convolution")
