"""Checks for the exercises of Chapter 6 (the 1x1 convolution in modern networks).

Each expected value is computed here with the package (:mod:`onebyone.resnet_bottleneck`,
:mod:`onebyone.separable`, :mod:`onebyone.batchnorm_fold`, :mod:`onebyone.backward_cost`),
never typed in, so a check cannot drift from the book.
"""

from __future__ import annotations

import math

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
from onebyone.perf.roofline import pointwise_conv_workload
from onebyone.resnet_bottleneck import Bottleneck
from onebyone.separable import depthwise_conv_workload, separable_cost_ratio

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


# --- Exercise "where a bottleneck spends its MACs": predict, then count two stages -----------

SHARE_PREDICTIONS = ("larger", "smaller", "same")
"""The words a prediction may use: the last stage's 1x1 share against the first stage's."""

FIRST_STAGE = (56, 256, 64)
"""ResNet-50's first bottleneck stage: map size (pixels a side), channels, reduced width."""

LAST_STAGE = (7, 2048, 512)
"""ResNet-50's last bottleneck stage: map size (pixels a side), channels, reduced width."""


def _prediction(name: str, value: object, words: tuple[str, ...]) -> str:
    """``value`` as one of ``words`` (spacing and case forgiven), or a hint naming ``name``."""
    choices = ", ".join(map(repr, words))
    expect(isinstance(value, str),
           f"{name} should be a str, one of {choices}; got {type(value).__name__}")
    word = value.strip().lower()
    expect(word in words, f"{name} is {value!r}; store one of {choices}")
    return word


def _share_number(name: str, value: object) -> float:
    """``value`` as a float, or a hint naming ``name``: a share of MACs, between 0 and 1."""
    number = exact_number(value)
    expect(number is not None, f"{name} should be a number (a share between 0 and 1), got "
                               f"{type(value).__name__}")
    expect(0 < number <= 1, f"{name} is {number}: a share of the block's MACs lies between "
                            "0 and 1 (a percentage? divide by 100)")
    return float(number)


def _pointwise_share(size: int, channels: int, width: int) -> dict[str, float]:
    """MAC shares of one bottleneck (``channels -> width -> width -> channels``) at ``size``:
    both 1x1 convolutions, one of them, and the 3x3 convolution, counted by the package."""
    block = Bottleneck(channels, width)
    macs = {name: model_macs(getattr(block, name), (1, conv.in_channels, size, size))
            for name, conv in (("conv1", block.conv1), ("conv2", block.conv2),
                               ("conv3", block.conv3))}
    total = sum(macs.values())
    return {"pointwise": (macs["conv1"] + macs["conv3"]) / total,
            "one_pointwise": macs["conv1"] / total,
            "three_by_three": macs["conv2"] / total,
            "over_three_by_three": (macs["conv1"] + macs["conv3"]) / macs["conv2"]}


def check_pointwise_share(answer_prediction: object, answer_first_share: object,
                          answer_last_share: object) -> None:
    """Exercise: the share of a ResNet-50 bottleneck's MACs in its two 1x1 convolutions, in the
    first stage (:data:`FIRST_STAGE`) and in the last (:data:`LAST_STAGE`), after a prediction.

    The student predicts whether the last stage's share is ``"larger"``, ``"smaller"`` or
    ``"same"`` as the first stage's, then counts both. The counts are checked first, with hints
    for the likely slips (the 3x3's share, one 1x1 only, a forgotten ``k^2``, the 1x1s over the
    3x3 alone), then the prediction against the student's own two shares, with a hint that
    says why they agree: with ``C = 4 w`` every layer costs a multiple of ``H W w^2``.
    """
    prediction = _prediction("answer_prediction", answer_prediction, SHARE_PREDICTIONS)
    shares = {}
    for name, value, stage in (("answer_first_share", answer_first_share, FIRST_STAGE),
                               ("answer_last_share", answer_last_share, LAST_STAGE)):
        number = _share_number(name, value)
        expected = _pointwise_share(*stage)
        size, channels, width = stage
        no_k_squared = 2 * channels * width / (2 * channels * width + width * width)
        mistakes = [
            (expected["three_by_three"], "that is the 3x3 convolution's share: the question "
                                         "asks for the two 1x1 convolutions'"),
            (expected["one_pointwise"], "that is one 1x1 convolution: the block has two, one "
                                        "reducing and one restoring"),
            (no_k_squared, "the 3x3 convolution does k^2 = 9 multiply-accumulates per input "
                           "and output channel: is k^2 there?"),
            (expected["over_three_by_three"], "that divides by the 3x3 convolution's MACs: "
                                              "divide by the whole block's"),
        ]
        expect_close(number, expected["pointwise"],
                     f"{name} (the 1x1 share at {size} x {size}, {channels} channels)",
                     rel_tol=1e-6, mistakes=mistakes)
        shares[name] = number
    first, last = shares["answer_first_share"], shares["answer_last_share"]
    if math.isclose(first, last, rel_tol=1e-9):
        outcome = "same"
    else:
        outcome = "larger" if last > first else "smaller"
    expect(prediction == outcome,
           f"you predicted {prediction!r}, but your two shares are {first:.4f} and {last:.4f}: "
           "the bottleneck's width is a quarter of its channels in every stage, so each of "
           "its three layers costs a fixed multiple of (pixels) x (width)^2, and their shares "
           "cannot depend on the stage")
    passed("each layer costs a multiple of H W w^2, in every stage alike")


