"""The 1x1 convolution is a fully connected layer applied at every pixel.

A 1x1 convolution with weight ``W`` (``C_out x C_in``) and bias ``b`` computes, independently at
every location ``(h, w)`` of every image ``n``::

    y[n, o, h, w] = b[o] + sum_c W[o, c] * x[n, c, h, w]

Chapter 1 derives this and shows four ways of computing it. This module holds the reference
versions the later chapters reuse: the same function as one matrix product and as an einsum,
the exact conversion between a 1x1 ``nn.Conv2d`` and an ``nn.Linear``, and the checks that
refuse a layer that is not such a per-pixel linear map with a reshaped weight (a larger kernel,
a stride or padding: a different function; groups: a block-diagonal matrix), with an error that
names the problem. A dilation is accepted: with a 1x1 kernel there are no kernel taps to spread
apart, so it changes nothing.
"""

from __future__ import annotations

import torch
from torch import nn

from onebyone import validation


def check_pointwise_conv(conv: nn.Module, name: str = "conv") -> None:
    """Raise ``ValueError`` unless ``conv`` is a plain 1x1 ``nn.Conv2d`` (any dilation).

    Why: a stride or padding changes which positions are computed (a stride skips pixels,
    padding adds a border of outputs that see only zeros), so the layer is a different function
    from a per-pixel ``nn.Linear``. Groups keep it a per-pixel linear map, but its
    ``C_out x C_in`` matrix is block-diagonal, so the stored ``C_out x C_in/groups`` weight
    cannot simply be reshaped into it. A dilation is accepted: with a 1x1 kernel it has no
    effect, and the layer computes exactly what the same layer without it computes.

    Args:
        conv: the module to check.
        name: the argument's name, for the message.

    Raises:
        TypeError: ``conv`` is not an ``nn.Conv2d``.
        ValueError: a kernel other than 1x1, a stride, padding or groups.
    """
    validation.module(name, conv, nn.Conv2d)
    problems = []
    if tuple(conv.kernel_size) != (1, 1):
        problems.append(f"kernel_size is {tuple(conv.kernel_size)}, not (1, 1)")
    if tuple(conv.stride) != (1, 1):
        problems.append(f"stride is {tuple(conv.stride)}, not (1, 1)")
    if conv.padding not in ((0, 0), "valid"):
        problems.append(f"padding is {conv.padding!r}, not (0, 0)")
    if conv.groups != 1:
        problems.append(f"groups is {conv.groups}, not 1")
    if problems:
        raise ValueError(f"{name} is not a plain 1x1 convolution: " + "; ".join(problems))


def _check_input(x: torch.Tensor, in_channels: int) -> None:
    validation.tensor("x", x)
    if x.dim() != 4:
        raise ValueError(
            f"expected a 4-D input N x C x H x W, got a {x.dim()}-D tensor of shape "
            f"{tuple(x.shape)}"
        )
    if x.shape[1] != in_channels:
        raise ValueError(
            f"input has {x.shape[1]} channels but the weight expects {in_channels} "
            f"(input shape {tuple(x.shape)})"
        )


def _weight_matrix(weight: torch.Tensor) -> torch.Tensor:
    """``C_out x C_in`` view of a Linear weight or of a 1x1 Conv2d weight."""
    validation.tensor("weight", weight)
    if weight.dim() == 4:
        if tuple(weight.shape[2:]) != (1, 1):
            raise ValueError(
                f"weight has a {tuple(weight.shape[2:])} kernel, not 1x1 "
                f"(weight shape {tuple(weight.shape)})"
            )
        return weight.reshape(weight.shape[0], weight.shape[1])
    if weight.dim() != 2:
        raise ValueError(
            f"expected a C_out x C_in (or C_out x C_in x 1 x 1) weight, got shape "
            f"{tuple(weight.shape)}"
        )
    return weight


def _check_bias(bias: torch.Tensor | None, out_channels: int) -> None:
    if bias is not None:
        validation.tensor("bias", bias)
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"bias has shape {tuple(bias.shape)}, expected ({out_channels},)")


