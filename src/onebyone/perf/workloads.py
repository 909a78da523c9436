"""What Chapter 5 times: the problem sizes, the models and the checks of its experiments.

Why: the chapter, the experiment suite (:mod:`onebyone.perf.suite`) and its command line
(:mod:`onebyone.perf.experiments`) must time and describe the *same* layers, so they are defined
once, here, from the package's own sources: inception (3a) is GoogLeNet's
(:func:`onebyone.googlenet.inception_arguments`), and the bottleneck is its 5x5 branch,
192 -> 16 -> 32 channels on 28 x 28 pixels, built by :func:`onebyone.bottleneck.bottleneck_path`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from onebyone import bottleneck
from onebyone.googlenet import INCEPTION_INPUT_SIZE, inception_arguments
from onebyone.inception import Inception, NaiveInception
from onebyone.perf.precision import tf32_allowed
from onebyone.pointwise import (
    conv1x1_to_linear,
    linear_per_pixel,
    pointwise_as_einsum,
    pointwise_as_matmul,
)


@dataclass(frozen=True)
class Sizes:
    """The problem sizes of one run of the suite.

    Attributes:
        matmul_size: ``n`` of the square GEMM that measures the peak rate.
        copy_megabytes: size of the copied buffer that measures bandwidth, MB.
        same_math_shapes: ``(N, C_in, C_out, H, W)`` of the 1x1 convolutions of experiment 1.
        bottleneck_batches: batch sizes of experiment 2 (28 x 28 x 192 input).
        sweep_channels: ``C_in = C_out`` values of experiment 3.
        sweep_pixels: ``(N, H, W)`` of experiment 3, fixed across the sweep.
        inception_batches: batch sizes of experiment 4 (28 x 28 x 192 input).
        min_run_time: seconds of timed calls per measurement.
    """

    matmul_size: int
    copy_megabytes: int
    same_math_shapes: tuple[tuple[int, int, int, int, int], ...]
    bottleneck_batches: tuple[int, ...]
    sweep_channels: tuple[int, ...]
    sweep_pixels: tuple[int, int, int]
    inception_batches: tuple[int, ...]
    min_run_time: float


SIZES: dict[str, Sizes] = {
    # One CPU core runs one round of this in about a minute (five rounds: about five minutes).
    "small": Sizes(
        matmul_size=1024,
        copy_megabytes=64,
        same_math_shapes=((8, 64, 64, 28, 28), (8, 256, 256, 14, 14)),
        bottleneck_batches=(1, 8, 32),
        sweep_channels=(16, 32, 64, 128, 256, 512),
        sweep_pixels=(8, 28, 28),
        inception_batches=(1, 8),
        min_run_time=0.25,
    ),
    # A datacenter GPU runs this in a few minutes.
    "full": Sizes(
        matmul_size=8192,
        copy_megabytes=1024,
        same_math_shapes=(
            (32, 64, 64, 56, 56),
            (32, 256, 256, 28, 28),
            (32, 1024, 1024, 14, 14),
        ),
        bottleneck_batches=(1, 8, 32, 128, 256),
        sweep_channels=(16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
        sweep_pixels=(32, 28, 28),
        inception_batches=(1, 32, 128),
        min_run_time=0.2,
    ),
}


INCEPTION_STAGE = "inception3a"
"""The Inception module the experiments time: GoogLeNet's first, (3a)."""
INCEPTION_3A: dict[str, int] = inception_arguments(INCEPTION_STAGE)
"""Its arguments, Table 1 of Szegedy et al.: ``{"in_channels": 192, "ch1x1": 64, ...}``."""
IMAGE_SIZE: int = INCEPTION_INPUT_SIZE[INCEPTION_STAGE]
"""Height and width of its input, pixels (28)."""
BOTTLENECK: dict[str, int] = {
    "in_channels": INCEPTION_3A["in_channels"],
    "reduced_channels": INCEPTION_3A["ch5x5red"],
    "out_channels": INCEPTION_3A["ch5x5"],
    "kernel_size": 5,
}
"""The bottleneck of Chapter 2: (3a)'s 5x5 branch, 192 -> 16 -> 32 channels, 5 x 5 kernel."""


