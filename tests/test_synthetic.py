"""Tests for onebyone.synthetic: the sign-XOR images, the affine ceiling, and the experiment."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from onebyone.composition import collapse_pointwise_stack
from onebyone.synthetic import (
    SignXorImages,
    best_affine_accuracy,
    make_sign_xor_images,
    pixel_accuracy,
    pointwise_stack,
    sign_xor_labels,
    train_pixel_classifier,
)


def test_labels_are_the_xor_of_the_channel_signs():
    images = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -2.0]])  # 4 pixels
    images = images.T.reshape(1, 2, 2, 2)  # 1 x 2 x 2 x 2
    assert sign_xor_labels(images).flatten().tolist() == [0, 1, 1, 0]
    with pytest.raises(ValueError, match="N x 2 x H x W"):
        sign_xor_labels(torch.zeros(1, 3, 2, 2))


def test_images_are_seeded_balanced_and_shaped():
    first, again, other = (make_sign_xor_images(16, seed=s) for s in (5, 5, 6))
    assert first.images.shape == (16, 2, 8, 8) and first.labels.shape == (16, 8, 8)
    assert torch.equal(first.images, again.images)
    assert not torch.equal(first.images, other.images)
    assert abs(first.labels.float().mean().item() - 0.5) < 0.05
    assert first.pixels == 16 * 64
    flat = make_sign_xor_images(16, seed=5, contrast_spread=0.0)
    assert flat.images.abs().max() < first.images.abs().max()  # contrast spreads the scale
    for bad in ({"count": 0}, {"count": 2, "size": 0}, {"count": 2, "seed": -1}):
        with pytest.raises(ValueError):
            make_sign_xor_images(**bad)


def test_stacks_have_the_requested_depth_and_linear_ones_collapse():
    linear, with_relu = pointwise_stack(4), pointwise_stack(2, relu=True)
    assert sum(isinstance(m, nn.Conv2d) for m in linear) == 4
    assert [type(m) for m in with_relu] == [nn.Conv2d, nn.ReLU, nn.Conv2d]
    x = torch.randn(3, 2, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(collapse_pointwise_stack(linear)(x), linear(x))
    with pytest.raises(TypeError):
        collapse_pointwise_stack(with_relu)


def test_best_affine_accuracy_is_exact_on_separable_labels_and_low_on_xor():
    data = make_sign_xor_images(16, seed=1)
    separable = SignXorImages(data.images, (data.images[:, 0] > 0).long())
    assert best_affine_accuracy(separable) == 1.0
    share = data.labels.float().mean().item()
    ceiling = best_affine_accuracy(data)
    assert max(share, 1 - share) <= ceiling < 0.62


def test_a_relu_network_computes_the_label_exactly():
    """|x0 + x1| - |x0 - x1| > 0 exactly when the signs agree: four ReLUs in one hidden layer."""
    network = pointwise_stack(2, width=4, relu=True)
    with torch.no_grad():
        network[0].weight.copy_(
            torch.tensor([[1, 1], [-1, -1], [1, -1], [-1, 1.0]]).view(4, 2, 1, 1)
        )
        network[0].bias.zero_()
        # score of label 0 (signs agree) minus score of label 1 = |x0 + x1| - |x0 - x1|
        network[2].weight.copy_(torch.tensor([[1, 1, -1, -1], [-1, -1, 1, 1.0]]).view(2, 4, 1, 1))
        network[2].bias.zero_()
    assert pixel_accuracy(network, make_sign_xor_images(32, seed=2)) == 1.0


def test_the_chapter_experiment_on_one_seed():
    train, test = make_sign_xor_images(32, seed=100), make_sign_xor_images(64, seed=101)
    ceiling = best_affine_accuracy(test)
    linear, with_relu = pointwise_stack(4), pointwise_stack(2, relu=True)
    for model in (linear, with_relu):
        losses = train_pixel_classifier(model, train, steps=200, learning_rate=0.02, seed=3)
        assert len(losses) == 200 and losses[-1] < losses[0]
    assert pixel_accuracy(linear, test) <= ceiling + 0.005
    assert pixel_accuracy(with_relu, test) >= 0.97


def test_training_is_deterministic_and_validates_arguments():
    data = make_sign_xor_images(8, seed=0)
    runs = [
        train_pixel_classifier(
            pointwise_stack(2, relu=True), data, steps=5, learning_rate=0.01, seed=7
        )
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    with pytest.raises(ValueError, match="steps"):
        train_pixel_classifier(pointwise_stack(1), data, steps=0, learning_rate=0.01)
    with pytest.raises(ValueError, match="learning_rate"):
        train_pixel_classifier(pointwise_stack(1), data, steps=1, learning_rate=0.0)
