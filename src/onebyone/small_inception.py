"""A small Inception network for 8 x 8 digit images, to train next to Chapter 3's NiN.

Why: GoogLeNet needs ImageNet and a GPU week; the idea it is built on does not. This network
keeps GoogLeNet's layout at the scale of 8 x 8 digits: a plain convolution as the stem, two
:class:`~onebyone.inception.Inception` modules with a max pool between them, then global
average pooling, dropout and one linear layer, as GoogLeNet's head (which itself took global
average pooling from Network in Network). Its widths are chosen so that its parameter count is
close to :class:`~onebyone.nin.SmallNiN`'s, so that the two can be compared on the same digits
with the same training loop.

Shape comments assume an ``N x 1 x 8 x 8`` input.
"""

from __future__ import annotations

import torch
from torch import nn

from onebyone import validation
from onebyone.inception import Inception
from onebyone.layers import conv_relu, init_he_normal


class SmallInceptionNet(nn.Module):
    """Stem convolution, two Inception modules, global average pooling and a linear classifier.

    Why: see the module docstring. Each Inception module looks at every pixel through a 1x1, a
    3x3 and a 5x5 window at once, with 1x1 reductions keeping the 3x3 and 5x5 branches cheap.

    Args:
        in_channels: channels of the input images (1 for grey digits).
        num_classes: number of classes (10 digits).
        dropout: probability of zeroing an input of the linear classifier.

    Weights are drawn with He et al.'s normal initialisation, as for Chapter 3's networks
    (:func:`onebyone.layers.init_he_normal`); seed PyTorch before building the model.

    Raises:
        TypeError, ValueError: a count that is not a positive integer, ``dropout`` not in
            ``[0, 1)``; in the forward pass, an input without ``in_channels`` channels.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, dropout: float = 0.25) -> None:
        super().__init__()
        in_channels, num_classes = validation.check_positive_integers(
            in_channels=in_channels, num_classes=num_classes
        )
        dropout = validation.probability("dropout", dropout)
        self.in_channels = in_channels
        self.stem = conv_relu(in_channels, 32, kernel_size=3, padding=1)
        self.inception1 = Inception(
            32, ch1x1=16, ch3x3red=16, ch3x3=24, ch5x5red=4, ch5x5=8, pool_proj=8
        )
        self.maxpool = nn.MaxPool2d(kernel_size=2)
        self.inception2 = Inception(
            self.inception1.out_channels,
            ch1x1=24,
            ch3x3red=24,
            ch3x3=32,
            ch5x5red=8,
            ch5x5=16,
            pool_proj=16,
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.inception2.out_channels, num_classes)
        init_he_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``N x in_channels x 8 x 8`` images to ``N x num_classes`` class scores."""
        validation.tensor_shape(
            "x", x, ("N", self.in_channels, "H", "W"), owner="SmallInceptionNet"
        )
        x = self.stem(x)  # N x 32 x 8 x 8
        x = self.inception1(x)  # N x 56 x 8 x 8
        x = self.maxpool(x)  # N x 56 x 4 x 4
        x = self.inception2(x)  # N x 88 x 4 x 4
        x = self.avgpool(x)  # N x 88 x 1 x 1
        x = torch.flatten(x, 1)  # N x 88
        x = self.dropout(x)  # N x 88
        return self.fc(x)  # N x num_classes
