"""Synthetic two-channel images whose per-pixel label is the XOR of the two channel signs.

Why: Chapter 3 proves that a stack of 1x1 convolutions without activations is one affine map
per pixel, and that a ReLU between them breaks the collapse. This module turns the proof into
an experiment that a training run can settle. Every pixel of every image carries two channel
values, and its label is 1 when exactly one of them is positive: the XOR of their signs.

The label cannot be read off linearly. The classes are symmetric: flipping the sign of both
channels keeps the label, and a pixel and its negative are equally likely, so any affine rule
through the origin is right on half of the pixels on average, and a rule with a bias gains only
from the few pixels far from the origin. To make that
gain small too, each pixel's channel vector is a standard normal vector times a log-normal
"contrast" (bright and faint pixels alike), so that no fixed threshold suits every pixel.
A ReLU network, in contrast, can compute the label exactly at every contrast:
``|x0 + x1| - |x0 - x1|`` is positive exactly when the two signs agree, and each absolute value
is two ReLUs (Chapter 3).

The module also holds the models of the experiment (linear stacks of 1x1 convolutions of any
depth, and the same stack with ReLUs), a full-batch training loop for per-pixel labels, and
:func:`best_affine_accuracy`, a search for the best affine rule on a data set (a grid of
directions, every threshold for each), which approximates from below the ceiling of what any
linear stack can reach.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from onebyone import validation
from onebyone.training import TrainingDiverged

CHANNELS = 2
"""Channels of every synthetic image: the two whose signs are XOR-ed."""

CONTRAST_SPREAD = 1.5
"""Standard deviation of the log of each pixel's contrast (a log-normal scale factor)."""

MAX_CONTRAST_SPREAD = 10.0
"""The largest ``contrast_spread`` whose images are always finite float32 numbers.

``torch.randn`` never draws beyond 8.6 in absolute value (its Box-Muller transform takes a
uniform of at most 53 bits: ``sqrt(2 * 53 * ln 2) = 8.57``), so a pixel is at most
``8.6 * exp(10 * 8.6) = 1.9e38``, below float32's largest number, ``3.4e38``. A spread of 1,000
would overflow to ``inf`` on about half the pixels."""


@dataclass(frozen=True)
class SignXorImages:
    """Images and their per-pixel labels.

    Attributes:
        images: ``N x 2 x H x W`` float32 channel values.
        labels: ``N x H x W`` int64, 1 where exactly one of the two channels is positive.
    """

    images: torch.Tensor
    labels: torch.Tensor

    @property
    def pixels(self) -> int:
        """Number of labelled pixels, ``N * H * W``."""
        return self.labels.numel()


def sign_xor_labels(images: torch.Tensor) -> torch.Tensor:
    """The label of every pixel: 1 where exactly one of the two channels is positive.

    Args:
        images: ``N x 2 x H x W``.

    Returns:
        ``N x H x W`` int64 labels in {0, 1}.

    Raises:
        TypeError: ``images`` is not a tensor.
        ValueError: ``images`` is not ``N x 2 x H x W``.
    """
    validation.tensor_shape("images", images, ("N", CHANNELS, "H", "W"))
    return ((images[:, 0] > 0) ^ (images[:, 1] > 0)).long()  # N x H x W


def _check_data(data: object) -> None:
    if not isinstance(data, SignXorImages):
        raise TypeError(f"data must be SignXorImages, got {type(data).__name__}")


def make_sign_xor_images(
    count: int, size: int = 8, seed: int = 0, contrast_spread: float = CONTRAST_SPREAD
) -> SignXorImages:
    """Draw ``count`` images of ``size x size`` pixels from a seeded generator.

    Why: the data are generated, so nothing is downloaded and any number of fresh images (a
    training set and a test set from different seeds) can be drawn.

    Args:
        count: number of images (at least 1).
        size: height and width of each image, in pixels (at least 1).
        seed: seed of the generator (a non-negative integer); the same seed gives the same images.
        contrast_spread: standard deviation of the log-contrast of the pixels (0: no spread),
            at most :data:`MAX_CONTRAST_SPREAD` (10), beyond which pixels can overflow to ``inf``.

    Returns:
        :class:`SignXorImages` with ``count x 2 x size x size`` images and their labels.

    Raises:
        TypeError: a count or seed that is not an integer, a spread that is not a number.
        ValueError: a count below 1, a seed outside ``[0, 2**32 - 1]``, a negative, non-finite
            or too large spread.
    """
    count, size = validation.check_positive_integers(count=count, size=size)
    seed = validation.seed("seed", seed)
    contrast_spread = validation.real_number("contrast_spread", contrast_spread)
    if contrast_spread < 0:
        raise ValueError(f"contrast_spread must be non-negative, got {contrast_spread!r}")
    if contrast_spread > MAX_CONTRAST_SPREAD:
        raise ValueError(f"contrast_spread must be at most {MAX_CONTRAST_SPREAD} (beyond it "
                         f"pixels can overflow float32 to inf), got {contrast_spread!r}")
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randn(count, CHANNELS, size, size, generator=generator)  # N x 2 x H x W
    log_contrast = contrast_spread * torch.randn(count, 1, size, size, generator=generator)
    images = directions * log_contrast.exp()  # N x 2 x H x W, one contrast per pixel
    return SignXorImages(images=images, labels=sign_xor_labels(images))


