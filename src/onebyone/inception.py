"""The Inception module: parallel 1x1, 3x3 and 5x5 convolutions and a pooling, concatenated.

Szegedy et al. (2014) wanted every layer to look at the image at several scales at once, so an
Inception module runs four branches side by side on the same input and stacks their outputs
along the channel axis. Run naively (:class:`NaiveInception`), the 3x3 and 5x5 branches see every
input channel, and the pooling branch passes all of them through, so the module's cost and its
output width grow with every module stacked. The fix (:class:`Inception`) is a cheap 1x1
convolution that *reduces* the channels before the 3x3 and 5x5 convolutions, and one that
*projects* the pooled channels after the pooling. The names of the arguments are the columns of
the paper's Table 1 (``ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj``) and the branches are
named ``branch1`` to ``branch4``, as in torchvision's ``googlenet.py``.

:func:`branch_costs` says where a module's multiply-accumulates (MACs) go, branch by branch.
"""

from __future__ import annotations

import torch
from torch import nn

from onebyone import validation
from onebyone.cost import count_model, count_parameters
from onebyone.layers import conv_relu

BRANCHES = ("branch1", "branch2", "branch3", "branch4")
"""The four branches of both modules, in the order their outputs are concatenated."""


class Inception(nn.Module):
    """The Inception module with 1x1 reductions, as in GoogLeNet (Szegedy et al. 2014, Figure 2b).

    Why: the 1x1 convolutions in front of the 3x3 and 5x5 convolutions shrink the channels those
    expensive kernels see, and the one after the pooling stops the pooled channels from piling
    up, so modules can be stacked without their cost exploding. Height and width are kept.

    Args:
        in_channels: channels of the input.
        ch1x1: "#1x1", outputs of the 1x1 branch (``branch1``).
        ch3x3red: "#3x3 reduce", outputs of the 1x1 in front of the 3x3 (``branch2``).
        ch3x3: "#3x3", outputs of the 3x3 convolution (padding 1).
        ch5x5red: "#5x5 reduce", outputs of the 1x1 in front of the 5x5 (``branch3``).
        ch5x5: "#5x5", outputs of the 5x5 convolution (padding 2).
        pool_proj: "pool proj", outputs of the 1x1 after the 3x3 max pool (``branch4``).

    Attributes:
        out_channels: ``ch1x1 + ch3x3 + ch5x5 + pool_proj``.

    Raises:
        TypeError, ValueError: a channel count that is not a positive integer; in the forward
            pass, an input that is not ``N x in_channels x H x W``.
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
    ) -> None:
        super().__init__()
        in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj = (
            validation.check_positive_integers(
                in_channels=in_channels,
                ch1x1=ch1x1,
                ch3x3red=ch3x3red,
                ch3x3=ch3x3,
                ch5x5red=ch5x5red,
                ch5x5=ch5x5,
                pool_proj=pool_proj,
            )
        )
        self.in_channels = in_channels
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj
        self.branch1 = conv_relu(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            conv_relu(in_channels, ch3x3red, kernel_size=1),
            conv_relu(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            conv_relu(in_channels, ch5x5red, kernel_size=1),
            conv_relu(ch5x5red, ch5x5, kernel_size=5, padding=2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1),
            conv_relu(in_channels, pool_proj, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenate the four branches; ``x`` is N x in_channels x H x W."""
        validation.tensor_shape("x", x, ("N", self.in_channels, "H", "W"), owner="Inception")
        branch1 = self.branch1(x)  # N x ch1x1 x H x W
        branch2 = self.branch2(x)  # N x ch3x3 x H x W
        branch3 = self.branch3(x)  # N x ch5x5 x H x W
        branch4 = self.branch4(x)  # N x pool_proj x H x W
        return torch.cat([branch1, branch2, branch3, branch4], dim=1)  # N x out_channels x H x W


