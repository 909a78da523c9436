"""Checks for the exercises of Chapter 6 (the 1x1 convolution in modern networks).

Each expected value is computed here with the package (:mod:`onebyone.resnet_bottleneck`,
:mod:`onebyone.separable`, :mod:`onebyone.batchnorm_fold`, :mod:`onebyone.backward_cost`),
never typed in, so a check cannot drift from the book.
"""

from __future__ import annotations

import torch
from torch import nn

from onebyone.backward_cost import pointwise_training_macs
from onebyone.batchnorm_fold import fold_batchnorm
from onebyone.cost import model_macs
from onebyone.exercises.checks import (
    exact_number,
    expect,
    expect_close,
    expect_integer,
    expect_tensor_close,
    passed,
)
from onebyone.resnet_bottleneck import Bottleneck
from onebyone.separable import separable_cost_ratio

STAGE_INPUT = (1, 256, 56, 56)
"""The input of ResNet-50's first bottleneck stage: one 56 x 56 map of 256 channels."""

TRAINING_LAYER = (8, 256, 64, 56, 56)
"""Exercise 4's 1x1 convolution: batch, input channels, output channels, height, width."""


def _is_number(value: object) -> bool:
    """A number the hints below may compare, read without running the answer's own code."""
    return exact_number(value) is not None


def check_bottleneck_macs(answer: object) -> None:
    """Exercise 1: MACs of one bottleneck (256 -> 64 -> 64 -> 256) on one 56 x 56 image."""
    expected = model_macs(Bottleneck(256, 64), STAGE_INPUT)
    if _is_number(answer):
        number = exact_number(answer)
        expect(number != 2 * expected, "that is twice the answer: count MACs, not FLOPs")
        expect(number != expected // (56 * 56), "that is the weight count: multiply by H x W")
    no_k_squared = 56 * 56 * (256 * 64 + 64 * 64 + 64 * 256)
    expect_integer(answer, expected, "the bottleneck's multiply-accumulates (MACs)",
                   [(no_k_squared, "the 3x3 convolution does k^2 = 9 multiply-accumulates per "
                                   "input and output channel: is k^2 there?")])
    passed("the MACs of a stride-1 block are its weights times H x W")


def check_separable_ratio(answer: object) -> None:
    """Exercise 2: a 512 -> 512 depthwise-separable 3x3 layer's MACs over a standard 3x3 layer's."""
    expected = separable_cost_ratio(512, 3)
    number = exact_number(answer)
    if number is not None and number > 0:
        expect(abs(number - 1 / expected) > 1e-3, "upside down: separable over standard")
    expect_close(answer, expected, "the ratio separable MACs / standard MACs", rel_tol=1e-4)
    passed("1/N + 1/k^2: about 1/9, the 1/N term is small at 512 channels")


def fold_exercise_layers() -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    """Exercise 3's seeded 1x1 convolution (4 -> 3 channels, with bias) and its batch norm in
    eval mode, with running statistics that are not the defaults, both in float64.

    Why float64 and small running variances (0.001 to 0.011): a fold that leaves out ``eps``
    (1e-5) is then off by 5e-4 to 5e-3 of each value, while float64's rounding is about 1e-16,
    so the check can refuse it with a tolerance far from both.
    """
    generator = torch.Generator().manual_seed(6)
    conv = nn.Conv2d(4, 3, kernel_size=1, dtype=torch.float64)
    bn = nn.BatchNorm2d(3, dtype=torch.float64).eval()
    with torch.no_grad():
        for tensor in (conv.weight, conv.bias, bn.weight, bn.bias, bn.running_mean):
            tensor.copy_(torch.randn(tensor.shape, generator=generator))
        bn.running_var.copy_(torch.rand(3, generator=generator) * 0.01 + 0.001)
    return conv, bn


def check_folded_parameters(weight: object, bias: object) -> None:
    """Exercise 3: the folded weight (3 x 4 x 1 x 1) and bias (3) of the layers of
    :func:`fold_exercise_layers`, in float64, to a relative 1e-9.

    The check sees the tensors only: a grader runs the cells that compute them under
    ``ANSWER_RULES["chapter6.check_folded_parameters"]``
    (:mod:`onebyone.exercises.forbidden`), which refuses ``fold_batchnorm``; here a tensor
    that is a module's ``nn.Parameter`` (as ``fold_batchnorm(...).weight`` is) is refused.
    """
    conv, bn = fold_exercise_layers()
    folded = fold_batchnorm(conv, bn)
    for name, value in (("the folded weight", weight), ("the folded bias", bias)):
        expect(not isinstance(value, nn.Parameter),
               f"{name} is an nn.Parameter, taken from a module: compute it from the layers' "
               "tensors, without fold_batchnorm")
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        scale_without_eps = bn.weight / torch.sqrt(bn.running_var)
        no_conv_bias = bn.bias - scale * bn.running_mean
        for name, value, without_eps in (
            ("the folded weight", weight, conv.weight * scale_without_eps[:, None, None, None]),
            ("the folded bias", bias,
             scale_without_eps * (conv.bias - bn.running_mean) + bn.bias),
        ):
            if type(value) is torch.Tensor and value.shape == without_eps.shape \
                    and value.dtype == without_eps.dtype:
                expect(not torch.allclose(value.detach(), without_eps, rtol=1e-9, atol=1e-12),
                       f"{name} leaves eps out: the batch norm divides by sqrt(var + eps)")
    if type(bias) is torch.Tensor and bias.shape == folded.bias.shape \
            and bias.dtype == folded.bias.dtype:
        expect(not torch.allclose(bias.detach(), no_conv_bias.detach(), atol=1e-5),
               "the convolution's own bias goes through the batch norm too: b' = s (b - mu) + beta")
    expect_tensor_close(weight, folded.weight.detach(), "the folded weight", rtol=1e-9,
                        atol=1e-12)
    expect_tensor_close(bias, folded.bias.detach(), "the folded bias", rtol=1e-9, atol=1e-12)
    passed("one convolution now does what the convolution and the batch norm did")


def check_training_flops(answer: object) -> None:
    """Exercise 4: FLOPs (FlopCounterMode's unit, 2 per MAC) of forward plus backward of the 1x1
    convolution of :data:`TRAINING_LAYER`, no bias, when its input needs a gradient too."""
    macs = sum(pointwise_training_macs(*TRAINING_LAYER).values())
    forward = pointwise_training_macs(*TRAINING_LAYER)["forward"]
    if _is_number(answer):
        answer_value = exact_number(answer)
        expect(answer_value != macs, "that is in MACs: FlopCounterMode counts 2 FLOPs per MAC")
        expect(answer_value != 2 * forward,
               "that is the forward pass alone: add the backward pass")
        expect(answer_value != 4 * forward,
               "the input needs a gradient too: count dX as well as dW")
    expect_integer(answer, 2 * macs, "the training step's FLOPs")
    passed("three matrix products of the same size: Y = W X, dX = W^T dY, dW = dY X^T")