def pointwise_stack(depth: int, width: int = 16, relu: bool = False) -> nn.Sequential:
    """``depth`` 1x1 convolutions from 2 channels to 2 class scores, ``width`` channels between.

    Args:
        depth: number of 1x1 convolutions (at least 1; depth 1 maps 2 channels to 2 directly).
        width: channels of every hidden layer.
        relu: put a ReLU after every 1x1 convolution but the last.

    Returns:
        The stack; applied to ``N x 2 x H x W`` images it returns ``N x 2 x H x W`` scores.

    Raises:
        TypeError, ValueError: ``depth`` or ``width`` not a positive integer, ``relu`` not a bool.
    """
    depth, width = validation.check_positive_integers(depth=depth, width=width)
    relu = validation.boolean("relu", relu)
    widths = [CHANNELS] + [width] * (depth - 1) + [2]
    layers: list[nn.Module] = []
    for index, (c_in, c_out) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Conv2d(c_in, c_out, kernel_size=1))
        if relu and index < depth - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def pixel_accuracy(model: nn.Module, data: SignXorImages) -> float:
    """Share of pixels whose arg-max score is their label, in [0, 1].

    The model is evaluated in evaluation mode, without gradients, and returned to the mode it
    was in (even when it raises); nothing else about it changes.

    Raises:
        TypeError: ``model`` is not an ``nn.Module`` or ``data`` not :class:`SignXorImages`.
    """
    validation.module("model", model)
    _check_data(data)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            predicted = model(data.images).argmax(dim=1)  # N x H x W
    finally:
        model.train(was_training)
    return (predicted == data.labels).double().mean().item()


def train_pixel_classifier(
    model: nn.Module, data: SignXorImages, *, steps: int, learning_rate: float, seed: int = 0
) -> list[float]:
    """Train ``model`` in place on every pixel at once (full batch), with Adam and cross-entropy.

    Training is this function's job: every 1x1 convolution is re-initialised and trained in
    place, and the model is left in evaluation mode. PyTorch's global generator is seeded.

    Why: the data set is small and the models are tiny, so full-batch steps are fast and leave
    no batch order to seed; ``seed`` seeds the initialisation, which is redrawn here so that the
    result depends on ``seed`` alone. Runs on the CPU, on one thread, so it repeats exactly.

    Args:
        model: returns ``N x 2 x H x W`` scores for ``N x 2 x H x W`` images.
        data: the training images and labels.
        steps: gradient steps (at least 1).
        learning_rate: Adam's step size (positive).
        seed: seeds the re-initialisation of every 1x1 convolution.

    Returns:
        The training loss (mean cross-entropy per pixel, in nats) after each step.

    Raises:
        TypeError: ``model`` is not a module, ``data`` not :class:`SignXorImages`, or a number
            of the wrong type.
        ValueError: ``steps`` below 1, ``learning_rate`` not positive, a seed outside
            ``[0, 2**32 - 1]``.
        onebyone.training.TrainingDiverged: the loss became ``nan`` or infinite (``epoch`` 1,
            ``step`` the gradient step).
    """
    validation.module("model", model)
    _check_data(data)
    steps = validation.positive_integer("steps", steps)
    learning_rate = validation.positive_number("learning_rate", learning_rate)
    seed = validation.seed("seed", seed)
    torch.manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.reset_parameters()
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    losses = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model.train()
        for step in range(1, steps + 1):
            loss = F.cross_entropy(model(data.images), data.labels)  # per pixel, nats
            value = loss.item()
            if not math.isfinite(value):
                raise TrainingDiverged(1, step, value, learning_rate)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(value)
    finally:
        torch.set_num_threads(threads)
    model.eval()
    return losses


def best_affine_accuracy(data: SignXorImages, directions: int = 720) -> float:
    """The best accuracy of a rule ``a . x + c > 0`` on ``data``'s pixels, over a grid of ``a``.

    Why: every linear stack of 1x1 convolutions, however deep, is one affine map per pixel, and
    its arg-max over two scores is such a rule, so the best rule is the ceiling of what training
    any of them can reach. For each of ``directions`` unit vectors ``a`` evenly spaced in angle,
    every threshold ``c`` is tried (one per distinct projection, by sorting); since the whole
    circle is covered, either class can be on the positive side. The search is exhaustive over
    thresholds but not over directions, so the result is a lower bound on the true ceiling: a
    direction between two grid angles may do slightly better.

    Args:
        data: the images and labels (two channels).
        directions: number of directions tried, evenly spaced in angle over the circle.

    Returns:
        The best accuracy found, in [0, 1]: at least the share of the larger class, and at most
        the best accuracy of any affine rule.

    Raises:
        TypeError, ValueError: ``data`` not :class:`SignXorImages`, ``directions`` not a
            positive integer.
    """
    _check_data(data)
    directions = validation.positive_integer("directions", directions)
    x = data.images.permute(0, 2, 3, 1).reshape(-1, CHANNELS).double()  # P x 2, one row per pixel
    y = data.labels.reshape(-1).double()  # P
    positives = y.sum()
    best = max(positives.item(), (y.numel() - positives).item())  # a constant rule
    angles = torch.arange(directions, dtype=torch.float64) * (2 * math.pi / directions)
    for angle in angles:
        projection = x @ torch.stack([torch.cos(angle), torch.sin(angle)])  # P
        order = torch.argsort(projection, descending=True)
        # predict 1 for the k largest projections: correct = 1s among them + 0s among the rest
        ones_above = torch.cumsum(y[order], dim=0)  # P
        k = torch.arange(1, y.numel() + 1, dtype=torch.float64)
        correct = ones_above + (y.numel() - positives) - (k - ones_above)  # P
        best = max(best, correct.max().item())
    return best / y.numel()
