"""What a layer costs: parameters, and multiply-accumulates (MACs).

Units, used everywhere in the book:

- **parameters**: a count of scalars (weights, plus biases where stated).
- **MACs**: multiply-accumulates, one multiplication and one addition. A ``C_in -> C_out``
  convolution with a ``k_h x k_w`` kernel does ``C_out * H_out * W_out * (C_in / groups) *
  k_h * k_w`` MACs per image. Bias additions, activations, pooling and normalisation are not
  counted: they are a lower-order term, and the papers this book reproduces leave them out too.
- **FLOPs** are ``2 x MACs`` (one multiply plus one add), the unit of
  ``torch.utils.flop_counter.FlopCounterMode``. The book says which unit it means every time.

The formulas are written out by hand so that a chapter can derive them; :func:`count_model`
walks a whole model and is cross-checked against ``FlopCounterMode`` in the tests.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    pair = tuple(value)
    if len(pair) != 2:
        raise ValueError(f"expected an int or a pair of ints, got {value!r}")
    return pair  # type: ignore[return-value]


def conv2d_output_size(
    input_size: int | tuple[int, int],
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
) -> tuple[int, int]:
    """Height and width (pixels) of a convolution's or pooling's output.

    ``out = floor((in + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1`` on each axis,
    the formula of ``nn.Conv2d``'s documentation.

    Args:
        input_size: ``H`` or ``(H, W)`` of the input, in pixels.
        kernel_size, stride, padding, dilation: as for ``nn.Conv2d`` (integer padding only).

    Returns:
        ``(H_out, W_out)`` in pixels.
    """
    sizes = []
    for size, k, s, p, d in zip(
        _pair(input_size),
        _pair(kernel_size),
        _pair(stride),
        _pair(padding),
        _pair(dilation),
        strict=True,
    ):
        out = (size + 2 * p - d * (k - 1) - 1) // s + 1
        if out < 1:
            raise ValueError(f"the kernel does not fit: input {size}, kernel {k} -> output {out}")
        sizes.append(out)
    return sizes[0], sizes[1]


def conv2d_parameters(
    in_channels: int,
    out_channels: int,
    kernel_size: int | tuple[int, int],
    groups: int = 1,
    bias: bool = True,
) -> int:
    """Number of parameters (scalars) of an ``nn.Conv2d``.

    ``C_out * (C_in / groups) * k_h * k_w`` weights, plus ``C_out`` biases when ``bias``.
    """
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"groups={groups} must divide both {in_channels} and {out_channels}")
    k_h, k_w = _pair(kernel_size)
    weights = out_channels * (in_channels // groups) * k_h * k_w
    return weights + (out_channels if bias else 0)


def conv2d_macs(
    in_channels: int,
    out_channels: int,
    kernel_size: int | tuple[int, int],
    output_size: int | tuple[int, int],
    groups: int = 1,
    batch_size: int = 1,
) -> int:
    """Multiply-accumulates (MACs) of an ``nn.Conv2d``; bias additions are not counted.

    Every one of the ``batch_size * C_out * H_out * W_out`` outputs is a dot product of length
    ``(C_in / groups) * k_h * k_w``.

    Args:
        in_channels, out_channels, kernel_size, groups: as for ``nn.Conv2d``.
        output_size: ``H_out`` or ``(H_out, W_out)`` in pixels (see :func:`conv2d_output_size`).
        batch_size: images in the batch.

    Returns:
        MACs (FLOPs are twice this).
    """
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"groups={groups} must divide both {in_channels} and {out_channels}")
    k_h, k_w = _pair(kernel_size)
    h_out, w_out = _pair(output_size)
    return batch_size * out_channels * h_out * w_out * (in_channels // groups) * k_h * k_w


def linear_macs(in_features: int, out_features: int, rows: int = 1) -> int:
    """Multiply-accumulates (MACs) of an ``nn.Linear`` applied to ``rows`` input vectors."""
    return rows * in_features * out_features


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (scalars) of a module, biases included.

    Args:
        module: any module; lazy (uninitialised) parameters are refused, since they cannot be
            counted before a forward pass.
        trainable_only: count only parameters with ``requires_grad``.
    """
    total = 0
    for name, parameter in module.named_parameters():
        if isinstance(parameter, nn.parameter.UninitializedParameter):
            raise ValueError(f"parameter {name!r} is lazy: give the layer explicit sizes")
        if trainable_only and not parameter.requires_grad:
            continue
        total += parameter.numel()
    return total


@dataclass(frozen=True)
class LayerCost:
    """The cost of one ``Conv2d`` or ``Linear`` in a model, for one forward pass.

    Attributes:
        name: the module's qualified name in the model (``"inception3a.branch2.0"``).
        kind: ``"Conv2d"`` or ``"Linear"``.
        input_shape, output_shape: tensor shapes seen in the forward pass.
        parameters: scalars in the layer (weights and biases).
        macs: multiply-accumulates for the whole batch.
    """

    name: str
    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    parameters: int
    macs: int


def _layer_macs(module: nn.Module, inputs: torch.Tensor, output: torch.Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        batch = output.shape[0] if output.dim() == 4 else 1
        return conv2d_macs(
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            tuple(output.shape[-2:]),
            groups=module.groups,
            batch_size=batch,
        )
    rows = inputs.numel() // module.in_features
    return linear_macs(module.in_features, module.out_features, rows)


def count_model(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerCost]:
    """Cost of every ``Conv2d`` and ``Linear`` in ``model`` for an input of ``input_shape``.

    Why: MACs depend on the spatial size each layer sees, so a model is walked with one forward
    pass. The pass runs on a copy of the model on PyTorch's ``meta`` device, which tracks
    shapes without computing or allocating anything, so even GoogLeNet costs nothing to count.

    Args:
        model: the model (it is not modified or moved).
        input_shape: e.g. ``(1, 3, 224, 224)``.

    Returns:
        One :class:`LayerCost` per layer call, in execution order. Sum ``.macs`` for the model's
        MACs; a layer called twice appears twice.
    """
    meta_model = copy.deepcopy(model).to("meta")
    names = {module: name for name, module in meta_model.named_modules()}
    costs: list[LayerCost] = []

    def record(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        costs.append(
            LayerCost(
                name=names[module],
                kind=type(module).__name__,
                input_shape=tuple(args[0].shape),
                output_shape=tuple(output.shape),
                parameters=count_parameters(module),
                macs=_layer_macs(module, args[0], output),
            )
        )

    handles = [
        module.register_forward_hook(record)
        for module in meta_model.modules()
        if isinstance(module, (nn.Conv2d, nn.Linear))
    ]
    try:
        with torch.no_grad():
            meta_model(torch.empty(input_shape, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return costs


def model_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Total multiply-accumulates (MACs) of ``model`` on an input of ``input_shape``."""
    return sum(layer.macs for layer in count_model(model, input_shape))
