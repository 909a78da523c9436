"""Checks for the exercises of Chapter 3 (adding non-linearity: Network in Network).

Expected values come from PyTorch itself (running the layers) or from :mod:`onebyone.cost`'s
formulas, never typed in, so a check cannot drift from the book.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from onebyone import cost
from onebyone.cost import conv2d_parameters
from onebyone.exercises.checks import (
    ExerciseFailed,
    draw_parameters,
    expect,
    expect_integer,
    expect_plain_tensor,
    expect_tensor_close,
    passed,
)
from onebyone.exercises.forbidden import ANSWER_RULES, call_answer
from onebyone.nin import MlpConv

NO_BIASES = "that leaves the biases out: each layer has one per output channel"


def _draw(generator: torch.Generator, low: int, high: int) -> int:
    """A size drawn uniformly from ``low`` to ``high``, both included."""
    return int(torch.randint(low, high + 1, (1,), generator=generator).item())


def _collapse_inputs(seed: int, hidden_seed: int | None) -> list[torch.Tensor]:
    """The float64 inputs, N x 4 x H x W, on which the collapse checks try an answer.

    Why: one input of a fixed size drawn from the exercise's seed, and, with ``hidden_seed``,
    one of a size the student cannot know, so that an answer fitted to one shape fails.
    """
    inputs = [torch.randn(3, 4, 5, 6, generator=torch.Generator().manual_seed(seed + 1))]
    if hidden_seed is not None:
        hidden = torch.Generator().manual_seed(hidden_seed)
        shape = (_draw(hidden, 1, 4), 4, _draw(hidden, 1, 8), _draw(hidden, 1, 8))
        inputs.append(torch.randn(shape, generator=hidden))
    return [x.to(torch.float64) for x in inputs]


def _in_float64(answer: nn.Module) -> nn.Module:
    """A float64 copy of the student's layer on the CPU; the layer itself is left as it is.

    Why a copy: ``Module.to`` changes a module in place.
    """
    return copy.deepcopy(answer).to(device="cpu", dtype=torch.float64)


def exercise_pointwise_pair(seed: int = 0) -> tuple[nn.Conv2d, nn.Conv2d]:
    """The two 1x1 convolutions of Exercise 3: 4 -> 3 channels, then 3 -> 2, with biases.

    Why: the exercise and its check must use the same layers; drawing them from a seed here
    keeps the notebook short and the check independent of the reader's random state.
    """
    generator = torch.Generator().manual_seed(seed)
    first = nn.Conv2d(4, 3, kernel_size=1, dtype=torch.float64)
    second = nn.Conv2d(3, 2, kernel_size=1, dtype=torch.float64)
    draw_parameters(generator, first, second)
    return first, second


def check_collapsed_conv(
    answer: object, seed: int = 0, *, hidden_seed: int | None = None
) -> None:
    """Exercise 3: one 1x1 ``nn.Conv2d`` that computes ``second(first(x))``.

    The answer runs under the exercise's rule (no :mod:`onebyone.composition`); a grader also
    builds it under that rule (:data:`~onebyone.exercises.forbidden.ANSWER_RULES`).

    Args:
        answer: the student's convolution.
        seed: the seed given to :func:`exercise_pointwise_pair`.
        hidden_seed: if given, the answer is also tried on an input of a size drawn from it.
    """
    rule = ANSWER_RULES["chapter3.check_collapsed_conv"]
    first, second = exercise_pointwise_pair(seed)
    expect(isinstance(answer, nn.Conv2d), f"answer should be an nn.Conv2d, got {type(answer)}")
    expect(
        tuple(answer.kernel_size) == (1, 1),
        f"answer has a {tuple(answer.kernel_size)} kernel: it should be a 1x1 convolution",
    )
    expect(
        (answer.in_channels, answer.out_channels) == (4, 2),
        f"answer maps {answer.in_channels} to {answer.out_channels} channels; it should map "
        "the first layer's inputs to the second layer's outputs",
    )
    expect(answer.bias is not None, "answer has no bias, but the stack adds W2 b1 + b2")
    inputs = _collapse_inputs(seed, hidden_seed)
    in_float64 = _in_float64(answer)
    for x in inputs:
        with torch.no_grad():
            expected = second(first(x))  # N x 2 x H x W
            output = call_answer(rule, "answer(x)", in_float64, x)
        # a float32 answer holds its weights to float32's precision; judge it by that
        tolerance = 1e-8 if answer.weight.dtype == torch.float64 else 1e-5
        expect_tensor_close(output, expected, "answer(x)", rtol=1e-6, atol=tolerance)
    passed("the stack of two 1x1 convolutions is one 1x1 convolution")


def check_mlpconv_parameters(answer: object) -> None:
    """Exercise 1: parameters, biases included, of NiN's first mlpconv layer for CIFAR-10.

    The layer is a 5x5 convolution from 3 to 192 channels, then 1x1 convolutions from 192 to
    160 and from 160 to 96 channels.
    """
    layers = [(3, 192, 5), (192, 160, 1), (160, 96, 1)]
    expected = sum(conv2d_parameters(c_in, c_out, k) for c_in, c_out, k in layers)
    mistakes = [
        (sum(conv2d_parameters(c_in, c_out, k, bias=False) for c_in, c_out, k in layers),
         NO_BIASES),
        (sum(conv2d_parameters(c_in, c_out, 1) for c_in, c_out, _ in layers),
         "the 5x5 convolution has k^2 = 25 weights per input and output channel"),
    ]
    expect_integer(answer, expected, "the mlpconv layer's parameters (weights and biases)",
                   mistakes)
    passed("k^2 C_in C_hidden + C_hidden C_hidden' + C_hidden' C_out, plus the biases")


def check_fully_connected_head_parameters(answer: object) -> None:
    """Exercise 2: parameters, biases included, of AlexNet's fully connected head.

    The head flattens 256 x 6 x 6 feature maps, then has fully connected layers of 4096,
    4096 and 1000 outputs.
    """
    layers = ((256 * 6 * 6, 4096), (4096, 4096), (4096, 1000))
    expected = sum(c_in * c_out + c_out for c_in, c_out in layers)
    mistakes = [
        (sum(in_features * out_features for in_features, out_features in layers), NO_BIASES),
        (expected - 256 * 6 * 6 * 4096 + 256 * 4096,
         "the first layer reads every number of the flattened 256 x 6 x 6 maps"),
    ]
    expect_integer(answer, expected, "the head's parameters (weights and biases)", mistakes)
    passed("a global average pooling head would have none of these")


def check_mlpconv_block(
    mlpconv: Callable[[int, int, int, int], nn.Module], *, hidden_seed: int | None = None
) -> None:
    """Exercise 4: ``mlpconv(in_channels, hidden_channels, out_channels, kernel_size)`` builds
    NiN's mlpconv layer from ``nn.Conv2d`` and ``nn.ReLU``: a "same" ``k x k`` convolution to
    ``hidden_channels``, a 1x1 convolution to ``hidden_channels`` and one to ``out_channels``,
    each followed by a ReLU (as :class:`onebyone.nin.MlpConv` with ``padding=k // 2``), without
    the package's ``nin`` module (refused while the answer runs).

    The student's block is compared with the package's on the same weights, so a missing or
    misplaced ReLU is caught as well as a wrong layer. With ``hidden_seed``, it is also tried on
    two blocks (sizes, weights and input) drawn from it, which the student cannot know.
    """
    rule = ANSWER_RULES["chapter3.check_mlpconv_block"]
    generator = torch.Generator().manual_seed(5)
    cases = [((3, 8, 4, 5), (2, 6, 7), generator), ((6, 5, 7, 3), (2, 6, 7), generator)]
    if hidden_seed is not None:
        hidden = torch.Generator().manual_seed(hidden_seed)
        for _ in range(2):
            sizes = (_draw(hidden, 1, 8), _draw(hidden, 1, 10), _draw(hidden, 1, 8),
                     2 * _draw(hidden, 0, 3) + 1)
            cases.append((sizes, (_draw(hidden, 1, 3), _draw(hidden, 1, 8), _draw(hidden, 1, 8)),
                          hidden))
    for (in_channels, hidden_channels, out_channels, k), (n, h, w), drawn in cases:
        call = f"mlpconv({in_channels}, {hidden_channels}, {out_channels}, {k})"
        block = call_answer(rule, call, mlpconv, in_channels, hidden_channels, out_channels, k)
        expect(isinstance(block, nn.Module), f"{call} should be an nn.Module, got {type(block)}")
        expect(not any(isinstance(module, MlpConv) for module in block.modules()),
               f"{call} uses onebyone.nin.MlpConv: {rule.hint}")
        convs = [module for module in block.modules() if isinstance(module, nn.Conv2d)]
        shapes = [(conv.in_channels, conv.out_channels, tuple(conv.kernel_size)) for conv in convs]
        wanted = [(in_channels, hidden_channels, (k, k)),
                  (hidden_channels, hidden_channels, (1, 1)),
                  (hidden_channels, out_channels, (1, 1))]
        expect(
            len(convs) == 3,
            f"{call} has {len(convs)} nn.Conv2d layers; an mlpconv layer has 3",
        )
        for index, (got, want) in enumerate(zip(shapes, wanted, strict=True)):
            expect(
                got == want,
                f"convolution {index + 1} of {call} maps {got[0]} to {got[1]} channels with a "
                f"{got[2]} kernel; expected {want[0]} to {want[1]} with a {want[2]} kernel",
            )
        reference = MlpConv(in_channels, hidden_channels, out_channels, k, padding=k // 2)
        expect(
            cost.count_parameters(block) == cost.count_parameters(reference),
            f"{call} has {cost.count_parameters(block):,} parameters: are the biases there?",
        )
        reference = reference.to(torch.float64)
        block = block.to(torch.float64)
        with torch.no_grad():
            ours_in_order = (reference.conv, reference.cccp1, reference.cccp2)
            for theirs, ours in zip(convs, ours_in_order, strict=True):
                # the student's layer: only its weight and bias are touched
                theirs.weight.copy_(torch.randn(theirs.weight.shape, generator=drawn))
                theirs.bias.copy_(torch.randn(theirs.bias.shape, generator=drawn))
                ours.weight.copy_(theirs.weight)
                ours.bias.copy_(theirs.bias)
            x = torch.randn(n, in_channels, h, w, generator=drawn, dtype=torch.float64)
            expected = reference(x)  # N x out_channels x H x W
            output = call_answer(rule, f"{call}(x)", block, x)
        expect_tensor_close(output, expected, f"{call}(x) for x of shape {tuple(x.shape)}",
                            rtol=1e-10, atol=1e-10)
    passed("k x k convolution, then a per-pixel MLP of two 1x1 convolutions, ReLU after each")


# --- Exercises 5 and 6: predict, then train (the sign-XOR pixels with two new labels) ----------

# Imported here, beside the exercises that use them (appended after the first four).
import functools  # noqa: E402
import math  # noqa: E402
from types import MappingProxyType  # noqa: E402

from onebyone.synthetic import (  # noqa: E402
    SignXorImages,
    make_sign_xor_images,
    pixel_accuracy,
    pointwise_stack,
    train_pixel_classifier,
)

RELABELLINGS = ("cone", "diagonal")
"""The labels of Exercises 5 and 6: ``cone`` is 1 where ``|x0| > |x1|``, ``diagonal`` where
``x0 > x1``, for a pixel's two channel values ``(x0, x1)``."""

TRAINING = MappingProxyType({"steps": 200, "learning_rate": 0.02, "seed": 0})
"""How Exercise 6 trains every stack: the keyword arguments of
:func:`onebyone.synthetic.train_pixel_classifier` (the training of the chapter's sign-XOR
experiment, from its first seed)."""

REACHED = 0.9
"""The accuracy (a share) at which the prompt of Exercise 5 counts a task as solved (90%)."""

CHANCE_CEILING = 0.6
"""Below this share, a stack has stayed near chance on a label that flipping both signs keeps
(the best affine rule on the chapter's sign-XOR test pixels is under it too)."""

AGREEMENT = 0.03
"""How far (a share) a student's accuracy may be from the same run made by the check: training
repeats exactly on one machine, and three points covers another CPU's rounding (as the book's
``TRAINED`` declaration does)."""

_TRAIN_SEED, _TEST_SEED = 100, 101  # the images of the chapter's sign-XOR experiment


def exercise_relabelled_pixels(label: str) -> tuple[SignXorImages, SignXorImages]:
    """The training and test images of Exercise 6, relabelled by ``label`` (``"cone"`` or
    ``"diagonal"``, see :data:`RELABELLINGS`).

    Why: the chapter trains on the XOR of the two channel signs; the exercise keeps the same
    pixels (32 training and 64 test images of 8 x 8) and changes only the rule that labels them,
    so that the student predicts from the rule alone.

    Raises:
        ExerciseFailed: ``label`` is not one of :data:`RELABELLINGS` (a hint, as for an answer).
    """
    expect(label in RELABELLINGS,
           f"label should be one of {RELABELLINGS}, got {label!r}")
    pairs = []
    for seed, count in ((_TRAIN_SEED, 32), (_TEST_SEED, 64)):
        images = make_sign_xor_images(count, seed=seed).images  # N x 2 x 8 x 8
        x0, x1 = images[:, 0], images[:, 1]  # N x 8 x 8 each
        labels = (x0.abs() > x1.abs()) if label == "cone" else (x0 > x1)
        pairs.append(SignXorImages(images=images, labels=labels.long()))
    return pairs[0], pairs[1]


def _expect_bool(value: object, name: str, what: str) -> None:
    expect(isinstance(value, bool),
           f"{name} should be True or False ({what}), got {type(value).__name__}")


def check_flip_prediction(
    flip_keeps_cone: object,
    flip_keeps_diagonal: object,
    predict_linear_cone: object,
    predict_linear_diagonal: object,
    predict_relu_cone: object,
) -> None:
    """Exercise 5: whether flipping both channel signs keeps each label (graded), and three
    predictions made before any training (recorded, not graded: Exercise 6 shows how they fared).
    """
    _expect_bool(flip_keeps_cone, "flip_keeps_cone", "does the cone label survive the flip?")
    _expect_bool(flip_keeps_diagonal, "flip_keeps_diagonal",
                 "does the diagonal label survive the flip?")
    for name, value in (("predict_linear_cone", predict_linear_cone),
                        ("predict_linear_diagonal", predict_linear_diagonal),
                        ("predict_relu_cone", predict_relu_cone)):
        _expect_bool(value, name, "your prediction, recorded before you train")
    expect(
        flip_keeps_cone is True,
        "flip_keeps_cone is wrong: take one pixel, say (x0, x1) = (2, -1), work out its cone "
        "label, then the label of (-x0, -x1), and compare",
    )
    expect(
        flip_keeps_diagonal is False,
        "flip_keeps_diagonal is wrong: take one pixel, say (x0, x1) = (2, -1), work out its "
        "diagonal label, then the label of (-x0, -x1), and compare",
    )
    print("Your three predictions are recorded: Exercise 6 sets them beside the outcome.")
    passed("the cone label survives the flip; the diagonal label does not")


def _share(value: object, name: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    expect(isinstance(value, int | float) and not isinstance(value, bool),
           f"{name} should be a number, got {type(value).__name__}")
    expect(math.isfinite(value), f"{name} is {value}: train again, and measure the test pixels")
    expect(
        not 1 < value <= 100,
        f"{name} is {value}: that looks like a percentage; give the share in [0, 1] that "
        "pixel_accuracy returns",
    )
    expect(0 <= value <= 1, f"{name} is {value}; an accuracy is a share in [0, 1]")
    return float(value)


@functools.cache
def _reference_accuracies() -> dict[str, float]:
    """The test accuracies of the three runs of Exercise 6, run here (a few seconds on a CPU)."""
    accuracies = {}
    for name, label, relu in (("linear_cone", "cone", False),
                              ("linear_diagonal", "diagonal", False),
                              ("relu_cone", "cone", True)):
        train, test = exercise_relabelled_pixels(label)
        model = pointwise_stack(2, width=16, relu=relu)
        train_pixel_classifier(model, train, **TRAINING)
        accuracies[name] = pixel_accuracy(model, test)
    return accuracies


def check_relabelled_experiment(
    accuracy_linear_cone: object,
    accuracy_linear_diagonal: object,
    accuracy_relu_cone: object,
    predict_linear_cone: object,
    predict_linear_diagonal: object,
    predict_relu_cone: object,
) -> None:
    """Exercise 6: the three test accuracies measured, checked against the same runs made here
    and against the rule of the chapter; the predictions of Exercise 5 are compared, not graded.

    The rule: a label that flipping both signs keeps is out of reach of every affine rule, so
    the linear stack stays below :data:`CHANCE_CEILING` on ``cone``; a label that is itself an
    affine rule (``diagonal``) is learned by the linear stack; one ReLU learns ``cone``.
    """
    measured = {
        "linear_cone": _share(accuracy_linear_cone, "accuracy_linear_cone"),
        "linear_diagonal": _share(accuracy_linear_diagonal, "accuracy_linear_diagonal"),
        "relu_cone": _share(accuracy_relu_cone, "accuracy_relu_cone"),
    }
    predicted = {}
    for name, value in (("linear_cone", predict_linear_cone),
                        ("linear_diagonal", predict_linear_diagonal),
                        ("relu_cone", predict_relu_cone)):
        _expect_bool(value, f"predict_{name}", "run Exercise 5's cell first")
        predicted[name] = value
    reference = _reference_accuracies()
    swapped = (abs(measured["linear_cone"] - reference["relu_cone"]) <= AGREEMENT
               and abs(measured["relu_cone"] - reference["linear_cone"]) <= AGREEMENT)
    expect(not swapped, "accuracy_linear_cone and accuracy_relu_cone look swapped: which "
                        "stack has the ReLU?")
    recipes = {
        "linear_cone": "pointwise_stack(2, width=16, relu=False) on the cone pixels",
        "linear_diagonal": "pointwise_stack(2, width=16, relu=False) on the diagonal pixels",
        "relu_cone": "pointwise_stack(2, width=16, relu=True) on the cone pixels",
    }
    for name, value in measured.items():
        expect(
            abs(value - reference[name]) <= AGREEMENT,
            f"accuracy_{name} is {value:.3f}, but the same run made here gives another result: "
            f"train {recipes[name]} (the training pixels) with **chapter3.TRAINING, then "
            "measure pixel_accuracy on the test pixels",
        )
    # the rule, on the student's own numbers (they agree with the runs made here)
    expect(measured["linear_cone"] < CHANCE_CEILING <= REACHED <= measured["relu_cone"]
           and measured["linear_diagonal"] >= REACHED,
           "these accuracies break the chapter's rule: run the three trainings again")
    solved = {name: value >= REACHED for name, value in measured.items()}
    right = sum(predicted[name] == solved[name] for name in measured)
    for name in measured:
        verdict = "solved" if solved[name] else "not solved"
        guess = "solved" if predicted[name] else "not solved"
        print(f"{name:>15}: {100 * measured[name]:5.1f}% test accuracy, {verdict} "
              f"(you predicted: {guess})")
    print(f"{right} of your 3 predictions held.")
    passed("a label the sign flip keeps defeats every linear stack; one ReLU is enough")


# --- Exercise 3: a k x k convolution followed by a 1x1 convolution, collapsed ------------------


def exercise_conv_then_pointwise(seed: int = 0) -> tuple[nn.Conv2d, nn.Conv2d]:
    """The two layers of Exercise 3: a 3x3 convolution from 4 to 3 channels with padding 1,
    then a 1x1 convolution from 3 to 2 channels, float64, with biases, drawn from ``seed``.

    Why: the chapter spells out the collapse of two 1x1 convolutions; this pair asks the student
    to carry the same argument to a convolution that looks at neighbours (as in an mlpconv layer
    whose ReLUs were left out), and the exercise and its check must use the same layers.
    """
    generator = torch.Generator().manual_seed(seed)
    first = nn.Conv2d(4, 3, kernel_size=3, padding=1, dtype=torch.float64)
    second = nn.Conv2d(3, 2, kernel_size=1, dtype=torch.float64)
    draw_parameters(generator, first, second)
    return first, second


def check_collapsed_conv_then_pointwise(
    answer: object, seed: int = 0, *, hidden_seed: int | None = None
) -> None:
    """Exercise 3: one 3x3 ``nn.Conv2d`` (padding 1) that computes ``second(first(x))`` for the
    layers of :func:`exercise_conv_then_pointwise`.

    The answer runs under the rule of :func:`check_collapsed_conv` (no
    :mod:`onebyone.composition`). With ``hidden_seed``, it is also tried on an input of a size
    drawn from it.
    """
    rule = ANSWER_RULES["chapter3.check_collapsed_conv"]
    first, second = exercise_conv_then_pointwise(seed)
    expect(isinstance(answer, nn.Conv2d), f"answer should be an nn.Conv2d, got {type(answer)}")
    expect(
        tuple(answer.kernel_size) == (3, 3),
        f"answer has a {tuple(answer.kernel_size)} kernel: the 1x1 layer after the 3x3 one "
        "reads one pixel, so the pair still sees 3x3 patches",
    )
    expect(
        tuple(answer.padding) == (1, 1) and tuple(answer.stride) == (1, 1)
        and tuple(answer.dilation) == (1, 1) and answer.groups == 1,
        "answer should keep the first layer's stride 1, padding 1, dilation 1 and one group",
    )
    expect(
        (answer.in_channels, answer.out_channels) == (4, 2),
        f"answer maps {answer.in_channels} to {answer.out_channels} channels; it should map "
        "the first layer's inputs to the second layer's outputs",
    )
    expect(answer.bias is not None, "answer has no bias, but the pair adds W2 b1 + b2")
    inputs = _collapse_inputs(seed, hidden_seed)
    in_float64 = _in_float64(answer)
    with torch.no_grad():
        bias_only = in_float64.bias.clone()
        # a Tensor subclass could answer torch.allclose itself: compared only when plain
        kernel_ok = type(in_float64.weight) is nn.Parameter and torch.allclose(
            in_float64.weight,
            torch.einsum("om,mcij->ocij", second.weight[:, :, 0, 0], first.weight),
            rtol=1e-6, atol=1e-5,
        )
    for x in inputs:
        with torch.no_grad():
            expected = second(first(x))  # N x 2 x H x W
            output = call_answer(rule, "answer(x)", in_float64, x)
        expect_plain_tensor(output, "answer(x)")
        same_layout = (output.shape == expected.shape
                       and output.dtype == expected.dtype and not output.is_meta)
        try:
            expect_tensor_close(output, expected, "answer(x)", rtol=1e-6, atol=1e-5)
        except ExerciseFailed as failure:
            if not same_layout:
                raise
            # wrong values: say which part of the layer is wrong
            if kernel_ok:
                expect(False, "answer's weight is right but its bias is not: the first "
                              "layer's bias passes through the 1x1 layer too, b = W2 b1 + b2 "
                              f"(got {bias_only.tolist()})")
            expect(False, f"{failure}: answer(x) differs from second(first(x)); each output "
                          "channel o of the pair is the sum over the middle channels m of "
                          "W2[o, m] times the 3x3 filter m of the first layer")
    passed("a 3x3 convolution followed by a 1x1 convolution is one 3x3 convolution")
