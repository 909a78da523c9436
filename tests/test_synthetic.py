"""Tests for onebyone.synthetic: the sign-XOR images, the affine ceiling, and the experiment."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from onebyone.composition import collapse_pointwise_stack
from onebyone.synthetic import (
    MAX_CONTRAST_SPREAD,
    SignXorImages,
    best_affine_accuracy,
    make_sign_xor_images,
    pixel_accuracy,
    pointwise_stack,
    sign_xor_labels,
    train_pixel_classifier,
)
from onebyone.training import TrainingDiverged


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


def test_a_channel_at_zero_is_not_positive():
    """The label is the XOR of ``x > 0``, so 0 counts as not positive, in either channel."""
    images = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0], [0.5, -0.5]])  # 4 pixels
    images = images.T.reshape(1, 2, 2, 2)  # 1 x 2 x 2 x 2
    assert sign_xor_labels(images).flatten().tolist() == [1, 1, 0, 1]


@pytest.mark.parametrize("spread", [0.0, 0.5])
def test_each_pixel_is_a_normal_direction_times_one_log_normal_contrast(spread):
    """From the seeded generator: N x 2 directions first, then one log-contrast per pixel."""
    generator = torch.Generator().manual_seed(4)
    directions = torch.randn(3, 2, 2, 2, generator=generator)  # N x 2 x H x W
    contrast = (spread * torch.randn(3, 1, 2, 2, generator=generator)).exp()  # N x 1 x H x W
    data = make_sign_xor_images(3, size=2, seed=4, contrast_spread=spread)
    torch.testing.assert_close(data.images, directions * contrast)
    assert torch.equal(data.labels, sign_xor_labels(data.images))


def test_default_images_are_8_by_8_from_seed_0_and_spread_is_validated():
    default = make_sign_xor_images(2)
    explicit = make_sign_xor_images(2, size=8, seed=0, contrast_spread=1.5)
    assert torch.equal(default.images, explicit.images)
    with pytest.raises(ValueError, match=r"^contrast_spread must be non-negative, got -0\.1$"):
        make_sign_xor_images(2, contrast_spread=-0.1)


def test_stack_widths_default_to_16_hidden_channels_and_2_class_scores():
    stack = pointwise_stack(3)
    convs = [m for m in stack if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(2, 16), (16, 16), (16, 2)]
    assert all(c.kernel_size == (1, 1) for c in convs)
    assert [(c.in_channels, c.out_channels) for c in pointwise_stack(1)] == [(2, 2)]
    assert stack(torch.zeros(3, 2, 5, 4)).shape == (3, 2, 5, 4)  # N x 2 x H x W scores


def test_pixel_accuracy_of_a_constant_rule_is_the_share_of_its_class():
    data = make_sign_xor_images(4, size=3, seed=8)
    always_one = pointwise_stack(1)
    with torch.no_grad():
        always_one[0].weight.zero_()
        always_one[0].bias.copy_(torch.tensor([0.0, 1.0]))  # score of label 1 is higher
    assert pixel_accuracy(always_one, data) == data.labels.double().mean().item()


def brute_force_best_affine(data: SignXorImages, directions: int) -> float:
    """Every grid direction and every cut, counted pixel by pixel: O(directions x P^2)."""
    x = data.images.permute(0, 2, 3, 1).reshape(-1, 2).double().tolist()  # P pixels
    y = data.labels.flatten().tolist()
    best = max(sum(y), len(y) - sum(y))
    for i in range(directions):
        a = (math.cos(2 * math.pi * i / directions), math.sin(2 * math.pi * i / directions))
        projections = [a[0] * x0 + a[1] * x1 for x0, x1 in x]
        for cut in projections:  # predict 1 where a . x >= cut
            correct = sum((p >= cut) == bool(t) for p, t in zip(projections, y, strict=True))
            best = max(best, correct)
    return best / len(y)


@pytest.mark.parametrize("directions", [1, 3, 8])
def test_best_affine_accuracy_matches_a_brute_force_search(directions):
    images = make_sign_xor_images(2, size=3, seed=11).images  # 2 x 2 x 3 x 3: 18 pixels
    labels = torch.randint(0, 2, (2, 3, 3), generator=torch.Generator().manual_seed(12))
    data = SignXorImages(images, labels)
    assert best_affine_accuracy(data, directions) == brute_force_best_affine(data, directions)


def test_the_default_grid_of_720_directions_finds_a_rule_at_half_a_degree():
    """Pixels separable only by the normal at 0.5 degrees: the 720-grid holds it, 721 misses it."""
    theta, eps = 2 * math.pi / 720, 5e-6
    normal = torch.tensor([math.cos(theta), math.sin(theta)])
    along = torch.tensor([-math.sin(theta), math.cos(theta)])
    points = torch.stack(
        [along + eps * normal, along - eps * normal, -along + eps * normal, -along - eps * normal]
    )  # 4 pixels x 2 channels
    data = SignXorImages(points.reshape(4, 2, 1, 1), torch.tensor([1, 0, 1, 0]).view(4, 1, 1))
    assert best_affine_accuracy(data) == 1.0
    assert best_affine_accuracy(data, directions=721) == 0.75  # a lower bound, not the ceiling


class ThreadRecorder(nn.Module):
    """A 1x1 convolution that records how many threads PyTorch may use in each forward."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, kernel_size=1)
        self.threads: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.threads.append(torch.get_num_threads())
        return self.conv(x)


