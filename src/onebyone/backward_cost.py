"""What training a 1x1 convolution costs beyond its forward pass: two more matrix products, and
the activations kept for them.

Why: a 1x1 convolution is the product ``Y = W X`` of its ``C_out x C_in`` weight with the
``C_in x (N H W)`` matrix of its input's pixels. Given the gradient ``dY`` of the loss with respect
to the output, backpropagation needs

- ``dX = W^T dY``: the gradient with respect to the input, ``C_in x (N H W)``;
- ``dW = dY X^T``: the gradient with respect to the weight, ``C_out x C_in``;

each a product with the same ``N H W * C_in * C_out`` multiply-accumulates (MACs) as the forward
pass. A training step of the layer is therefore three times its forward MACs (two without ``dX``,
for a first layer whose input needs no gradient). And ``dW`` needs ``X``: autograd *saves* the
input of every convolution until the backward pass, so activation memory grows with the widths
of the feature maps a block keeps.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from onebyone import validation
from onebyone.cost import conv2d_macs, floating_dtype


def pointwise_training_macs(batch_size: int, in_channels: int, out_channels: int, height: int,
                            width: int, input_requires_grad: bool = True) -> dict[str, int]:
    """MACs of a 1x1 convolution's forward pass and of the two products of its backward pass.

    Args:
        batch_size, in_channels, out_channels: ``N``, ``C_in``, ``C_out``.
        height, width: pixels (a 1x1 kernel keeps them).
        input_requires_grad: whether ``dX`` is computed (not for a network's first layer).

    Returns:
        ``{"forward": ..., "grad_input": ..., "grad_weight": ...}`` in MACs (``grad_input`` is 0
        when not needed); FLOPs are twice these.

    Raises:
        TypeError, ValueError: a size that is not a positive integer, or
            ``input_requires_grad`` not a bool.
    """
    # conv2d_macs checks the batch size and channel counts by the same names; the pixels are
    # checked here, where they are named height and width rather than output_size.
    validation.check_positive_integers(height=height, width=width)
    input_requires_grad = validation.boolean("input_requires_grad", input_requires_grad)
    macs = conv2d_macs(in_channels, out_channels, 1, (height, width), batch_size=batch_size)
    return {"forward": macs, "grad_input": macs if input_requires_grad else 0,
            "grad_weight": macs}


def saved_activation_bytes(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of ``model`` (not its weights).

    Why: this is what a training step holds in memory between its forward and backward passes,
    measured rather than derived: every tensor autograd saves passes through a
    ``torch.autograd.graph.saved_tensors_hooks`` hook; parameters are left out, and a tensor
    saved twice (by two operations) is counted once.

    Args:
        model: not changed: a copy of it is run in training mode (so its batch-norm
            statistics and the caller's mode stay as they were) on an input of zeros, in the
            model's floating-point dtype, that requires a gradient, as the input of a layer
            inside a network does. The bytes do not depend on the input's values, and the
            global random generator is left as it was (dropout draws from a forked one).
        input_shape: e.g. ``(1, 256, 56, 56)``.

    Returns:
        Bytes, for the whole batch.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, or ``input_shape`` not a tuple of ints.
        ValueError: a size below 1.
    """
    validation.module("model", model)
    input_shape = validation.shape("input_shape", input_shape)
    model = copy.deepcopy(model).train()  # the caller's model, its statistics and mode untouched
    parameters = {parameter.data_ptr() for parameter in model.parameters()}
    seen: dict[tuple[int, int, tuple[int, ...]], int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        key = (tensor.data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        if tensor.data_ptr() not in parameters:
            seen[key] = tensor.numel() * tensor.element_size()
        return tensor

    x = torch.zeros(input_shape, dtype=floating_dtype(model), requires_grad=True)  # input_shape
    with torch.random.fork_rng(devices=[]), \
            torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(x)
    return sum(seen.values())