def pointwise_as_matmul(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """A 1x1 convolution computed as one matrix product over all pixels.

    Why: putting the ``N*H*W`` pixels in rows shows that the whole layer is a single
    ``(N*H*W) x C_in`` by ``C_in x C_out`` matrix product, which is how it is costed and run.

    Args:
        x: input, ``N x C_in x H x W``.
        weight: ``C_out x C_in`` (or ``C_out x C_in x 1 x 1``).
        bias: ``C_out`` values, or ``None``.

    Returns:
        ``N x C_out x H x W``, the same function as ``nn.Conv2d(C_in, C_out, 1)``.

    Raises:
        TypeError: an argument that is not a tensor (``bias`` may be ``None``).
        ValueError: shapes that do not fit together (the message shows them).
    """
    matrix = _weight_matrix(weight)  # C_out x C_in
    _check_input(x, matrix.shape[1])
    _check_bias(bias, matrix.shape[0])
    n, c, h, w = x.shape
    pixels = x.permute(0, 2, 3, 1).reshape(n * h * w, c)  # (N*H*W) x C_in
    out = pixels @ matrix.T  # (N*H*W) x C_out
    if bias is not None:
        out = out + bias
    return out.reshape(n, h, w, -1).permute(0, 3, 1, 2)  # N x C_out x H x W


def pointwise_as_einsum(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """A 1x1 convolution written as the formula ``y[n,o,h,w] = b[o] + sum_c W[o,c] x[n,c,h,w]``.

    Why: the einsum string is the formula itself, index for index, so it is the easiest
    version to check against the math.

    Args:
        x: input, ``N x C_in x H x W``.
        weight: ``C_out x C_in`` (or ``C_out x C_in x 1 x 1``).
        bias: ``C_out`` values, or ``None``.

    Returns:
        ``N x C_out x H x W``.

    Raises:
        TypeError: an argument that is not a tensor (``bias`` may be ``None``).
        ValueError: shapes that do not fit together (the message shows them).
    """
    matrix = _weight_matrix(weight)  # C_out x C_in
    _check_input(x, matrix.shape[1])
    _check_bias(bias, matrix.shape[0])
    out = torch.einsum("oc,nchw->nohw", matrix, x)  # N x C_out x H x W
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


def linear_per_pixel(linear: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """Apply an ``nn.Linear`` to the channel vector of every pixel of ``x``.

    Why: this is the "fully connected layer at every pixel" reading of a 1x1 convolution;
    the input is viewed channels-last so that the channels are the last (feature) axis.

    Args:
        linear: a layer with ``in_features == C_in``.
        x: input, ``N x C_in x H x W``.

    Returns:
        ``N x out_features x H x W``.

    Raises:
        TypeError: ``linear`` is not an ``nn.Linear``, or ``x`` not a tensor.
        ValueError: ``x`` is not ``N x in_features x H x W``.
    """
    validation.module("linear", linear, nn.Linear)
    _check_input(x, linear.in_features)
    channels_last = x.permute(0, 2, 3, 1)  # N x H x W x C_in
    return linear(channels_last).permute(0, 3, 1, 2)  # N x C_out x H x W


def conv1x1_to_linear(conv: nn.Conv2d) -> nn.Linear:
    """The ``nn.Linear`` that computes, per pixel, what a 1x1 ``nn.Conv2d`` computes.

    Why: it makes the equivalence a fact one can hold: same numbers, different module.
    The weights are copied exactly (bit for bit), with the same dtype and device.

    Args:
        conv: a plain 1x1 convolution, any dilation (see :func:`check_pointwise_conv`).

    Returns:
        ``nn.Linear(conv.in_channels, conv.out_channels, bias=conv.bias is not None)``.

    Raises:
        TypeError, ValueError: as :func:`check_pointwise_conv`.
    """
    check_pointwise_conv(conv)
    weight = conv.weight
    linear = nn.Linear(
        conv.in_channels,
        conv.out_channels,
        bias=conv.bias is not None,
        device=weight.device,
        dtype=weight.dtype,
    )
    with torch.no_grad():
        linear.weight.copy_(weight.reshape(conv.out_channels, conv.in_channels))
        if conv.bias is not None:
            linear.bias.copy_(conv.bias)
    return linear


def linear_to_conv1x1(linear: nn.Linear) -> nn.Conv2d:
    """The 1x1 ``nn.Conv2d`` that applies ``linear`` at every pixel.

    Why: the inverse of :func:`conv1x1_to_linear`; it turns a classifier's fully connected
    layer into a convolution that slides over a larger image. Weights are copied exactly.

    Args:
        linear: any ``nn.Linear``.

    Returns:
        ``nn.Conv2d(linear.in_features, linear.out_features, kernel_size=1)``.

    Raises:
        TypeError: ``linear`` is not an ``nn.Linear``.
    """
    validation.module("linear", linear, nn.Linear)
    weight = linear.weight
    conv = nn.Conv2d(
        linear.in_features,
        linear.out_features,
        kernel_size=1,
        bias=linear.bias is not None,
        device=weight.device,
        dtype=weight.dtype,
    )
    with torch.no_grad():
        conv.weight.copy_(weight.reshape(linear.out_features, linear.in_features, 1, 1))
        if linear.bias is not None:
            conv.bias.copy_(linear.bias)
    return conv
