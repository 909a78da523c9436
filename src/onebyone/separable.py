"""The depthwise-separable convolution of MobileNet (Howard et al., 2017).

Why: a standard ``k x k`` convolution filters and combines channels in one step; MobileNet
splits it in two: a *depthwise* ``k x k`` convolution that filters each input channel on its own
(``groups = C_in``), then a *pointwise* 1x1 convolution that combines the filtered channels. Each
is followed by batch normalisation and a ReLU (the paper's Fig. 3). With ``M`` input channels,
``N`` output channels and ``D_F x D_F`` output pixels, the costs in multiply-accumulates (MACs)
are::

    standard:   D_K^2 * M * N * D_F^2
    separable:  D_K^2 * M * D_F^2  +  M * N * D_F^2

and their ratio is ``1/N + 1/D_K^2`` (:func:`separable_cost_ratio`).
"""

from __future__ import annotations

import torch
from torch import nn

from onebyone import validation
from onebyone.perf.roofline import Workload


class DepthwiseSeparable(nn.Module):
    """Depthwise ``k x k`` conv, BN, ReLU, then pointwise 1x1 conv, BN, ReLU (no biases).

    Args:
        in_channels, out_channels: ``M`` and ``N``.
        stride: of the depthwise convolution (the pointwise one always has stride 1).
        kernel_size: ``D_K``, odd; padding keeps the size at stride 1.

    Raises:
        TypeError, ValueError: a count that is not a positive integer, an even kernel; in the
            forward pass, an input that is not ``N x in_channels x H x W``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 kernel_size: int = 3) -> None:
        super().__init__()
        in_channels, out_channels, stride = validation.check_positive_integers(
            in_channels=in_channels, out_channels=out_channels, stride=stride)
        kernel_size = validation.odd_kernel("kernel_size", kernel_size)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, stride=stride,
                                   padding=kernel_size // 2, groups=in_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.pointwise = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``N x M x H x W`` to ``N x N_out x D_F x D_F``."""
        validation.tensor_shape("x", x, ("N", self.in_channels, "H", "W"),
                                owner="DepthwiseSeparable")
        x = self.relu(self.bn1(self.depthwise(x)))  # N x M x D_F x D_F
        return self.relu(self.bn2(self.pointwise(x)))  # N x N_out x D_F x D_F


def separable_cost_ratio(out_channels: int, kernel_size: int) -> float:
    """MACs of a depthwise-separable convolution over those of the standard one: ``1/N + 1/k^2``.

    The same ratio holds for the weights. It does not depend on the input channels or the size.

    Raises:
        TypeError, ValueError: an argument that is not a positive integer.
    """
    out_channels, kernel_size = validation.check_positive_integers(
        out_channels=out_channels, kernel_size=kernel_size)
    return 1 / out_channels + 1 / kernel_size**2


def depthwise_conv_workload(batch_size: int, channels: int, height: int, width: int,
                            kernel_size: int = 3, bytes_per_element: int = 4) -> Workload:
    """FLOPs and least bytes moved by a stride-1 depthwise convolution (no bias).

    Why: each output element is ``k^2`` MACs over one input channel, so the arithmetic per
    element moved is fixed by the kernel, not by the channels::

        FLOPs = 2 * N*C*H*W * k^2
        bytes = (N*C*H*W + C*k^2 + N*C*H*W) * bytes_per_element

    so the intensity tends to ``k^2 / bytes_per_element`` FLOP/byte (2.25 for 3x3 in float32),
    whatever the width, where a 1x1 convolution's grows with its channels
    (:func:`onebyone.perf.roofline.pointwise_conv_workload`).

    Args:
        batch_size, channels, height, width: ``N``, ``C``, ``H``, ``W`` (pixels, kept at stride 1).
        kernel_size: ``k``, odd: "same" padding ``k // 2`` keeps ``H x W`` only for an odd
            kernel (an even one would give ``(H + 1) x (W + 1)`` outputs and other FLOPs).
        bytes_per_element: 4 for float32.

    Raises:
        TypeError, ValueError: an argument that is not a positive integer, or an even
            ``kernel_size``.
    """
    batch_size, channels, height, width, bytes_per_element = (
        validation.check_positive_integers(
            batch_size=batch_size, channels=channels, height=height, width=width,
            bytes_per_element=bytes_per_element))
    kernel_size = validation.odd_kernel("kernel_size", kernel_size)
    elements = batch_size * channels * height * width
    flops = 2 * elements * kernel_size**2
    return Workload(flops=flops,
                    bytes_moved=(2 * elements + channels * kernel_size**2) * bytes_per_element)