def test_pixel_training_runs_on_one_thread_from_seed_0_with_the_given_step_size():
    data = make_sign_xor_images(2, size=2, seed=0)
    model = ThreadRecorder()
    threads = torch.get_num_threads()
    default = train_pixel_classifier(model, data, steps=2, learning_rate=0.1)
    assert model.threads == [1, 1] and torch.get_num_threads() == threads
    assert default == train_pixel_classifier(model, data, steps=2, learning_rate=0.1, seed=0)
    assert default != train_pixel_classifier(model, data, steps=2, learning_rate=0.1, seed=1)
    larger_steps = train_pixel_classifier(model, data, steps=2, learning_rate=0.3)
    assert larger_steps[0] == default[0] and larger_steps[1] != default[1]  # the first step's size


def test_data_that_is_not_sign_xor_images_is_refused_by_its_type():
    with pytest.raises(TypeError, match=r"^data must be SignXorImages, got list$"):
        pixel_accuracy(pointwise_stack(1), [torch.zeros(1, 2, 1, 1)])


def test_the_largest_spread_gives_finite_images_and_a_larger_one_is_refused():
    # issue 23: contrast_spread=1000 gave images of inf
    data = make_sign_xor_images(64, size=16, contrast_spread=MAX_CONTRAST_SPREAD)
    assert torch.isfinite(data.images).all()
    assert data.images.abs().max() > 1e15  # the spread is really used
    with pytest.raises(ValueError, match=r"^contrast_spread must be at most 10\.0 .* got 1000\.0$"):
        make_sign_xor_images(2, contrast_spread=1000)


def test_a_diverged_pixel_training_raises_naming_the_step():
    class NanAfterTwo(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.calls = nn.Conv2d(2, 2, 1), 0

        def forward(self, x):
            self.calls += 1
            return self.conv(x) * (float("nan") if self.calls > 2 else 1.0)

    with pytest.raises(TrainingDiverged, match=r"epoch 1, step 3 \(learning_rate=0\.1\)"):
        train_pixel_classifier(NanAfterTwo(), make_sign_xor_images(2), steps=5,
                               learning_rate=0.1)


def test_pixel_accuracy_restores_the_mode_even_when_the_model_raises():
    model = pointwise_stack(2).train()
    pixel_accuracy(model, make_sign_xor_images(2))
    assert model.training  # issue 23: it was left in eval mode
    model.register_forward_hook(lambda *args: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        pixel_accuracy(model, make_sign_xor_images(2))
    assert model.training