# --- Exercise "widening a separable layer": predict, then compute two intensities ------------

INTENSITY_PREDICTIONS = ("rises", "falls", "same")
"""The words a prediction may use: how a half's intensity moves from 256 to 1024 channels."""

WIDENED_LAYER = (14, 256, 1024)
"""The separable layer of the exercise: map size (pixels a side), channels before, after."""


def _intensities(channels: int, size: int, bytes_per_element: int = 4,
                 weights: bool = True) -> dict[str, float]:
    """FLOPs per byte of the depthwise 3x3 and the pointwise 1x1 half of a separable layer
    (``channels`` to ``channels``, stride 1, one image of ``size x size``), each tensor read
    or written once; ``weights=False`` leaves the weights' bytes out (a likely slip)."""
    depthwise = depthwise_conv_workload(1, channels, size, size, 3, bytes_per_element)
    pointwise = pointwise_conv_workload(1, channels, channels, size, size, bytes_per_element)
    if weights:
        return {"depthwise": depthwise.intensity, "pointwise": pointwise.intensity}
    maps = 2 * channels * size * size * bytes_per_element
    return {"depthwise": depthwise.flops / maps, "pointwise": pointwise.flops / maps}


def check_widened_intensities(answer_depthwise_prediction: object,
                              answer_pointwise_prediction: object,
                              answer_depthwise_intensity: object,
                              answer_pointwise_intensity: object) -> None:
    """Exercise: widen a 14 x 14 separable layer from 256 to 1024 channels (:data:`WIDENED_LAYER`).

    The student predicts, for each half, whether its arithmetic intensity (FLOPs per byte,
    float32, each tensor read or written once) ``"rises"``, ``"falls"`` or stays the
    ``"same"``, then computes both intensities at 1024 channels. The values are checked first,
    with hints for the likely slips (MACs for FLOPs, elements for bytes, the weights left out),
    then each prediction against the outcome, with a hint that says why: a depthwise filter
    reads each input element for ``k^2`` MACs whatever the width, a pointwise one for ``C``.
    """
    predictions = {
        "depthwise": _prediction("answer_depthwise_prediction", answer_depthwise_prediction,
                                 INTENSITY_PREDICTIONS),
        "pointwise": _prediction("answer_pointwise_prediction", answer_pointwise_prediction,
                                 INTENSITY_PREDICTIONS),
    }
    size, before_channels, after_channels = WIDENED_LAYER
    before = _intensities(before_channels, size)
    after = _intensities(after_channels, size)
    by_elements = _intensities(after_channels, size, bytes_per_element=1)
    without_weights = _intensities(after_channels, size, weights=False)
    for half, value in (("depthwise", answer_depthwise_intensity),
                        ("pointwise", answer_pointwise_intensity)):
        mistakes = [
            (after[half] / 2, "that counts MACs per byte: a MAC is 2 FLOPs"),
            (by_elements[half], "that counts elements, not bytes: a float32 number is 4 bytes"),
            (before[half], f"that is the intensity at {before_channels} channels: widen the "
                           f"layer to {after_channels}"),
            (without_weights[half], "the weights are read too: add their bytes"),
        ]
        expect_close(value, after[half],
                     f"answer_{half}_intensity (FLOPs per byte at {after_channels} channels)",
                     rel_tol=1e-6, mistakes=mistakes)
    why = {
        "depthwise": "each input element of a depthwise 3x3 convolution meets only its own "
                     "channel's 9 weights, whatever the width, so its FLOPs and its bytes grow "
                     "together with the channels",
        "pointwise": "each input element of a 1x1 convolution meets every one of the C "
                     "filters, so its FLOPs grow as C^2 while its maps' bytes grow as C",
    }
    for half in ("depthwise", "pointwise"):
        if math.isclose(after[half], before[half], rel_tol=1e-9):
            outcome = "same"
        else:
            outcome = "rises" if after[half] > before[half] else "falls"
        expect(predictions[half] == outcome,
               f"you predicted the {half} intensity {predictions[half]!r}; it goes from "
               f"{before[half]:.2f} to {after[half]:.2f} FLOPs per byte: {why[half]}")
    passed("widening raises the pointwise intensity, not the depthwise one")