def same_math_variants(weight: torch.Tensor) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """One 1x1 convolution four ways, all with the same ``C_out x C_in`` weight (no bias).

    Why: they are the same function, so any difference in their times is implementation:
    which library kernel runs, and which copies the memory layout forces.

    Args:
        weight: ``C_out x C_in``, on the device and in the dtype to time.

    Returns:
        ``{"conv2d": ..., "linear": ..., "matmul": ..., "einsum": ...}``, each a function of
        an ``N x C_in x H x W`` tensor returning ``N x C_out x H x W`` (``conv2d`` is an
        ``nn.Conv2d`` module, so the harness can convert it to the input's memory format).
    """
    out_channels, in_channels = weight.shape
    conv = nn.Conv2d(in_channels, out_channels, 1, bias=False,
                     device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(weight.reshape(out_channels, in_channels, 1, 1))
    linear = conv1x1_to_linear(conv)
    return {
        "conv2d": conv,
        "linear": lambda x: linear_per_pixel(linear, x),  # N x C_out x H x W (a view)
        "matmul": lambda x: pointwise_as_matmul(x, weight),  # N x C_out x H x W
        "einsum": lambda x: pointwise_as_einsum(x, weight),  # N x C_out x H x W
    }


TOLERANCE = {"float32": 1e-4, "tf32": 1e-2, "bfloat16": 5e-2}
"""Largest difference allowed between a variant and the float64 reference, by precision.

The weights are scaled by ``1 / sqrt(C_in)``, so the outputs are of order 1.
"""


def check_same_math(
    variants: dict[str, Callable[[torch.Tensor], torch.Tensor]],
    x: torch.Tensor,
    weight: torch.Tensor,
    precision: str,
) -> None:
    """Raise ``AssertionError`` unless every variant computes the 1x1 convolution of ``x``.

    Why: timing four functions is only a fair race if they compute the same thing, so the
    experiment checks each against a float64 reference before it starts a clock.

    Args:
        variants: name -> function of ``x`` (see :func:`same_math_variants`).
        x: the input, ``N x C_in x H x W``.
        weight: the ``C_out x C_in`` weight they all use.
        precision: sets TF32 and the tolerance (:data:`TOLERANCE`).
    """
    reference = torch.einsum("oc,nchw->nohw", weight.double(), x.double())  # N x C_out x H x W
    with tf32_allowed(precision == "tf32"), torch.inference_mode():
        for name, variant in variants.items():
            difference = (variant(x).double() - reference).abs().max().item()
            if difference > TOLERANCE[precision]:
                raise AssertionError(
                    f"{name} differs from the reference by {difference:.3g} in {precision}"
                )


def bottleneck_modules() -> dict[str, nn.Module]:
    """The 28 x 28 x 192 -> 5x5 -> 32 convolution, ``direct`` and ``reduced`` through 16 channels.

    Why: the classic example of the bottleneck (Chapter 2). Convolutions only, without bias or
    ReLU, so that the time measured is the time of exactly the MACs counted.
    """
    in_channels, out_channels = BOTTLENECK["in_channels"], BOTTLENECK["out_channels"]
    reduced_channels, kernel_size = BOTTLENECK["reduced_channels"], BOTTLENECK["kernel_size"]
    return {
        "direct": bottleneck.same_conv(in_channels, out_channels, kernel_size, bias=False),
        "reduced": bottleneck.bottleneck_path(  # N x 16 x 28 x 28, then N x 32 x 28 x 28
            in_channels, out_channels, kernel_size, reduced_channels, bias=False, relu=False
        ),
    }


def inception_modules() -> dict[str, nn.Module]:
    """GoogLeNet's inception (3a), ``naive`` (no reductions) and ``reduced`` (with 1x1s)."""
    spec = INCEPTION_3A
    return {
        "naive": NaiveInception(spec["in_channels"], spec["ch1x1"], spec["ch3x3"], spec["ch5x5"]),
        "reduced": Inception(**spec),
    }
