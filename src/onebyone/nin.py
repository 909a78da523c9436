"""Network in Network (Lin, Chen and Yan, 2014), scaled down to 8 x 8 digit images.

Why: a convolution applies one linear filter bank to every patch, then a ReLU. Network in
Network replaces that by a small multilayer perceptron slid over the image: the "mlpconv"
layer. In the paper (and in its Caffe code) an mlpconv layer is a ``k x k`` convolution followed
by two 1x1 convolutions, each followed by a ReLU; the 1x1 convolutions are the paper's
"cascaded cross channel parametric pooling" (``cccp``) layers, and together they are the same
two-layer MLP applied to the channel vector of every pixel. The paper's second idea is the
head: the last mlpconv layer outputs one feature map per class, and a global average pooling
turns each map into a class score, where earlier networks flattened the maps into fully
connected layers holding most of their parameters.

This module holds the mlpconv block, a small NiN following the paper's layout (three mlpconv
layers, max pooling and dropout between them, a global average pooling head) and, for
comparison, a plain CNN of similar size with a fully connected head. Channels are explicit
everywhere, so both can be costed (:mod:`onebyone.cost`) before any forward pass.

Shape comments assume the default widths and an ``N x 1 x 8 x 8`` input.
"""

from __future__ import annotations

import torch
from torch import nn

from onebyone import validation
from onebyone.layers import init_he_normal
from onebyone.pointwise import conv1x1_to_linear


class MlpConv(nn.Module):
    """One mlpconv layer: ``k x k`` convolution, then a per-pixel two-layer MLP (two 1x1 convs).

    Why: the ``k x k`` convolution gathers a neighbourhood; the two 1x1 convolutions with their
    ReLUs make the function computed on each neighbourhood non-linear in a learned way, at the
    cost of ``C x C`` weights per 1x1 layer, far fewer than another ``k x k`` layer.

    Args:
        in_channels: channels of the input.
        hidden_channels: channels of the ``k x k`` convolution and of the first 1x1 convolution
            (the MLP's hidden width).
        out_channels: channels of the second 1x1 convolution (the block's output).
        kernel_size: ``k``, the side of the spatial kernel, in pixels.
        padding: zero padding of the spatial convolution, in pixels (``k // 2`` keeps the size).
        stride: stride of the spatial convolution, in pixels.
        final_relu: apply a ReLU after the last 1x1 convolution, as the authors' released model
            does in every mlpconv layer (including the last, before global average pooling).

    Raises:
        TypeError, ValueError: a size that is not a positive integer (``padding``: negative),
            ``final_relu`` not a bool; in the forward pass, an input that is not
            ``N x in_channels x H x W``.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        kernel_size: int,
        padding: int = 0,
        stride: int = 1,
        final_relu: bool = True,
    ) -> None:
        super().__init__()
        in_channels, hidden_channels, out_channels, kernel_size, stride = (
            validation.check_positive_integers(
                in_channels=in_channels,
                hidden_channels=hidden_channels,
                out_channels=out_channels,
                kernel_size=kernel_size,
                stride=stride,
            )
        )
        padding = validation.non_negative_integer("padding", padding)
        self.in_channels = in_channels
        self.conv = nn.Conv2d(in_channels, hidden_channels, kernel_size, stride, padding)
        self.cccp1 = nn.Conv2d(hidden_channels, hidden_channels, kernel_size=1)
        self.cccp2 = nn.Conv2d(hidden_channels, out_channels, kernel_size=1)
        self.relu = nn.ReLU()
        self.final_relu = validation.boolean("final_relu", final_relu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``N x in_channels x H x W`` to ``N x out_channels x H' x W'``."""
        validation.tensor_shape("x", x, ("N", self.in_channels, "H", "W"), owner="MlpConv")
        x = self.relu(self.conv(x))  # N x hidden x H' x W'
        x = self.relu(self.cccp1(x))  # N x hidden x H' x W'
        x = self.cccp2(x)  # N x out x H' x W'
        if self.final_relu:
            x = self.relu(x)  # N x out x H' x W'
        return x