class NaiveInception(nn.Module):
    """The naive Inception module, without reductions (Szegedy et al. 2014, Figure 2a).

    Why: it is the idea before the fix. The 3x3 and 5x5 convolutions see all ``in_channels``,
    and the max pool passes all of them through unchanged, so the output is wider than the input
    and the next module is more expensive still. Height and width are kept.

    Args:
        in_channels: channels of the input.
        ch1x1: outputs of the 1x1 convolution (``branch1``).
        ch3x3: outputs of the 3x3 convolution, padding 1 (``branch2``).
        ch5x5: outputs of the 5x5 convolution, padding 2 (``branch3``).

    Attributes:
        out_channels: ``ch1x1 + ch3x3 + ch5x5 + in_channels`` (``branch4`` is the pooled input).

    Raises:
        TypeError, ValueError: a channel count that is not a positive integer; in the forward
            pass, an input that is not ``N x in_channels x H x W``.
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3: int, ch5x5: int) -> None:
        super().__init__()
        in_channels, ch1x1, ch3x3, ch5x5 = validation.check_positive_integers(
            in_channels=in_channels, ch1x1=ch1x1, ch3x3=ch3x3, ch5x5=ch5x5
        )
        self.in_channels = in_channels
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + in_channels
        self.branch1 = conv_relu(in_channels, ch1x1, kernel_size=1)
        self.branch2 = conv_relu(in_channels, ch3x3, kernel_size=3, padding=1)
        self.branch3 = conv_relu(in_channels, ch5x5, kernel_size=5, padding=2)
        self.branch4 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenate the four branches; ``x`` is N x in_channels x H x W."""
        validation.tensor_shape("x", x, ("N", self.in_channels, "H", "W"), owner="NaiveInception")
        branch1 = self.branch1(x)  # N x ch1x1 x H x W
        branch2 = self.branch2(x)  # N x ch3x3 x H x W
        branch3 = self.branch3(x)  # N x ch5x5 x H x W
        branch4 = self.branch4(x)  # N x in_channels x H x W
        return torch.cat([branch1, branch2, branch3, branch4], dim=1)  # N x out_channels x H x W


def _check_module(module: nn.Module) -> None:
    validation.module("module", module, (Inception, NaiveInception))


def branch_costs(module: nn.Module, input_shape: tuple[int, int, int, int]) -> dict[str, int]:
    """Multiply-accumulates (MACs) of each branch of an Inception module, for one forward pass.

    Why: the total hides where the cost is; per branch, it shows that the 3x3 and 5x5
    convolutions dominate a naive module, and what the 1x1 reductions take away.

    Args:
        module: an :class:`Inception` or a :class:`NaiveInception`.
        input_shape: ``(N, C, H, W)`` of the module's input (pixels for H and W).

    Returns:
        ``{"branch1": MACs, ..., "branch4": MACs}``, batch included; a branch without a
        convolution (the naive pooling) costs 0 MACs here (pooling is not counted, see
        :mod:`onebyone.cost`). The values add up to :func:`onebyone.cost.model_macs`.

    Raises:
        TypeError: ``module`` is not an Inception module; ``input_shape`` holds non-integers.
        ValueError: ``input_shape`` is not four positive sizes, or has the wrong channels.
    """
    _check_module(module)
    input_shape = validation.shape("input_shape", input_shape, dims=4)
    macs = dict.fromkeys(BRANCHES, 0)
    for layer in count_model(module, input_shape):
        macs[layer.name.split(".")[0]] += layer.macs
    return macs


def branch_parameters(module: nn.Module) -> dict[str, int]:
    """Parameters (scalars, biases included) of each branch of an Inception module.

    Why: parameters, unlike MACs, do not depend on the image size, so the two counts can
    disagree about which branch is the expensive one.

    Args:
        module: an :class:`Inception` or a :class:`NaiveInception`.

    Returns:
        ``{"branch1": parameters, ..., "branch4": parameters}``.

    Raises:
        TypeError: ``module`` is not an Inception module.
    """
    _check_module(module)
    return {name: count_parameters(getattr(module, name)) for name in BRANCHES}
