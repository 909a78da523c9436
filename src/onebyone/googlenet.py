"""GoogLeNet (Inception v1, Szegedy et al. 2014), stage by stage as in the paper's Table 1.

Why build it: Table 1 of the paper lists, for every stage, the output size, the channels of
every branch, and the parameters and operations; with the network in code, all three can be
recounted (see :mod:`onebyone.table1`). The stages carry the names used there: ``conv1``,
``maxpool1``, ``conv2`` (the table's depth-2 "convolution 3x3/1" row: a 1x1 reduction to 64
then a 3x3 to 192), ``maxpool2``, ``inception3a`` ... ``inception5b``, ``avgpool``, ``dropout``
and ``fc``.

What is left out, on purpose:

- the two auxiliary classifiers (they only help training and are dropped at inference time;
  Table 1 does not list them);
- local response normalisation after ``maxpool1`` and after ``conv2`` (it has no weights and
  costs no MACs in our convention, and later versions of the network dropped it);
- batch normalisation, which came after this paper (torchvision's ``googlenet`` has it).

Every convolution is followed by a ReLU, as in the paper. The max pools use padding 1 instead
of the "ceil mode" of the original Caffe model; both give the table's output sizes.
"""

from __future__ import annotations

import torch
from torch import nn

from onebyone import validation
from onebyone.inception import Inception
from onebyone.layers import conv_relu

INCEPTION_CHANNELS: dict[str, tuple[int, int, int, int, int, int, int]] = {
    # name: (in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj), Table 1
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}
"""The arguments of each :class:`~onebyone.inception.Inception` module of GoogLeNet."""

INCEPTION_ARGUMENTS: tuple[str, ...] = (
    "in_channels", "ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj",
)
"""The names of the numbers of each row of :data:`INCEPTION_CHANNELS` (Inception's arguments)."""

INCEPTION_INPUT_SIZE: dict[str, int] = {
    "inception3a": 28, "inception3b": 28,
    "inception4a": 14, "inception4b": 14, "inception4c": 14, "inception4d": 14,
    "inception4e": 14,
    "inception5a": 7, "inception5b": 7,
}
"""Height and width, in pixels, of each Inception module's input (Table 1's "output size")."""


def inception_arguments(stage: str) -> dict[str, int]:
    """The keyword arguments of GoogLeNet's Inception module ``stage`` (``"inception3a"``).

    Example: ``Inception(**inception_arguments("inception3a"))`` is GoogLeNet's (3a).

    Raises:
        TypeError: ``stage`` is not a str.
        ValueError: ``stage`` is not one of Table 1's Inception rows.
    """
    if not isinstance(stage, str):
        raise TypeError(f"stage must be a str such as 'inception3a', got {stage!r}")
    if stage not in INCEPTION_CHANNELS:
        raise ValueError(f"unknown stage {stage!r}; choose from {sorted(INCEPTION_CHANNELS)}")
    return dict(zip(INCEPTION_ARGUMENTS, INCEPTION_CHANNELS[stage], strict=True))


class GoogLeNet(nn.Module):
    """GoogLeNet for 3 x 224 x 224 images, without auxiliary classifiers or normalisation.

    Why: it is the network of Table 1, built from :class:`~onebyone.inception.Inception` with
    every channel explicit, so its parameters and MACs can be counted before any forward pass.

    Args:
        num_classes: outputs of the final linear layer (1000 for ImageNet).
        dropout: probability of zeroing an input of the final linear layer (0.4 in the paper).

    The forward pass returns logits (N x num_classes); the table's final softmax is left to
    the loss function.

    Raises:
        TypeError, ValueError: ``num_classes`` not a positive integer, ``dropout`` not in
            ``[0, 1)``; in the forward pass, an input that is not ``N x 3 x 224 x 224``.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.4) -> None:
        super().__init__()
        num_classes = validation.positive_integer("num_classes", num_classes)
        dropout = validation.probability("dropout", dropout)
        self.conv1 = conv_relu(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Sequential(
            conv_relu(64, 64, kernel_size=1),
            conv_relu(64, 192, kernel_size=3, padding=1),
        )
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.inception3a = Inception(*INCEPTION_CHANNELS["inception3a"])
        self.inception3b = Inception(*INCEPTION_CHANNELS["inception3b"])
        self.maxpool3 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.inception4a = Inception(*INCEPTION_CHANNELS["inception4a"])
        self.inception4b = Inception(*INCEPTION_CHANNELS["inception4b"])
        self.inception4c = Inception(*INCEPTION_CHANNELS["inception4c"])
        self.inception4d = Inception(*INCEPTION_CHANNELS["inception4d"])
        self.inception4e = Inception(*INCEPTION_CHANNELS["inception4e"])
        self.maxpool4 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.inception5a = Inception(*INCEPTION_CHANNELS["inception5a"])
        self.inception5b = Inception(*INCEPTION_CHANNELS["inception5b"])
        self.avgpool = nn.AvgPool2d(kernel_size=7, stride=1)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch of images; ``x`` is N x 3 x 224 x 224."""
        validation.tensor_shape("x", x, ("N", 3, 224, 224), owner="GoogLeNet")
        x = self.conv1(x)  # N x 64 x 112 x 112
        x = self.maxpool1(x)  # N x 64 x 56 x 56
        x = self.conv2(x)  # N x 192 x 56 x 56
        x = self.maxpool2(x)  # N x 192 x 28 x 28
        x = self.inception3a(x)  # N x 256 x 28 x 28
        x = self.inception3b(x)  # N x 480 x 28 x 28
        x = self.maxpool3(x)  # N x 480 x 14 x 14
        x = self.inception4a(x)  # N x 512 x 14 x 14
        x = self.inception4b(x)  # N x 512 x 14 x 14
        x = self.inception4c(x)  # N x 512 x 14 x 14
        x = self.inception4d(x)  # N x 528 x 14 x 14
        x = self.inception4e(x)  # N x 832 x 14 x 14
        x = self.maxpool4(x)  # N x 832 x 7 x 7
        x = self.inception5a(x)  # N x 832 x 7 x 7
        x = self.inception5b(x)  # N x 1024 x 7 x 7
        x = self.avgpool(x)  # N x 1024 x 1 x 1
        x = torch.flatten(x, 1)  # N x 1024
        x = self.dropout(x)  # N x 1024
        return self.fc(x)  # N x num_classes