def per_pixel_mlp(block: MlpConv) -> nn.Sequential:
    """The MLP (``nn.Linear`` layers) that ``block``'s two 1x1 convolutions apply at every pixel.

    Why: it makes the paper's claim concrete: after the spatial convolution, an mlpconv layer
    is an ordinary fully connected network applied to each pixel's channel vector. The weights
    are copied exactly from the 1x1 convolutions (see :func:`onebyone.pointwise.conv1x1_to_linear`).

    Args:
        block: an :class:`MlpConv`.

    Returns:
        ``Linear(hidden, hidden), ReLU, Linear(hidden, out)`` and a final ``ReLU`` when the block
        has one; apply it to inputs whose last axis holds the channels.

    Raises:
        TypeError: ``block`` is not an :class:`MlpConv`.
    """
    validation.module("block", block, MlpConv)
    layers: list[nn.Module] = [
        conv1x1_to_linear(block.cccp1),
        nn.ReLU(),
        conv1x1_to_linear(block.cccp2),
    ]
    if block.final_relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _three_widths(channels: object) -> tuple[int, int, int]:
    if isinstance(channels, (str, bytes)) or not isinstance(channels, (tuple, list)):
        raise TypeError(f"channels must be a tuple of three widths, got {channels!r}")
    if len(channels) != 3:
        raise ValueError(f"channels must be three channel widths, got {channels!r}")
    return validation.check_positive_integers(
        **{f"channels[{i}]": c for i, c in enumerate(channels)}
    )


class SmallNiN(nn.Module):
    """A small Network in Network: three mlpconv layers and a global average pooling head.

    Why: it follows the paper's CIFAR-10 layout at the scale of 8 x 8 digits: mlpconv, max
    pooling, dropout, mlpconv, max pooling, dropout, then an mlpconv whose last 1x1 convolution
    has one output channel per class, and a global average pooling that makes each class map a
    score. The head has no parameters at all.

    Args:
        in_channels: channels of the input images (1 for grey digits).
        num_classes: number of classes (10 digits).
        channels: widths of the first two mlpconv layers and the hidden width of the third.
        kernel_size: side of every spatial kernel, in pixels (odd; padded to keep the size).
        dropout: probability of dropping a unit between mlpconv layers (the authors' released
            CIFAR-10 model uses 0.5; the paper's text does not give it).
        relu_on_class_maps: apply a ReLU to the class maps, as the authors' released Caffe model
            does. Off by default: a class map whose ReLU outputs zero for every image passes no
            gradient back to its own 1x1 weights, so that class can stay at a score of zero; in
            Chapter 3's multi-seed runs this happened in ordinary training (see
            :func:`dead_class_maps`).

    Raises:
        TypeError, ValueError: a count that is not a positive integer, not three widths, an
            even kernel, ``dropout`` outside ``[0, 1)``; in the forward pass, an input that is
            not ``N x in_channels x H x W``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        channels: tuple[int, int, int] = (32, 32, 32),
        kernel_size: int = 3,
        dropout: float = 0.25,
        relu_on_class_maps: bool = False,
    ) -> None:
        super().__init__()
        in_channels, num_classes = validation.check_positive_integers(
            in_channels=in_channels, num_classes=num_classes
        )
        ch1, ch2, ch3 = _three_widths(channels)
        kernel_size = validation.odd_kernel("kernel_size", kernel_size)
        dropout = validation.probability("dropout", dropout)
        relu_on_class_maps = validation.boolean("relu_on_class_maps", relu_on_class_maps)
        self.in_channels = in_channels
        padding = kernel_size // 2
        self.mlpconv1 = MlpConv(in_channels, ch1, ch1, kernel_size, padding)
        self.pool1 = nn.MaxPool2d(kernel_size=2)
        self.dropout1 = nn.Dropout(dropout)
        self.mlpconv2 = MlpConv(ch1, ch2, ch2, kernel_size, padding)
        self.pool2 = nn.MaxPool2d(kernel_size=2)
        self.dropout2 = nn.Dropout(dropout)
        self.mlpconv3 = MlpConv(
            ch2, ch3, num_classes, kernel_size, padding, final_relu=relu_on_class_maps
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        init_he_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``N x 1 x 8 x 8`` images to ``N x num_classes`` class scores."""
        validation.tensor_shape("x", x, ("N", self.in_channels, "H", "W"), owner="SmallNiN")
        x = self.mlpconv1(x)  # N x 32 x 8 x 8
        x = self.pool1(x)  # N x 32 x 4 x 4
        x = self.dropout1(x)  # N x 32 x 4 x 4
        x = self.mlpconv2(x)  # N x 32 x 4 x 4
        x = self.pool2(x)  # N x 32 x 2 x 2
        x = self.dropout2(x)  # N x 32 x 2 x 2
        x = self.mlpconv3(x)  # N x 10 x 2 x 2 (one map per class)
        return self.head(x)  # N x 10 (global average of each class map)


