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
from torch.utils.flop_counter import FlopCounterMode

from onebyone import validation


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

    Raises:
        TypeError: an argument that is not an integer or a pair of integers.
        ValueError: a size, kernel, stride or dilation below 1, a negative padding, or a
            kernel that does not fit in the padded input.
    """
    sizes = []
    for size, k, s, p, d in zip(
        validation.integer_pair("input_size", input_size),
        validation.integer_pair("kernel_size", kernel_size),
        validation.integer_pair("stride", stride),
        validation.integer_pair("padding", padding, minimum=0),
        validation.integer_pair("dilation", dilation),
        strict=True,
    ):
        out = (size + 2 * p - d * (k - 1) - 1) // s + 1
        if out < 1:
            raise ValueError(f"the kernel does not fit: input {size}, kernel {k} -> output {out}")
        sizes.append(out)
    return sizes[0], sizes[1]


def _channels_and_groups(
    in_channels: object, out_channels: object, groups: object
) -> tuple[int, int, int]:
    in_channels, out_channels, groups = validation.check_positive_integers(
        in_channels=in_channels, out_channels=out_channels, groups=groups
    )
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"groups={groups!r} must divide both in_channels={in_channels!r} and "
            f"out_channels={out_channels!r}"
        )
    return in_channels, out_channels, groups


def conv2d_parameters(
    in_channels: int,
    out_channels: int,
    kernel_size: int | tuple[int, int],
    groups: int = 1,
    bias: bool = True,
) -> int:
    """Number of parameters (scalars) of an ``nn.Conv2d``.

    ``C_out * (C_in / groups) * k_h * k_w`` weights, plus ``C_out`` biases when ``bias``.

    Raises:
        TypeError: a count that is not an integer, or ``bias`` not a bool.
        ValueError: a count below 1, or ``groups`` not dividing both channel counts.
    """
    in_channels, out_channels, groups = _channels_and_groups(in_channels, out_channels, groups)
    k_h, k_w = validation.integer_pair("kernel_size", kernel_size)
    bias = validation.boolean("bias", bias)
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

    Raises:
        TypeError: a count or size that is not an integer (or a pair of them).
        ValueError: a count or size below 1, or ``groups`` not dividing both channel counts.
    """
    in_channels, out_channels, groups = _channels_and_groups(in_channels, out_channels, groups)
    k_h, k_w = validation.integer_pair("kernel_size", kernel_size)
    h_out, w_out = validation.integer_pair("output_size", output_size)
    batch_size = validation.positive_integer("batch_size", batch_size)
    return batch_size * out_channels * h_out * w_out * (in_channels // groups) * k_h * k_w


def linear_macs(in_features: int, out_features: int, rows: int = 1) -> int:
    """Multiply-accumulates (MACs) of an ``nn.Linear`` applied to ``rows`` input vectors.

    Raises:
        TypeError, ValueError: an argument that is not a positive integer.
    """
    in_features, out_features, rows = validation.check_positive_integers(
        in_features=in_features, out_features=out_features, rows=rows
    )
    return rows * in_features * out_features


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (scalars) of a module, biases included.

    Args:
        module: any module; lazy (uninitialised) parameters are refused, since they cannot be
            counted before a forward pass.
        trainable_only: count only parameters with ``requires_grad``.

    Raises:
        TypeError: ``module`` is not an ``nn.Module``, or ``trainable_only`` not a bool.
        ValueError: a lazy (uninitialised) parameter.
    """
    validation.module("module", module)
    trainable_only = validation.boolean("trainable_only", trainable_only)
    total = 0
    for name, parameter in module.named_parameters():
        if isinstance(parameter, nn.parameter.UninitializedParameter):
            raise ValueError(
                f"parameter {name!r} is lazy (uninitialised): run one forward pass first, "
                "or give the layer explicit sizes"
            )
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


_COUNTED = (nn.Conv2d, nn.Linear)
"""The layer types :func:`count_model` counts; exactly these types, not subclasses."""


def _check_countable(model: nn.Module) -> None:
    """Refuse lazy layers and layer types whose cost :func:`count_model` would not count."""
    for name, layer in model.named_modules():
        where = f"layer {name or '(the model itself)'!r} ({type(layer).__name__})"
        if any(
            isinstance(parameter, nn.parameter.UninitializedParameter)
            for parameter in layer.parameters(recurse=False)
        ):
            raise ValueError(
                f"{where} is lazy (uninitialised parameters): run one forward pass first, or "
                "build it with explicit sizes"
            )
        if type(layer) not in _COUNTED and isinstance(
            layer, (nn.modules.conv._ConvNd, nn.Linear, nn.Bilinear)
        ):
            raise ValueError(
                f"{where} cannot be counted: count_model counts nn.Conv2d and nn.Linear layers "
                "only, and would silently leave this one out"
            )


def _expected_input(module: nn.Module, x: torch.Tensor) -> tuple[int | str, ...]:
    if isinstance(module, nn.Conv2d):  # batched N x C x H x W, or one unbatched C x H x W
        return (
            (module.in_channels, "H", "W") if x.dim() == 3 else ("N", module.in_channels, "H", "W")
        )
    return ("...", module.in_features)


def floating_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of ``model``'s first floating-point parameter or buffer (float32 if none).

    Why: an input must be in the model's dtype to run through it; the dtype changes no count.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
    """
    validation.module("model", model)
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def count_model(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerCost]:
    """Cost of every ``Conv2d`` and ``Linear`` in ``model`` for an input of ``input_shape``.

    Why: MACs depend on the spatial size each layer sees, so a model is walked with one forward
    pass. The pass runs on a copy of the model on PyTorch's ``meta`` device, which tracks
    shapes without computing or allocating anything, so even GoogLeNet costs nothing to count.
    The same pass runs under ``torch.utils.flop_counter.FlopCounterMode``: any convolution or
    matrix product that no ``Conv2d`` or ``Linear`` layer accounts for (an ``F.conv2d`` or a
    ``@`` written in a ``forward``) is refused rather than silently left out.

    Args:
        model: the model (it is not modified or moved), in any floating-point dtype (the input
            is made in the dtype of its first floating-point parameter; MACs do not depend on
            it).
        input_shape: e.g. ``(1, 3, 224, 224)``, positive sizes.

    Returns:
        One :class:`LayerCost` per layer call, in execution order. Sum ``.macs`` for the model's
        MACs; a layer called twice appears twice.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, or ``input_shape`` not a tuple of ints.
        ValueError: a size below 1; a lazy layer; a layer type other than ``Conv2d`` and
            ``Linear`` that computes convolutions or products (``Conv1d``, ``Conv3d``,
            ``ConvTranspose2d``, subclasses...); a forward pass that computes FLOPs outside
            such layers; an input shape the model cannot take (the message names the layer's
            expected shape and the given one).
    """
    validation.module("model", model)
    input_shape = validation.shape("input_shape", input_shape)
    _check_countable(model)
    meta_model = copy.deepcopy(model).to("meta")
    names = {module: name for name, module in meta_model.named_modules()}
    costs: list[LayerCost] = []

    def check_input(module: nn.Module, args: tuple) -> None:
        validation.tensor_shape(
            "its input",
            args[0],
            _expected_input(module, args[0]),
            owner=f"layer {names[module] or '(the model itself)'!r} "
            f"({type(module).__name__}) of a model given input_shape {input_shape}",
        )

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

    layers = [module for module in meta_model.modules() if type(module) in _COUNTED]
    handles = [layer.register_forward_pre_hook(check_input) for layer in layers]
    handles += [layer.register_forward_hook(record) for layer in layers]
    counter = FlopCounterMode(display=False)
    dtype = floating_dtype(meta_model)
    try:
        with torch.no_grad(), counter:
            meta_model(torch.empty(input_shape, device="meta", dtype=dtype))
    except RuntimeError as error:
        raise ValueError(
            f"{type(model).__name__} cannot run on a {str(dtype).removeprefix('torch.')} input "
            f"of shape {input_shape}: {error}"
        ) from error
    finally:
        for handle in handles:
            handle.remove()
    counted = sum(layer.macs for layer in costs)
    flops = counter.get_total_flops()
    if flops != 2 * counted:
        operations = counter.get_flop_counts().get("Global", {})
        raise ValueError(
            f"{type(model).__name__}'s forward pass does {flops // 2} MACs "
            f"({', '.join(f'{op}: {n // 2}' for op, n in operations.items())}) but its Conv2d "
            f"and Linear layers account for {counted}: it computes convolutions or products "
            "outside such layers (F.conv2d, a matmul in forward), which count_model cannot "
            "attribute to a layer"
        )
    return costs


def model_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Total multiply-accumulates (MACs) of ``model`` on an input of ``input_shape``.

    Raises:
        TypeError, ValueError: as :func:`count_model`, which it sums.
    """
    return sum(layer.macs for layer in count_model(model, input_shape))
