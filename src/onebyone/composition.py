"""Two 1x1 convolutions in a row, with nothing between them, are one 1x1 convolution.

Why: at every pixel a 1x1 convolution is the affine map ``x -> W x + b`` on the channel vector
(Chapter 1). Two of them in a row compute ``W2 (W1 x + b1) + b2 = (W2 W1) x + (W2 b1 + b2)``,
which is again one affine map, so stacking them adds parameters and multiply-accumulates but no
expressive power. Chapter 3 proves this, checks it numerically with :func:`compose_pointwise`,
and then shows that a ReLU between the two layers breaks the collapse: that is the reason
Network in Network puts a non-linearity after every 1x1 convolution.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from onebyone import validation
from onebyone.pointwise import check_pointwise_conv


def compose_pointwise(first: nn.Conv2d, second: nn.Conv2d) -> nn.Conv2d:
    """The single 1x1 convolution that computes ``second(first(x))``.

    Why: it is the proof, made executable, that a linear stack of 1x1 convolutions collapses:
    ``W = W2 @ W1`` (``C_out x C_in``) and ``b = W2 @ b1 + b2`` (``C_out``).

    Args:
        first: a plain 1x1 ``nn.Conv2d``, ``C_in -> C_mid``, applied first.
        second: a plain 1x1 ``nn.Conv2d``, ``C_mid -> C_out``, applied to ``first``'s output.

    Returns:
        A new ``nn.Conv2d(C_in, C_out, kernel_size=1)`` on ``first``'s device and dtype. It has a
        bias when either layer has one (``b = W2 @ b1 + b2``, a missing bias counting as zero).

    Raises:
        TypeError: a layer that is not an ``nn.Conv2d``.
        ValueError: a layer that is not a plain 1x1 convolution, or mismatched channels.
    """
    check_pointwise_conv(first, "first")
    check_pointwise_conv(second, "second")
    if second.in_channels != first.out_channels:
        raise ValueError(
            f"channel mismatch: the first layer outputs {first.out_channels} channels but the "
            f"second expects {second.in_channels}"
        )
    weight_first = first.weight.reshape(first.out_channels, first.in_channels)  # C_mid x C_in
    weight_second = second.weight.reshape(second.out_channels, second.in_channels)  # C_out x C_mid
    weight_second = weight_second.to(weight_first)
    has_bias = first.bias is not None or second.bias is not None

    composed = nn.Conv2d(
        first.in_channels,
        second.out_channels,
        kernel_size=1,
        bias=has_bias,
        device=weight_first.device,
        dtype=weight_first.dtype,
    )
    with torch.no_grad():
        weight = weight_second @ weight_first  # C_out x C_in
        composed.weight.copy_(weight.reshape(second.out_channels, first.in_channels, 1, 1))
        if has_bias:
            bias = torch.zeros(second.out_channels, dtype=weight.dtype, device=weight.device)
            if first.bias is not None:
                bias += weight_second @ first.bias  # C_out
            if second.bias is not None:
                bias += second.bias.to(bias)  # C_out
            composed.bias.copy_(bias)
    return composed


def collapse_pointwise_stack(layers: Sequence[nn.Module]) -> nn.Conv2d:
    """The single 1x1 convolution equal to a whole stack of 1x1 convolutions, applied in order.

    Why: the collapse holds for any number of layers, by induction on :func:`compose_pointwise`;
    and it holds only while every layer is linear, so anything else in the stack (a ReLU) is
    refused with an error that says so.

    Args:
        layers: one or more plain 1x1 ``nn.Conv2d`` (an ``nn.Sequential`` works too), first
            layer first.

    Returns:
        A new ``nn.Conv2d`` computing the same function as the stack.

    Raises:
        TypeError: ``layers`` is not iterable, or holds something other than an ``nn.Conv2d``.
        ValueError: an empty stack, a layer that is not a plain 1x1 convolution, or mismatched
            channels.
    """
    layers = validation.items("layers", layers)
    if not layers:
        raise ValueError("the stack is empty: give at least one 1x1 convolution")
    for index, layer in enumerate(layers):
        if not isinstance(layer, nn.Conv2d):
            raise TypeError(
                f"layer {index} is a {type(layer).__name__}, not an nn.Conv2d: a stack with a "
                "non-linearity between its 1x1 convolutions does not collapse to one"
            )
    check_pointwise_conv(layers[0], "layers[0]")
    collapsed = copy.deepcopy(layers[0])  # a new module, even for a stack of one
    for layer in layers[1:]:
        collapsed = compose_pointwise(collapsed, layer)
    return collapsed