def dead_class_maps(model: SmallNiN, images: torch.Tensor) -> list[int]:
    """The classes whose score is exactly zero for every one of ``images``.

    Why: with a ReLU on the class maps (``relu_on_class_maps=True``), a class whose map is
    negative everywhere scores zero whatever the image, and the ReLU passes no gradient back
    to that map's weights; this finds such classes after (or during) training. A class found
    here is never predicted unless every score is zero.

    Args:
        model: a :class:`SmallNiN`; evaluated in evaluation mode (dropout off), without
            gradients, and returned to the mode it was in (even when it raises).
        images: ``N x C x H x W`` images on the model's device.

    Returns:
        The dead classes, in increasing order (empty when every class scores somewhere).

    Raises:
        TypeError: ``model`` is not a :class:`SmallNiN` or ``images`` not a tensor.
        ValueError: ``images`` without the model's input channels.
    """
    validation.module("model", model, SmallNiN)
    validation.tensor("images", images)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            scores = model(images)  # N x num_classes
    finally:
        model.train(was_training)
    return [c for c in range(scores.shape[1]) if bool((scores[:, c] == 0).all())]


class PlainCNN(nn.Module):
    """A plain CNN of similar size to :class:`SmallNiN`, with a fully connected head.

    Why: the baseline NiN was compared with: the same ``k x k`` convolutions and pooling, but
    without the 1x1 convolutions, and with the classic head that flattens the last feature maps
    into a fully connected hidden layer and a fully connected classifier.

    Args:
        in_channels: channels of the input images (1 for grey digits).
        num_classes: number of classes (10 digits).
        channels: widths of the three convolutions.
        hidden_features: width of the fully connected hidden layer.
        image_size: side of the input images, in pixels (fixes the flattened size).
        kernel_size: side of every spatial kernel, in pixels (odd; padded to keep the size).
        dropout: probability of dropping a unit, between the blocks and in the head.

    Raises:
        TypeError, ValueError: a count that is not a positive integer, not three widths, an
            even kernel, an image size that is not a multiple of 4, ``dropout`` outside
            ``[0, 1)``; in the forward pass, an input that is not
            ``N x in_channels x image_size x image_size``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        channels: tuple[int, int, int] = (32, 32, 32),
        hidden_features: int = 64,
        image_size: int = 8,
        kernel_size: int = 3,
        dropout: float = 0.25,
    ) -> None:
        super().__init__()
        in_channels, num_classes, hidden_features, image_size = validation.check_positive_integers(
            in_channels=in_channels,
            num_classes=num_classes,
            hidden_features=hidden_features,
            image_size=image_size,
        )
        ch1, ch2, ch3 = _three_widths(channels)
        kernel_size = validation.odd_kernel("kernel_size", kernel_size)
        if image_size % 4:
            raise ValueError(
                f"image_size must be a multiple of 4 (two 2x2 poolings), got {image_size}"
            )
        dropout = validation.probability("dropout", dropout)
        self.in_channels, self.image_size = in_channels, image_size
        padding = kernel_size // 2
        self.conv1 = nn.Conv2d(in_channels, ch1, kernel_size, padding=padding)
        self.pool1 = nn.MaxPool2d(kernel_size=2)
        self.dropout1 = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(ch1, ch2, kernel_size, padding=padding)
        self.pool2 = nn.MaxPool2d(kernel_size=2)
        self.dropout2 = nn.Dropout(dropout)
        self.conv3 = nn.Conv2d(ch2, ch3, kernel_size, padding=padding)
        self.relu = nn.ReLU()
        flattened = ch3 * (image_size // 4) ** 2
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flattened, hidden_features),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_features, num_classes),
        )
        init_he_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``N x 1 x 8 x 8`` images to ``N x num_classes`` class scores."""
        size = self.image_size
        validation.tensor_shape("x", x, ("N", self.in_channels, size, size), owner="PlainCNN")
        x = self.relu(self.conv1(x))  # N x 32 x 8 x 8
        x = self.pool1(x)  # N x 32 x 4 x 4
        x = self.dropout1(x)  # N x 32 x 4 x 4
        x = self.relu(self.conv2(x))  # N x 32 x 4 x 4
        x = self.pool2(x)  # N x 32 x 2 x 2
        x = self.dropout2(x)  # N x 32 x 2 x 2
        x = self.relu(self.conv3(x))  # N x 32 x 2 x 2
        return self.head(x)  # N x 128 -> N x 64 -> N x 10
