"""A small real image data set that needs no download: scikit-learn's 8x8 handwritten digits.

Why: Chapter 3 trains networks for real, on CPU, in seconds, in a build that has no network.
scikit-learn ships the test set of the UCI "Optical Recognition of Handwritten Digits" data
(Alpaydin and Kaynak, 1998) inside the package: 1,797 grey images of 8 x 8 pixels, digits 0 to 9,
with intensities from 0 to 16. This module turns them into PyTorch tensors shaped like any image
batch, ``N x 1 x 8 x 8`` with values in ``[0, 1]``, and splits them into a training and a test
set the same way on every run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from onebyone import validation

NUM_CLASSES = 10
"""The digits 0 to 9."""

MAX_INTENSITY = 16.0
"""The largest pixel value in scikit-learn's digits (each pixel counts 4 x 4 on-bits)."""


@dataclass(frozen=True)
class DigitsSplit:
    """The digits, split into a training set, an optional validation set and a test set.

    Why: one object to hand to a training loop, so that every chapter trains and evaluates on
    exactly the same images. A validation set, disjoint from the test set, is where choices
    such as the number of epochs are made; the test set is only reported.

    Attributes:
        train_images: ``N_train x 1 x 8 x 8`` float32, intensities in ``[0, 1]``.
        train_labels: ``N_train`` int64, digits ``0..9``.
        test_images: ``N_test x 1 x 8 x 8`` float32, intensities in ``[0, 1]``.
        test_labels: ``N_test`` int64, digits ``0..9``.
        validation_images: ``N_validation x 1 x 8 x 8`` float32, or ``None`` without one.
        validation_labels: ``N_validation`` int64, or ``None`` without a validation set.
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    validation_images: torch.Tensor | None = field(default=None)
    validation_labels: torch.Tensor | None = field(default=None)

    @property
    def has_validation(self) -> bool:
        """Whether the split holds a validation set."""
        return self.validation_images is not None

    @property
    def num_classes(self) -> int:
        """Number of classes (10 digits)."""
        return NUM_CLASSES


def _set_sizes(images: int, test_fraction: float,
               validation_fraction: float) -> dict[str, int]:
    """Images in each set, rounded as scikit-learn's ``train_test_split`` rounds them."""
    test = math.ceil(test_fraction * images)
    train = images - test
    sizes = {"test": test}
    if validation_fraction > 0.0:
        share = validation_fraction / (1.0 - test_fraction)  # of what the test set leaves
        sizes["validation"] = math.ceil(share * train)
        train -= sizes["validation"]
    return {"train": train, **sizes}


def _check_set_sizes(images: int, test_fraction: float, validation_fraction: float) -> None:
    """Refuse fractions that leave a set with fewer images than digits, naming the fraction.

    Why: a stratified split puts every digit in every set, so each set needs at least
    :data:`NUM_CLASSES` images; scikit-learn would refuse smaller ones in its own words
    (``test_size``, ``n_train``), far from the fraction that caused it.
    """
    sizes = _set_sizes(images, test_fraction, validation_fraction)
    for name, size in sizes.items():
        if size < NUM_CLASSES:
            fractions = (f"test_fraction={test_fraction!r}"
                         + (f", validation_fraction={validation_fraction!r}"
                            if validation_fraction > 0.0 else ""))
            verb = "leave" if validation_fraction > 0.0 else "leaves"
            raise ValueError(
                f"{fractions} {verb} {size} {name} images of {images}: a stratified split needs "
                f"at least {NUM_CLASSES} (one per digit) in every set"
            )


def load_digits_split(
    test_fraction: float = 0.25, seed: int = 0, validation_fraction: float = 0.0
) -> DigitsSplit:
    """Load scikit-learn's 8x8 digits as tensors, with a seeded, stratified split.

    Why: stratifying keeps the ten digits in the same proportions in every set, so the accuracy
    measured on a small set is not skewed by a digit that happens to be rare in it; the seed makes
    the split identical on every run, and a different seed draws different sets.

    Args:
        test_fraction: share of all images held out for testing, strictly between 0 and 1.
        seed: seed of the split (a non-negative integer).
        validation_fraction: share of all images held out for validation, disjoint from the
            test images; 0 (the default) means no validation set. Together with
            ``test_fraction`` it must leave images to train on.

    Returns:
        A :class:`DigitsSplit` on the CPU; move the tensors to a device where needed.

    Raises:
        TypeError: a fraction that is not a number, a seed that is not an integer.
        ValueError: a fraction out of range; fractions that leave fewer than 10 images (one
            per digit) in the training, validation or test set; a seed outside
            ``[0, 2**32 - 1]`` (scikit-learn's range).
    """
    test_fraction = validation.real_number("test_fraction", test_fraction)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction}")
    seed = validation.seed("seed", seed)
    validation_fraction = validation.real_number("validation_fraction", validation_fraction)
    if not 0.0 <= validation_fraction < 1.0 - test_fraction:
        raise ValueError(
            f"validation_fraction must be in [0, 1 - test_fraction), got {validation_fraction}"
        )
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32) / MAX_INTENSITY  # N x 8 x 8
    images = images.unsqueeze(1)  # N x 1 x 8 x 8
    labels = torch.tensor(digits.target, dtype=torch.int64)  # N
    _check_set_sizes(len(labels), test_fraction, validation_fraction)
    train_index, test_index = train_test_split(
        torch.arange(len(labels)).numpy(),
        test_size=test_fraction,
        random_state=seed,
        stratify=labels.numpy(),
    )
    validation_set = {}
    if validation_fraction > 0.0:
        train_index, validation_index = train_test_split(
            train_index,
            test_size=validation_fraction / (1.0 - test_fraction),  # share of what is left
            random_state=seed,
            stratify=labels.numpy()[train_index],
        )
        validation_index = torch.from_numpy(validation_index)
        validation_set = {
            "validation_images": images[validation_index],  # N_validation x 1 x 8 x 8
            "validation_labels": labels[validation_index],  # N_validation
        }
    train_index = torch.from_numpy(train_index)
    test_index = torch.from_numpy(test_index)
    return DigitsSplit(
        train_images=images[train_index],  # N_train x 1 x 8 x 8
        train_labels=labels[train_index],  # N_train
        test_images=images[test_index],  # N_test x 1 x 8 x 8
        test_labels=labels[test_index],  # N_test
        **validation_set,
    )
