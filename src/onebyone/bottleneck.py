"""What a 1x1 "bottleneck" saves: a ``k x k`` convolution, directly or after a 1x1 reduction.

Why: Chapter 2 asks one question: a ``k x k`` convolution from ``C_in`` to ``C_out`` channels
on an ``H x W`` image costs ``H W C_out C_in k^2`` multiply-accumulates (MACs); what if a 1x1
convolution first reduces the ``C_in`` channels to ``r``? The two layers then cost
``H W r C_in + H W C_out r k^2`` MACs, which is less whenever
``r < C_in k^2 C_out / (C_in + k^2 C_out)``. This module computes both sides with the formulas
of :mod:`onebyone.cost`, sweeps ``r``, finds the break-even width where the saving disappears,
and contrasts depth reduction with spatial reduction (pooling, stride) and with depth increase.

Units: parameters are counted in scalars, compute in MACs (FLOPs = 2 x MACs), sizes in pixels.
Every convolution keeps the image size ("same" padding) unless it has a stride.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from torch import nn

from onebyone import validation
from onebyone.cost import conv2d_macs, conv2d_output_size, conv2d_parameters, count_model


@dataclass(frozen=True)
class ConvCost:
    """Parameters (scalars) and multiply-accumulates (MACs, one image) of one or more layers.

    Why: the chapter compares paths of several layers, so a cost must add up (``a + b``).

    Attributes:
        parameters: scalars, biases included where the comparison says so.
        macs: multiply-accumulates for one image (biases never counted).
    """

    parameters: int
    macs: int

    def __add__(self, other: ConvCost) -> ConvCost:
        """The cost of running both layers: parameters and MACs add."""
        return ConvCost(self.parameters + other.parameters, self.macs + other.macs)


@dataclass(frozen=True)
class BottleneckComparison:
    """A ``k x k`` convolution done directly, and through a 1x1 reduction to ``r`` channels.

    Attributes:
        reduced_channels: the bottleneck width ``r``, in channels (``width`` is kept for pixels).
        direct: cost of the ``k x k`` convolution ``C_in -> C_out``.
        reduction: cost of the 1x1 convolution ``C_in -> r``.
        spatial: cost of the ``k x k`` convolution ``r -> C_out`` after the reduction.
    """

    reduced_channels: int
    direct: ConvCost
    reduction: ConvCost
    spatial: ConvCost

    @property
    def bottleneck(self) -> ConvCost:
        """Cost of the two layers of the bottleneck path together."""
        return self.reduction + self.spatial

    @property
    def mac_ratio(self) -> float:
        """Direct MACs divided by bottleneck MACs: how many times cheaper the bottleneck is."""
        return self.direct.macs / self.bottleneck.macs

    @property
    def parameter_ratio(self) -> float:
        """Direct parameters divided by bottleneck parameters."""
        return self.direct.parameters / self.bottleneck.parameters


def _same_padding(kernel_size: int) -> int:
    return validation.odd_kernel("kernel_size", kernel_size) // 2


def conv_cost(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    height: int,
    width: int,
    stride: int = 1,
    bias: bool = True,
) -> ConvCost:
    """Cost of one ``k x k`` convolution with "same" padding, on one ``height x width`` image.

    Why: the building block of every comparison in Chapter 2, written with the formulas of
    :mod:`onebyone.cost` (padding ``k // 2``, so the output is ``ceil(H / stride)`` pixels high).

    Args:
        in_channels, out_channels: channels ``C_in`` and ``C_out``.
        kernel_size: ``k`` (odd), in pixels.
        height, width: size of the input image, in pixels.
        stride: stride, in pixels.
        bias: count the ``C_out`` biases among the parameters (MACs never include biases).

    Returns:
        A :class:`ConvCost` in scalars and MACs.

    Raises:
        TypeError: a size that is not an integer, or ``bias`` not a bool.
        ValueError: a size below 1, or an even kernel.
    """
    in_channels, out_channels, kernel_size, height, width, stride = (
        validation.check_positive_integers(
            in_channels=in_channels,
            out_channels=out_channels,
            kernel_size=kernel_size,
            height=height,
            width=width,
            stride=stride,
        )
    )
    bias = validation.boolean("bias", bias)
    output_size = conv2d_output_size(
        (height, width), kernel_size, stride=stride, padding=_same_padding(kernel_size)
    )
    return ConvCost(
        parameters=conv2d_parameters(in_channels, out_channels, kernel_size, bias=bias),
        macs=conv2d_macs(in_channels, out_channels, kernel_size, output_size),
    )


def compare_bottleneck(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    height: int,
    width: int,
    reduced_channels: int,
    bias: bool = True,
) -> BottleneckComparison:
    """The direct ``k x k`` convolution against a 1x1 reduction to ``reduced_channels`` first.

    Why: the classic example of GoogLeNet's Inception module (Szegedy et al., 2015): on a
    28 x 28 x 192 input, a 5 x 5 convolution to 32 channels costs 120,422,400 MACs directly and
    12,443,648 MACs through a 1x1 reduction to 16 channels.

    Args:
        in_channels, out_channels: ``C_in`` and ``C_out`` of the ``k x k`` convolution.
        kernel_size: ``k`` (odd), in pixels.
        height, width: size of the input image, in pixels.
        reduced_channels: the bottleneck width ``r``, in channels.
        bias: count biases among the parameters.

    Returns:
        A :class:`BottleneckComparison`.

    Raises:
        TypeError: a size that is not an integer, or ``bias`` not a bool.
        ValueError: a size below 1, or an even kernel.
    """
    reduced_channels = validation.positive_integer("reduced_channels", reduced_channels)
    return BottleneckComparison(
        reduced_channels=reduced_channels,
        direct=conv_cost(in_channels, out_channels, kernel_size, height, width, bias=bias),
        reduction=conv_cost(in_channels, reduced_channels, 1, height, width, bias=bias),
        spatial=conv_cost(reduced_channels, out_channels, kernel_size, height, width, bias=bias),
    )


def bottleneck_sweep(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    height: int,
    width: int,
    reduced_channels: Iterable[int],
    bias: bool = True,
) -> list[BottleneckComparison]:
    """:func:`compare_bottleneck` for every bottleneck width in ``reduced_channels``.

    Why: the bottleneck's cost is a straight line in its width ``r``; sweeping ``r`` shows where
    that line crosses the direct convolution's cost.

    Args:
        in_channels, out_channels, kernel_size, height, width, bias: as for
            :func:`compare_bottleneck`.
        reduced_channels: the bottleneck widths ``r`` to try, in channels.

    Returns:
        One :class:`BottleneckComparison` per width, in the order given.

    Raises:
        TypeError: ``reduced_channels`` is not iterable, or a size is not an integer.
        ValueError: no reduced channel counts, a size below 1, or an even kernel.
    """
    counts = validation.items("reduced_channels", reduced_channels)
    if not counts:
        raise ValueError("reduced_channels is empty: give at least one bottleneck width")
    return [
        compare_bottleneck(in_channels, out_channels, kernel_size, height, width, r, bias=bias)
        for r in counts
    ]


def break_even_channels(in_channels: int, out_channels: int, kernel_size: int) -> int:
    """The smallest bottleneck width ``r`` (channels) at which the bottleneck saves no MACs.

    Why: the bottleneck path costs ``H W r (C_in + k^2 C_out)`` MACs against the direct
    ``H W C_in k^2 C_out``, so it is cheaper exactly when ``r < C_in k^2 C_out / (C_in + k^2
    C_out)``; the image size cancels out. This is the ceiling of that bound, computed in integers.

    Args:
        in_channels, out_channels: ``C_in`` and ``C_out`` of the ``k x k`` convolution.
        kernel_size: ``k``, in pixels.

    Returns:
        The break-even width; every narrower bottleneck costs strictly fewer MACs.

    Raises:
        TypeError, ValueError: an argument that is not a positive integer.
    """
    in_channels, out_channels, kernel_size = validation.check_positive_integers(
        in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size
    )
    direct = in_channels * kernel_size**2 * out_channels  # MACs per pixel
    per_bottleneck_channel = in_channels + kernel_size**2 * out_channels  # MACs per pixel
    return -(-direct // per_bottleneck_channel)


def same_conv(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, bias: bool = True
) -> nn.Conv2d:
    """An ``nn.Conv2d`` with padding ``k // 2``, the layer whose cost :func:`conv_cost` counts.

    Why: "same" padding keeps the image size at stride 1, so a direct convolution and a
    bottleneck path return maps of the same shape and their costs compare like for like.

    Args:
        in_channels, out_channels: channels ``C_in`` and ``C_out``.
        kernel_size: ``k`` (odd), in pixels.
        stride: stride, in pixels (2 halves the output, rounding up).
        bias: give the layer ``C_out`` biases.

    Raises:
        TypeError: a size that is not an integer, or ``bias`` not a bool.
        ValueError: a size below 1, or an even kernel.
    """
    in_channels, out_channels, stride = validation.check_positive_integers(
        in_channels=in_channels, out_channels=out_channels, stride=stride
    )
    bias = validation.boolean("bias", bias)
    return nn.Conv2d(
        in_channels, out_channels, kernel_size, stride, _same_padding(kernel_size), bias=bias
    )


def bottleneck_path(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    reduced_channels: int,
    bias: bool = True,
    relu: bool = True,
) -> nn.Sequential:
    """The bottleneck path: a 1x1 convolution to ``reduced_channels``, then the ``k x k`` one.

    Why: the module whose cost :func:`compare_bottleneck` counts as ``bottleneck``; built once
    here, so that Chapter 2's strategies and Chapter 5's timed bottleneck are the same layers.
    A 1x1 convolution *wider* than ``C_in`` gives the expansion of :func:`reduction_strategies`.

    Args:
        in_channels, out_channels, kernel_size: the ``k x k`` convolution (``k`` odd, pixels).
        reduced_channels: width of the 1x1 convolution (channels).
        bias: give both convolutions a bias.
        relu: put a ReLU between them (as Inception does); without it, and without biases,
            the path is exactly the MACs counted (what Chapter 5 times).

    Raises:
        TypeError: a size that is not an integer, or ``bias``/``relu`` not a bool.
        ValueError: a size below 1, or an even kernel.
    """
    in_channels, out_channels, reduced_channels = validation.check_positive_integers(
        in_channels=in_channels, out_channels=out_channels, reduced_channels=reduced_channels
    )
    kernel_size = validation.odd_kernel("kernel_size", kernel_size)
    bias, relu = validation.boolean("bias", bias), validation.boolean("relu", relu)
    return nn.Sequential(
        same_conv(in_channels, reduced_channels, 1, bias=bias),  # N x r x H x W
        *([nn.ReLU()] if relu else []),
        same_conv(reduced_channels, out_channels, kernel_size, bias=bias),  # N x C_out x H x W
    )


def reduction_strategies(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    reduced_channels: int,
    expanded_channels: int,
    bias: bool = True,
) -> dict[str, nn.Sequential]:
    """Five ways to apply a ``k x k`` convolution ``C_in -> C_out``, as real modules.

    Why: a 1x1 reduction shrinks the cost by thinning the channels while keeping every pixel;
    pooling or a stride shrink it by dropping pixels (the output is smaller, so the comparison is
    not like for like); a 1x1 expansion is the opposite move and costs more. Building the
    modules lets :func:`strategy_costs` count them with :func:`onebyone.cost.count_model`.

    Args:
        in_channels, out_channels, kernel_size: the ``k x k`` convolution (``k`` odd, pixels).
        reduced_channels: width of the 1x1 reduction (channels).
        expanded_channels: width of the 1x1 expansion (channels).
        bias: give every convolution a bias.

    Returns:
        Modules keyed by ``"direct"``, ``"2x2 max pooling first"``, ``"stride 2"``,
        ``"1x1 reduction first"`` and ``"1x1 expansion first"``.

    Raises:
        TypeError: a size that is not an integer, or ``bias`` not a bool.
        ValueError: a size below 1, or an even kernel.
    """
    in_channels, out_channels, kernel_size, reduced_channels, expanded_channels = (
        validation.check_positive_integers(
            in_channels=in_channels,
            out_channels=out_channels,
            kernel_size=kernel_size,
            reduced_channels=reduced_channels,
            expanded_channels=expanded_channels,
        )
    )
    _same_padding(kernel_size)
    bias = validation.boolean("bias", bias)
    return {
        "direct": nn.Sequential(same_conv(in_channels, out_channels, kernel_size, bias=bias)),
        "2x2 max pooling first": nn.Sequential(
            nn.MaxPool2d(kernel_size=2),
            same_conv(in_channels, out_channels, kernel_size, bias=bias),
        ),
        "stride 2": nn.Sequential(
            same_conv(in_channels, out_channels, kernel_size, stride=2, bias=bias)
        ),
        "1x1 reduction first": bottleneck_path(
            in_channels, out_channels, kernel_size, reduced_channels, bias=bias
        ),
        "1x1 expansion first": bottleneck_path(
            in_channels, out_channels, kernel_size, expanded_channels, bias=bias
        ),
    }


@dataclass(frozen=True)
class StrategyCost:
    """The cost of one way of applying a convolution, for one image.

    Attributes:
        name: the strategy (a key of :func:`reduction_strategies`).
        output_shape: ``1 x C_out x H_out x W_out`` of its output.
        parameters: scalars, biases included when the layers have them.
        macs: multiply-accumulates (pooling and ReLU count none).
    """

    name: str
    output_shape: tuple[int, ...]
    parameters: int
    macs: int


def strategy_costs(
    strategies: dict[str, nn.Sequential], in_channels: int, height: int, width: int
) -> list[StrategyCost]:
    """Count every strategy of :func:`reduction_strategies` on one ``C_in x H x W`` image.

    Why: counting the real modules with :func:`onebyone.cost.count_model` (rather than by a
    formula per strategy) makes the output shapes, and so the pixels each strategy drops, part
    of the result.

    Args:
        strategies: named modules.
        in_channels: channels of the input image.
        height, width: size of the input image, in pixels.

    Returns:
        One :class:`StrategyCost` per strategy, in the order given.

    Raises:
        TypeError: ``strategies`` is not a mapping of names to modules; a size not an integer.
        ValueError: a size below 1, or a module that cannot take the input (see
            :func:`onebyone.cost.count_model`).
    """
    in_channels, height, width = validation.check_positive_integers(
        in_channels=in_channels, height=height, width=width
    )
    if not isinstance(strategies, dict):
        raise TypeError(f"strategies must be a dict of name: module, got {strategies!r:.80}")
    for name, module in strategies.items():
        validation.module(f"strategies[{name!r}]", module)
    costs = []
    for name, module in strategies.items():
        layers = count_model(module, (1, in_channels, height, width))
        costs.append(
            StrategyCost(
                name=name,
                output_shape=layers[-1].output_shape,
                parameters=sum(layer.parameters for layer in layers),
                macs=sum(layer.macs for layer in layers),
            )
        )
    return costs
