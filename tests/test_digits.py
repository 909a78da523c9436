"""Tests for onebyone.digits, against scikit-learn's raw digits."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits

from onebyone.digits import DigitsSplit, load_digits_split


@pytest.fixture(scope="module")
def raw():
    digits = load_digits()
    return torch.tensor(digits.images), torch.tensor(digits.target)


@pytest.fixture(scope="module")
def split() -> DigitsSplit:
    return load_digits_split()


def test_shapes_types_and_range(split):
    for images, labels in (
        (split.train_images, split.train_labels),
        (split.test_images, split.test_labels),
    ):
        assert images.dtype == torch.float32
        assert labels.dtype == torch.int64
        assert images.shape[1:] == (1, 8, 8)
        assert labels.shape == (images.shape[0],)
        assert images.min() >= 0.0 and images.max() <= 1.0
        assert set(labels.tolist()) == set(range(10))
    assert split.num_classes == 10


def test_sizes_follow_the_test_fraction(raw):
    images, _ = raw
    for fraction in (0.25, 0.5, 0.1):
        split = load_digits_split(test_fraction=fraction)
        assert split.train_images.shape[0] + split.test_images.shape[0] == images.shape[0]
        assert abs(split.test_images.shape[0] - fraction * images.shape[0]) <= 1


def test_the_split_is_a_partition_of_the_raw_images(split, raw):
    """Every raw image, times 16, with its label, appears exactly once across the two sets."""
    images, labels = raw

    def rows(images: torch.Tensor, labels: torch.Tensor) -> list[tuple]:
        pixels = (images.reshape(images.shape[0], 64) * 16).round().to(torch.int64)
        return sorted((*p.tolist(), int(label)) for p, label in zip(pixels, labels, strict=True))

    ours = rows(
        torch.cat([split.train_images, split.test_images]),
        torch.cat([split.train_labels, split.test_labels]),
    )
    assert ours == rows(images / 16, labels)


def test_the_split_is_stratified(split, raw):
    _, labels = raw
    overall = torch.bincount(labels, minlength=10).double() / labels.numel()
    test = torch.bincount(split.test_labels, minlength=10).double()
    expected = overall * split.test_labels.numel()
    assert torch.all((test - expected).abs() <= 1.0)


def test_same_seed_same_split_other_seed_other_split():
    first, again, other = (
        load_digits_split(seed=3),
        load_digits_split(seed=3),
        load_digits_split(seed=4),
    )
    assert torch.equal(first.test_images, again.test_images)
    assert torch.equal(first.train_labels, again.train_labels)
    assert not torch.equal(first.test_images, other.test_images)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_bad_test_fraction(fraction):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        load_digits_split(test_fraction=fraction)


def test_bad_seed():
    with pytest.raises(ValueError, match="non-negative"):
        load_digits_split(seed=-1)


def test_a_validation_set_is_carved_out_disjoint_and_stratified(raw):
    images, labels = raw
    split = load_digits_split(test_fraction=0.2, seed=0, validation_fraction=0.2)
    assert split.has_validation and not load_digits_split().has_validation
    sizes = [len(split.train_labels), len(split.validation_labels), len(split.test_labels)]
    assert sum(sizes) == images.shape[0]
    assert abs(sizes[1] - 0.2 * images.shape[0]) <= 1 and abs(sizes[2] - 0.2 * images.shape[0]) <= 1

    def rows(images: torch.Tensor, labels: torch.Tensor) -> list[tuple]:
        pixels = (images.reshape(images.shape[0], 64) * 16).round().to(torch.int64)
        return sorted((*p.tolist(), int(label)) for p, label in zip(pixels, labels, strict=True))

    ours = rows(
        torch.cat([split.train_images, split.validation_images, split.test_images]),
        torch.cat([split.train_labels, split.validation_labels, split.test_labels]),
    )
    assert ours == rows(images / 16, labels)  # a partition: no image in two sets
    overall = torch.bincount(labels, minlength=10).double() / labels.numel()
    counts = torch.bincount(split.validation_labels, minlength=10).double()
    assert torch.all((counts - overall * sizes[1]).abs() <= 1.0)
    # the test set does not depend on whether a validation set is carved out of the rest
    assert torch.equal(split.test_images, load_digits_split(0.2, 0).test_images)


@pytest.mark.parametrize("fraction", [-0.1, 0.75, 0.8])
def test_bad_validation_fraction(fraction):
    with pytest.raises(ValueError, match="validation_fraction"):
        load_digits_split(test_fraction=0.25, validation_fraction=fraction)


def test_the_default_split_is_seed_0(split):
    assert torch.equal(split.test_images, load_digits_split(seed=0).test_images)


def test_the_validation_set_is_seeded_too():
    first, again, other = (
        load_digits_split(test_fraction=0.2, seed=s, validation_fraction=0.2) for s in (3, 3, 4)
    )
    assert torch.equal(first.validation_images, again.validation_images)
    assert torch.equal(first.train_labels, again.train_labels)
    assert not torch.equal(first.validation_images, other.validation_images)


@pytest.mark.parametrize(("test_fraction", "validation_fraction"), [(0.2, 0.1), (0.25, 0.3)])
def test_the_validation_set_is_its_share_of_all_images(raw, test_fraction, validation_fraction):
    """validation_fraction is a share of all 1,797 images, not of those left after the test set."""
    total = raw[0].shape[0]
    split = load_digits_split(test_fraction, 0, validation_fraction)
    assert abs(len(split.validation_labels) - validation_fraction * total) <= 1
    assert abs(len(split.test_labels) - test_fraction * total) <= 1


def test_fractions_that_leave_a_set_without_every_digit_are_refused_by_name():
    # issue 23: scikit-learn refused them in its own words (test_size, train_size)
    with pytest.raises(ValueError, match=r"^test_fraction=0\.001 leaves 2 test images of 1797: "
                                         r"a stratified split needs at least 10"):
        load_digits_split(0.001)
    with pytest.raises(ValueError, match=r"^test_fraction=0\.999 leaves 1 train images"):
        load_digits_split(0.999)
    with pytest.raises(ValueError, match=r"^test_fraction=0\.25, validation_fraction=0\.001 "
                                         r"leave 2 validation images"):
        load_digits_split(0.25, 0, 0.001)
    split = load_digits_split(10 / 1797)  # exactly one test image per digit is enough
    assert split.test_labels.unique().numel() == 10
