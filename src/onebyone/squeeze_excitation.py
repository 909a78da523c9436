"""The squeeze-and-excitation (SE) block of Hu et al. (2018), with its two fully connected layers
written as 1x1 convolutions.

Why: SE *squeezes* each channel of a feature map to one number (global average pooling), passes
the ``C`` numbers through two fully connected layers (``C -> C/r``, ReLU, ``C/r -> C``, sigmoid)
and *excites* the map by scaling each channel by its result. On the ``1 x 1`` map left after the
pooling, a fully connected layer *is* a 1x1 convolution, so the block never leaves ``N x C x 1 x 1``
tensors. Its weights are ``2 C^2 / r`` per block; summed over a network, the paper's
``(2/r) * sum_s N_s * C_s^2`` for ``N_s`` blocks of ``C_s`` output channels in stage ``s``.
"""

from __future__ import annotations

import torch
from torch import nn

from onebyone import validation

RESNET50_STAGES: tuple[tuple[str, int, int], ...] = (
    ("conv2_x", 3, 256),
    ("conv3_x", 4, 512),
    ("conv4_x", 6, 1024),
    ("conv5_x", 3, 2048),
)
"""ResNet-50's stages (He et al., 2016, Table 1): name, bottleneck blocks, output channels."""


def _channels_and_reduction(channels: object, reduction: object) -> tuple[int, int]:
    channels, reduction = validation.check_positive_integers(channels=channels, reduction=reduction)
    if channels % reduction:
        raise ValueError(f"reduction={reduction!r} must divide channels={channels!r}")
    return channels, reduction


class SqueezeExcitation(nn.Module):
    """Global average pool, 1x1 conv ``C -> C/r``, ReLU, 1x1 conv ``C/r -> C``, sigmoid, scale.

    Args:
        channels: ``C``.
        reduction: ``r``, dividing ``C`` (16 in the paper).

    Raises:
        TypeError, ValueError: sizes that are not positive integers, ``r`` not dividing ``C``;
            in the forward pass, an input that is not ``N x C x H x W``.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        channels, reduction = _channels_and_reduction(channels, reduction)
        self.channels = channels
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, kernel_size=1)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv2d(channels // reduction, channels, kernel_size=1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale each channel of the ``N x C x H x W`` input by its excitation."""
        validation.tensor_shape("x", x, ("N", self.channels, "H", "W"), owner="SqueezeExcitation")
        z = self.squeeze(x)  # N x C x 1 x 1
        s = self.sigmoid(self.fc2(self.relu(self.fc1(z))))  # N x C x 1 x 1
        return x * s  # N x C x H x W


def se_weights(channels: int, reduction: int = 16) -> int:
    """Weights of one SE block, biases not counted: ``2 C^2 / r``.

    Raises:
        TypeError, ValueError: sizes that are not positive integers, ``r`` not dividing ``C``.
    """
    channels, reduction = _channels_and_reduction(channels, reduction)
    return 2 * channels * (channels // reduction)


def se_added_weights(stages: tuple[tuple[str, int, int], ...] = RESNET50_STAGES,
                     reduction: int = 16) -> dict[str, int]:
    """Weights SE adds to each stage, by stage name (biases not counted).

    One SE block sits on the residual branch of every bottleneck: after its last 1x1 convolution
    and batch norm, before the sum with the identity (Hu et al., 2018, Fig. 3).

    Raises:
        TypeError, ValueError: ``stages`` not ``(name, blocks, channels)`` triples of a string
            and two positive integers, or a bad ``reduction`` (as :func:`se_weights`).
    """
    if isinstance(stages, (str, bytes)) or not isinstance(stages, (tuple, list)):
        raise TypeError(f"stages must be a tuple of (name, blocks, channels), got {stages!r}")
    for stage in stages:
        if not isinstance(stage, (tuple, list)) or len(stage) != 3 or not isinstance(stage[0], str):
            raise ValueError(f"each of stages must be (name, blocks, channels), got {stage!r}")
        validation.positive_integer(f"blocks of stage {stage[0]!r}", stage[1])
    return {name: blocks * se_weights(channels, reduction) for name, blocks, channels in stages}
