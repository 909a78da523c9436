"""ResNet's bottleneck building block, and the two 3x3 layers it replaces (He et al., 2016).

Why: the deeper ResNets (50, 101, 152 layers) keep 256 or more channels between blocks but do
their 3x3 work at a quarter of that width. A 1x1 convolution reduces 256 channels to 64, a 3x3
convolution works on the 64, and a second 1x1 convolution restores 256 (the paper's Fig. 5,
right). Every convolution is followed by batch normalisation, so none has a bias.

Names follow torchvision's ``resnet.py``: :class:`Bottleneck` (``conv1``, ``conv2``, ``conv3``)
and :class:`BasicBlock` (``conv1``, ``conv2``), here with identity shortcuts only (same channels
in and out, stride 1), the case the chapter compares.
"""

from __future__ import annotations

import torch
from torch import nn

from onebyone import validation

FIRST_STAGE_SIZE = 56
"""Height and width, in pixels, of ResNet-50's first stage (``conv2_x``, the paper's Table 1),
where :class:`Bottleneck`'s default widths (256 and 64) are used: a 224 x 224 image after the
stride-2 stem and the stride-2 max pooling."""


class Bottleneck(nn.Module):
    """1x1 (``channels -> width``), 3x3 (``width -> width``), 1x1 (``width -> channels``).

    Each convolution is followed by batch normalisation; ReLU after the first two and after the
    addition of the identity shortcut, as in the paper.

    Args:
        channels: channels in and out of the block (256 in ResNet-50's first stage).
        width: channels of the 3x3 convolution (64 there).

    Raises:
        TypeError, ValueError: a width that is not a positive integer; in the forward pass, an
            input that is not ``N x channels x H x W``.
    """

    def __init__(self, channels: int = 256, width: int = 64) -> None:
        super().__init__()
        channels, width = validation.check_positive_integers(channels=channels, width=width)
        self.channels, self.width = channels, width
        self.conv1 = nn.Conv2d(channels, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``N x channels x H x W`` to the same shape."""
        validation.tensor_shape("x", x, ("N", self.channels, "H", "W"), owner="Bottleneck")
        out = self.relu(self.bn1(self.conv1(x)))  # N x width x H x W
        out = self.relu(self.bn2(self.conv2(out)))  # N x width x H x W
        out = self.bn3(self.conv3(out))  # N x channels x H x W
        return self.relu(out + x)  # N x channels x H x W


class BasicBlock(nn.Module):
    """Two 3x3 convolutions at ``channels`` (``channels -> channels -> channels``).

    The block of ResNet-18 and -34 (the paper's Fig. 5, left), here at the width of a bottleneck's
    input and output, to show what the bottleneck saves.

    Args:
        channels: channels in, between and out.

    Raises:
        TypeError, ValueError: ``channels`` not a positive integer; in the forward pass, an
            input that is not ``N x channels x H x W``.
    """

    def __init__(self, channels: int = 256) -> None:
        super().__init__()
        channels = validation.positive_integer("channels", channels)
        self.channels = channels
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``N x channels x H x W`` to the same shape."""
        validation.tensor_shape("x", x, ("N", self.channels, "H", "W"), owner="BasicBlock")
        out = self.relu(self.bn1(self.conv1(x)))  # N x channels x H x W
        out = self.bn2(self.conv2(out))  # N x channels x H x W
        return self.relu(out + x)  # N x channels x H x W


def convolution_weights(block: nn.Module) -> int:
    """Weights (scalars) of the convolutions of ``block``; batch normalisation not counted.

    Raises:
        TypeError: ``block`` is not an ``nn.Module``.
    """
    validation.module("block", block)
    return sum(m.weight.numel() for m in block.modules() if isinstance(m, nn.Conv2d))
