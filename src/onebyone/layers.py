"""Layer helpers shared by several networks of the package.

Why: GoogLeNet, the Inception modules and the small Inception network all build their
convolutions with :func:`conv_relu`, and Chapter 3's and Chapter 4's digit networks all start
from :func:`init_he_normal`; each fact lives here once and the networks import it.
"""

from __future__ import annotations

from torch import nn

from onebyone import validation


def conv_relu(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0
) -> nn.Sequential:
    """A convolution followed by a ReLU, GoogLeNet's only layer type (no batch norm in 2014).

    Why: the paper puts a rectified linear unit after every convolution, the 1x1 reductions and
    projections included, so that each reduction adds a nonlinearity as well as saving MACs.

    Args:
        in_channels, out_channels: channels of the input and the output.
        kernel_size: side of the square kernel, in pixels.
        stride: step between kernel positions, in pixels.
        padding: zero padding on each side, in pixels (``kernel_size // 2`` keeps H x W).

    Returns:
        ``nn.Sequential(conv, relu)``; the convolution is element ``0``.

    Raises:
        TypeError, ValueError: a size that is not a positive integer (padding: non-negative).
    """
    in_channels, out_channels, kernel_size, stride = validation.check_positive_integers(
        in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size, stride=stride
    )
    padding = validation.non_negative_integer("padding", padding)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding),
        nn.ReLU(inplace=True),
    )


def init_he_normal(model: nn.Module) -> None:
    """Draw every convolution and linear weight from He et al.'s (2015) normal, zero every bias.

    Why: a NiN stacks three layers per block, nine in all, each followed by a ReLU. PyTorch's
    default initialisation shrinks the signal at every layer, and a network this deep then
    starts so close to zero that it spends its first epochs learning nothing; drawing weights
    with variance ``2 / fan_in`` keeps the signal's scale through each ReLU. The digit networks
    of Chapters 3 and 4 all use it, so that they are compared on the same footing. Uses
    PyTorch's global random generator: seed it first (:func:`onebyone.runtime.seed_everything`).

    Args:
        model: initialised in place.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
    """
    validation.module("model", model)
    for layer in model.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
