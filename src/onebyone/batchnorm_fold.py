"""Folding batch normalisation into the convolution before it, for inference.

Why: at inference batch normalisation uses fixed statistics, so it is an affine map per channel,
``y = gamma * (z - mu) / sqrt(var + eps) + beta``, applied to the convolution's output
``z = W x + b``. Writing ``s = gamma / sqrt(var + eps)``, the pair is one convolution with::

    W' = s * W        (each output channel's filter scaled by its s)
    b' = s * (b - mu) + beta

so a deployed network runs one 1x1 convolution where training ran two layers.
"""

from __future__ import annotations

import torch
from torch import nn

from onebyone import validation


def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """One ``nn.Conv2d`` equal to ``bn(conv(x))`` with ``bn`` in eval mode (running statistics).

    Args:
        conv: any ``nn.Conv2d`` (with or without bias); it is not modified.
        bn: the ``nn.BatchNorm2d`` after it, with running statistics.

    Returns:
        A new convolution of the same shape, always with a bias.

    Raises:
        TypeError: ``conv`` is not an ``nn.Conv2d`` or ``bn`` not an ``nn.BatchNorm2d``.
        ValueError: ``bn`` has no running statistics, or not one per output channel of ``conv``.
    """
    validation.module("conv", conv, nn.Conv2d)
    validation.module("bn", bn, nn.BatchNorm2d)
    if bn.num_features != conv.out_channels or bn.running_var is None:
        raise ValueError(
            f"bn must have running statistics for conv's {conv.out_channels} output channels, "
            f"got num_features={bn.num_features}, track_running_stats={bn.track_running_stats}"
        )
    folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                       conv.padding, conv.dilation, conv.groups, bias=True,
                       padding_mode=conv.padding_mode, device=conv.weight.device,
                       dtype=conv.weight.dtype)
    with torch.no_grad():
        scale = bn.running_var.add(bn.eps).rsqrt()  # C_out
        if bn.weight is not None:
            scale = scale * bn.weight
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        folded.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        shift = bn.bias if bn.bias is not None else torch.zeros_like(bn.running_mean)
        folded.bias.copy_(scale * (bias - bn.running_mean) + shift)
    return folded
