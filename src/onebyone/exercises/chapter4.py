"""Checks for the exercises of Chapter 4 (Inception, and GoogLeNet's Table 1).

Each expected value is computed here with the package (:mod:`onebyone.inception`,
:mod:`onebyone.cost`, :mod:`onebyone.table1`), never typed in, so a check cannot drift from
the book.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch import nn

from onebyone.cost import count_parameters, model_macs
from onebyone.exercises.checks import (
    FLOPS_NOT_MACS,
    PER_PIXEL,
    draw_parameters,
    expect,
    expect_integer,
    expect_tensor_close,
    passed,
)
from onebyone.exercises.forbidden import ANSWER_RULES, call_answer
from onebyone.googlenet import INCEPTION_CHANNELS
from onebyone.inception import Inception, NaiveInception
from onebyone.table1 import PublishedRow, load_table1

DESIGN_INPUT = (1, 480, 14, 14)
"""The input of the design exercise: one 14 x 14 image with 480 channels (inception (4a)'s)."""
DESIGN_OUT_CHANNELS = 512
"""The design's output channels (``ch1x1 + ch3x3 + ch5x5 + pool_proj``), as inception (4a)."""
DESIGN_MAC_BUDGET = 60_000_000
"""The design's budget, in multiply-accumulates (MACs) for one image."""
DESIGN_MINIMUM = {"ch1x1": 128, "ch3x3red": 16, "ch3x3": 208, "ch5x5red": 16, "ch5x5": 48,
                  "pool_proj": 32}
"""The fewest channels each column of the design may have."""
DESIGN_COLUMNS = tuple(DESIGN_MINIMUM)


def check_inception_5a_macs(answer: object) -> None:
    """Exercise 1: MACs of inception (5a), from its channel columns in Table 1, at 7 x 7."""
    channels = INCEPTION_CHANNELS["inception5a"]
    expected = model_macs(Inception(*channels), (1, 832, 7, 7))
    c_in, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj = channels
    mistakes = [
        (2 * expected, FLOPS_NOT_MACS),
        (expected // 49, PER_PIXEL),
        (expected // 49 * 14 * 14,  # a stride-1 module's MACs grow with its pixels
         "that is at 14 x 14: inception (5a) reads the 7 x 7 output of the max pooling before it"),
        (49 * c_in * (ch1x1 + ch3x3red + ch5x5red + pool_proj)
         + 49 * (ch3x3red * ch3x3 + ch5x5red * ch5x5),
         "the 3x3 and 5x5 convolutions do k^2 multiply-accumulates per input and output "
         "channel: is k^2 there?"),
    ]
    expect_integer(answer, expected, "inception (5a)'s multiply-accumulates (MACs)", mistakes)
    published = next(row.ops_m for row in load_table1() if row.stage == "inception5a")
    passed(f"{expected / 1e6:.1f} M MACs, not the {published:.0f} M the table prints")


def _hidden_rows(hidden_seed: int) -> list[tuple[int, PublishedRow, tuple[int, int]]]:
    """Two made-up Inception rows (input channels, row, image size) drawn from ``hidden_seed``."""
    generator = torch.Generator().manual_seed(hidden_seed)

    def draw(low: int, high: int) -> int:
        return int(torch.randint(low, high + 1, (1,), generator=generator).item())

    rows = []
    for index in range(2):
        widths = [draw(1, 12) for _ in DESIGN_COLUMNS]
        ch1x1, _, ch3x3, _, ch5x5, pool_proj = widths
        size = (draw(1, 7), draw(1, 7))
        row = PublishedRow(f"hidden{index + 1}", "inception", None, None,
                           (ch1x1 + ch3x3 + ch5x5 + pool_proj, *size), 2, *widths, None, None)
        rows.append((draw(1, 16), row, size))
    return rows


def _signature(conv: nn.Conv2d) -> tuple:
    return (conv.in_channels, conv.out_channels, tuple(conv.kernel_size), conv.bias is not None)


def _assignments(theirs: list[nn.Conv2d], ours: list[nn.Conv2d], limit: int = 24):
    """Orders of the student's convolutions that pair each with one of the same shape in ours:
    two 1x1 convolutions of the same width (``ch1x1 == ch3x3red`` in inception (3b)) can be
    registered either way round."""
    groups: dict[tuple, list[int]] = {}
    for index, conv in enumerate(theirs):
        groups.setdefault(_signature(conv), []).append(index)
    keys = [_signature(conv) for conv in ours]
    choices = {key: list(itertools.permutations(indices)) for key, indices in groups.items()}
    for count, picked in enumerate(itertools.product(*choices.values())):
        if count == limit:
            return
        used = {key: list(order) for key, order in zip(choices, picked, strict=True)}
        yield [theirs[used[key].pop(0)] for key in keys]


def check_inception_block(
    inception_block: Callable[[int, PublishedRow], nn.Module], *, hidden_seed: int | None = None
) -> None:
    """Exercise 2: ``inception_block(in_channels, row)`` builds an Inception module from a row of
    Table 1 (:class:`~onebyone.table1.PublishedRow`) out of ``nn.Conv2d``, ``nn.ReLU`` and
    ``nn.MaxPool2d``, without the package's ``inception`` module (refused while it runs).

    Tried on every Inception row of the table: parameter count (weights and biases) equal to
    the package's module with the same columns, and, with the same weights loaded into both,
    the same output on a random input, so that a missing ReLU, an average pooling or a missing
    pooling is caught. With ``hidden_seed``, also on two rows of widths (and weights and input)
    drawn from it, which the student cannot know in advance.
    """
    rule = ANSWER_RULES["chapter4.check_inception_block"]
    generator = torch.Generator().manual_seed(7)
    rows = [(INCEPTION_CHANNELS[row.stage][0], row, (5, 6)) for row in load_table1()
            if row.type == "inception"]
    table_rows = len(rows)
    drawn = [generator] * table_rows
    if hidden_seed is not None:
        hidden = _hidden_rows(hidden_seed)
        rows += hidden
        drawn += [torch.Generator().manual_seed(hidden_seed + 1)] * len(hidden)
    for (in_channels, row, (height, width)), random in zip(rows, drawn, strict=True):
        call = f"inception_block({in_channels}, row {row.stage})"
        block = call_answer(rule, call, inception_block, in_channels, row)
        expect(isinstance(block, nn.Module), f"{call} should be an nn.Module, got {type(block)}")
        expect(
            not any(isinstance(module, Inception) for module in block.modules()),
            f"{call} uses onebyone.inception.Inception: build the branches yourself",
        )
        reference = Inception(in_channels, *row.channels())
        expected = count_parameters(reference)
        got = count_parameters(block)
        expect(
            got == expected,
            f"{call} has {got:,} parameters, expected {expected:,} "
            f"({'too many' if got > expected else 'too few'}: check each branch's widths "
            "and biases)",
        )
        theirs = [module for module in block.modules() if isinstance(module, nn.Conv2d)]
        ours = [module for module in reference.modules() if isinstance(module, nn.Conv2d)]
        expect(
            sorted(map(_signature, theirs)) == sorted(map(_signature, ours)),
            f"{call} has the convolutions (in, out, kernel, bias) "
            f"{[_signature(conv) for conv in theirs]}; an Inception module of this row has "
            f"{[_signature(conv) for conv in ours]}",
        )
        # float32 (PyTorch's fast CPU kernels): a wrong module is off by O(1), rounding by 1e-6
        block = block.to(torch.float32)
        x = torch.randn(1, in_channels, height, width, generator=random)
        wanted = (1, row.output_size[0], height, width)
        with torch.no_grad():
            draw_parameters(random, *ours)
            expected_output = reference(x)  # 1 x out_channels x H x W
            first_failure = None
            for order in _assignments(theirs, ours):
                for mine, conv in zip(order, ours, strict=True):
                    mine.weight.copy_(conv.weight)
                    mine.bias.copy_(conv.bias)
                output = call_answer(rule, f"{call}(x)", block, x)
                expect(
                    isinstance(output, torch.Tensor) and tuple(output.shape) == wanted,
                    f"{call}(x) for x of shape {tuple(x.shape)} has shape "
                    f"{tuple(getattr(output, 'shape', ()))}, expected {wanted}",
                )
                try:
                    expect_tensor_close(
                        output, expected_output,
                        f"{call}(x), with the package's weights loaded, for x of shape "
                        f"{tuple(x.shape)}", rtol=1e-4, atol=1e-4)
                    break
                except AssertionError as failure:
                    first_failure = first_failure or failure
            else:
                raise first_failure  # type: ignore[misc]
    passed(f"all {table_rows} Inception rows of Table 1 "
           "rebuilt, parameters and outputs right")


def check_budget_design(answer: object) -> None:
    """Exercise 3: Inception widths ``(ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)`` for
    a ``DESIGN_INPUT`` input with ``DESIGN_OUT_CHANNELS`` outputs, each column at least its
    ``DESIGN_MINIMUM``, each reduction narrower than its convolution, and at most
    ``DESIGN_MAC_BUDGET`` MACs. Many designs pass; the check measures the one given.
    """
    expect(
        isinstance(answer, (tuple, list)) and len(answer) == len(DESIGN_COLUMNS),
        f"the design should be a tuple of {len(DESIGN_COLUMNS)} ints "
        f"{DESIGN_COLUMNS}, got {answer!r}",
    )
    for column, value in zip(DESIGN_COLUMNS, answer, strict=True):
        expect(isinstance(value, int) and not isinstance(value, bool),
               f"{column} should be an int, got {value!r}")
        expect(value >= DESIGN_MINIMUM[column],
               f"{column} is {value}, below its minimum of {DESIGN_MINIMUM[column]}")
    widths = dict(zip(DESIGN_COLUMNS, answer, strict=True))
    for reduce, conv in (("ch3x3red", "ch3x3"), ("ch5x5red", "ch5x5")):
        expect(widths[reduce] < widths[conv],
               f"{reduce} ({widths[reduce]}) should be narrower than {conv} ({widths[conv]})")
    out_channels = widths["ch1x1"] + widths["ch3x3"] + widths["ch5x5"] + widths["pool_proj"]
    expect(
        out_channels == DESIGN_OUT_CHANNELS,
        f"the module outputs {out_channels} channels, expected {DESIGN_OUT_CHANNELS}",
    )
    macs = model_macs(Inception(DESIGN_INPUT[1], *answer), DESIGN_INPUT)
    expect(
        macs <= DESIGN_MAC_BUDGET,
        f"the module costs {macs:,} MACs, {macs - DESIGN_MAC_BUDGET:,} over the budget of "
        f"{DESIGN_MAC_BUDGET:,}",
    )
    passed(f"{macs:,} MACs, within the budget of {DESIGN_MAC_BUDGET:,}")


# --- Exercises 4 and 5: predict, then train (narrower reductions, on the digits) ----------------

# Imported here, beside the exercises that use them (appended after the first three).
import functools  # noqa: E402
import math  # noqa: E402
from types import MappingProxyType  # noqa: E402

from onebyone.digits import load_digits_split  # noqa: E402
from onebyone.exercises.checks import exact_number  # noqa: E402
from onebyone.layers import init_he_normal  # noqa: E402
from onebyone.multiseed import DIGITS_SETTINGS  # noqa: E402
from onebyone.runtime import seed_everything  # noqa: E402
from onebyone.small_inception import SmallInceptionNet  # noqa: E402
from onebyone.training import train_classifier  # noqa: E402

NARROW_REDUCTIONS = MappingProxyType({"ch3x3red": 2, "ch5x5red": 1})
"""Exercise 4's change to the first Inception module of the chapter's digit network
(:class:`~onebyone.small_inception.SmallInceptionNet`): its "#3x3 reduce" and "#5x5 reduce"
narrowed to these widths; every other width, and the rest of the network, kept."""

EXERCISE_SEED = 0
"""The one seed of Exercise 5: it draws the split, the initial weights and the batch order."""

EXERCISE_SPLIT = MappingProxyType({
    "test_fraction": DIGITS_SETTINGS.test_fraction,
    "validation_fraction": DIGITS_SETTINGS.validation_fraction,
    "seed": EXERCISE_SEED,
})
"""Exercise 5's digits: the keyword arguments of :func:`onebyone.digits.load_digits_split`
(the chapter's split, from its first seed)."""

EXERCISE_TRAINING = MappingProxyType({
    "epochs": DIGITS_SETTINGS.max_epochs,
    "learning_rate": DIGITS_SETTINGS.learning_rate,
    "batch_size": DIGITS_SETTINGS.batch_size,
    "device": "cpu",  # repeatable
    "seed": EXERCISE_SEED,
    "progress": False,
})
"""How Exercise 5 trains both networks: the keyword arguments of
:func:`onebyone.training.train_classifier` (the chapter's training, from its first seed, every
epoch; the accuracy reported is the one after the last epoch)."""

REACHED = 0.9
"""The test accuracy (a share) that both networks of Exercise 5 reach: 90%."""

AGREEMENT = 0.03
"""How far (a share) a student's accuracy may be from the same run made by the check: training
on the CPU repeats exactly on one machine, and three points covers another CPU's rounding (as
the book's ``TRAINED`` declaration does)."""

DIGIT_SIZE = 8
"""Height and width of a digit image, and of the first module's input (the stem keeps them)."""


def _module_widths(module: Inception) -> dict[str, int]:
    """The six Table 1 widths of ``module``, read off its convolutions: they are registered
    branch by branch, in the order of Table 1's columns."""
    convs = [layer for layer in module.modules() if isinstance(layer, nn.Conv2d)]
    return {column: conv.out_channels for column, conv in zip(DESIGN_COLUMNS, convs, strict=True)}


def first_module_widths(narrow: bool = False) -> dict[str, int]:
    """The widths of the digit network's first Inception module, by Table 1 column: as the
    chapter trains it, or (``narrow``) with :data:`NARROW_REDUCTIONS` applied.

    Raises:
        ExerciseFailed: ``narrow`` is not ``True`` or ``False`` (a hint, as for an answer).
    """
    expect(isinstance(narrow, bool), f"narrow should be True or False, got {narrow!r}")
    widths = _module_widths(SmallInceptionNet().inception1)
    return {**widths, **NARROW_REDUCTIONS} if narrow else widths


def exercise_network(narrow: bool) -> nn.Module:
    """The chapter's digit network (``narrow=False``) or the same network with its first
    module's reductions narrowed (``narrow=True``), seeded with :data:`EXERCISE_SEED`.

    Why: Exercise 5 compares the two on one seed, so both start from weights drawn the same way
    (He et al.'s normal, as the chapter's networks) after the same seed; the global generator
    is seeded here, as :func:`onebyone.runtime.seed_everything` does.

    Raises:
        ExerciseFailed: ``narrow`` is not ``True`` or ``False``.
    """
    widths = first_module_widths(narrow)  # refuses a narrow that is not a bool
    seed_everything(EXERCISE_SEED)
    model = SmallInceptionNet()
    if narrow:
        model.inception1 = Inception(model.inception1.in_channels, *widths.values())
        init_he_normal(model)  # every weight drawn again, after the same seed
    return model


def _module_macs(widths: dict[str, int], height: int, width: int) -> int:
    in_channels = SmallInceptionNet().inception1.in_channels
    return model_macs(Inception(in_channels, *widths.values()),
                      (1, in_channels, height, width))


def check_narrow_prediction(answer_narrow_macs: object, predict_drop_points: object) -> None:
    """Exercise 4: the MACs of the narrowed first module for one 8 x 8 image (graded), and the
    accuracy the narrowing will cost, in points, predicted before any training (recorded, not
    graded: Exercise 5 sets it beside the outcome)."""
    narrow = first_module_widths(narrow=True)
    expected = _module_macs(narrow, DIGIT_SIZE, DIGIT_SIZE)
    pixels = DIGIT_SIZE * DIGIT_SIZE
    in_channels = SmallInceptionNet().inception1.in_channels
    no_k_squared = pixels * (
        in_channels * (narrow["ch1x1"] + narrow["ch3x3red"] + narrow["ch5x5red"]
                       + narrow["pool_proj"])
        + narrow["ch3x3red"] * narrow["ch3x3"] + narrow["ch5x5red"] * narrow["ch5x5"])
    mistakes = [
        (2 * expected, FLOPS_NOT_MACS),
        (expected // pixels, PER_PIXEL),
        (_module_macs(narrow, DIGIT_SIZE // 2, DIGIT_SIZE // 2),
         "that is at 4 x 4: the first module reads the stem's 8 x 8 output, before any pooling"),
        (_module_macs(first_module_widths(), DIGIT_SIZE, DIGIT_SIZE),
         "that is the unchanged module: narrow the two reductions first"),
        (no_k_squared, "the 3x3 and 5x5 convolutions do k^2 multiply-accumulates per input "
                       "and output channel: is k^2 there?"),
    ]
    expect_integer(answer_narrow_macs, expected,
                   "the narrowed module's multiply-accumulates (MACs)", mistakes)
    predicted = _points(predict_drop_points, "predict_drop_points")
    unchanged = _module_macs(first_module_widths(), DIGIT_SIZE, DIGIT_SIZE)
    print(f"Your prediction is recorded: the narrowing will cost {predicted:+g} points.")
    print("Exercise 5 sets it beside the outcome.")
    passed(f"{expected:,} MACs, {unchanged / expected:.1f} times fewer than the unchanged "
           "module")


def _points(value: object, name: str) -> float:
    number = exact_number(value)
    expect(number is not None,
           f"{name} should be a number of points, got {type(value).__name__}")
    expect(math.isfinite(number) and -100 <= number <= 100,
           f"{name} is {value}: a difference of two accuracies is between -100 and 100 points")
    return float(number)


def _share(value: object, name: str) -> float:
    number = exact_number(value)
    expect(number is not None, f"{name} should be a number, got {type(value).__name__}")
    expect(math.isfinite(number), f"{name} is {value}: train again, and read the test accuracy")
    expect(not 1 < number <= 100,
           f"{name} is {value}: that looks like a percentage; give the share in [0, 1] that "
           "the training history records")
    expect(0 <= number <= 1, f"{name} is {value}; an accuracy is a share in [0, 1]")
    return float(number)


@functools.cache
def _reference_accuracies() -> dict[bool, float]:
    """Exercise 5's two runs, made here: test accuracy after the last epoch, by ``narrow``
    (a few seconds each on a CPU)."""
    split = load_digits_split(**EXERCISE_SPLIT)
    return {
        narrow: train_classifier(exercise_network(narrow), split,
                                 **EXERCISE_TRAINING).test_accuracy[-1]
        for narrow in (False, True)
    }


def check_narrow_experiment(
    accuracy_unchanged: object, accuracy_narrow: object, predict_drop_points: object
) -> None:
    """Exercise 5: the test accuracies of the unchanged and the narrowed digit network, checked
    against the same runs made here and against the rule the chapter states (both reach
    :data:`REACHED`); the prediction of Exercise 4 is set beside the outcome, not graded."""
    measured = {False: _share(accuracy_unchanged, "accuracy_unchanged"),
                True: _share(accuracy_narrow, "accuracy_narrow")}
    predicted = _points(predict_drop_points, "predict_drop_points (run Exercise 4's cell first)")
    reference = _reference_accuracies()
    swapped = (measured[False] != measured[True]
               and abs(measured[False] - reference[True]) <= AGREEMENT / 10
               and abs(measured[True] - reference[False]) <= AGREEMENT / 10)
    expect(not swapped, "accuracy_unchanged and accuracy_narrow look swapped: which network "
                        "has the narrow reductions?")
    for narrow, name in ((False, "accuracy_unchanged"), (True, "accuracy_narrow")):
        expect(
            abs(measured[narrow] - reference[narrow]) <= AGREEMENT,
            f"{name} is {measured[narrow]:.3f}, but the same run made here gives another "
            f"result: build the network with chapter4.exercise_network(narrow={narrow}), "
            "train it with training.train_classifier on "
            "digits.load_digits_split(**chapter4.EXERCISE_SPLIT) and "
            "**chapter4.EXERCISE_TRAINING, and read the last test accuracy of its history",
        )
    # the rule, on the student's own numbers (they agree with the runs made here)
    expect(min(measured.values()) >= REACHED,
           "these accuracies break the chapter's rule: run the two trainings again")
    drop = 100 * (measured[False] - measured[True])
    unchanged_macs = model_macs(exercise_network(False), (1, 1, DIGIT_SIZE, DIGIT_SIZE))
    narrow_macs = model_macs(exercise_network(True), (1, 1, DIGIT_SIZE, DIGIT_SIZE))
    print(f"unchanged: {100 * measured[False]:.1f}% test accuracy, "
          f"{unchanged_macs:,} MACs per image")
    print(f"narrowed:  {100 * measured[True]:.1f}% test accuracy, "
          f"{narrow_macs:,} MACs per image")
    print(f"The narrowing cost {drop:+.1f} points on this seed; you predicted "
          f"{predicted:+g}.")
    passed(f"both networks classify at least {100 * REACHED:.0f}% of the test digits")


def check_naive_5a_macs(answer: object) -> None:
    """Exercise 1, second part: MACs of a naive module with (5a)'s #1x1, #3x3 and #5x5 widths.

    Why: the reduced (5a)'s MACs appear in the chapter's recount; the naive module's do not, and
    holding the two against each other shows what the reductions save at 7 x 7."""
    c_in, ch1x1, _, ch3x3, _, ch5x5, _ = INCEPTION_CHANNELS["inception5a"]
    naive = NaiveInception(c_in, ch1x1=ch1x1, ch3x3=ch3x3, ch5x5=ch5x5)
    expected = model_macs(naive, (1, c_in, 7, 7))
    mistakes = [
        (2 * expected, FLOPS_NOT_MACS),
        (expected // 49, PER_PIXEL),
        (49 * c_in * (ch1x1 + ch3x3 + ch5x5),
         "the 3x3 and 5x5 convolutions do k^2 multiply-accumulates per input and output "
         "channel: is k^2 there?"),
        (model_macs(Inception(*INCEPTION_CHANNELS["inception5a"]), (1, c_in, 7, 7)),
         "that is the module with its 1x1 reductions: drop them, and let the 3x3 and 5x5 "
         "convolutions read all 832 channels"),
    ]
    expect_integer(answer, expected, "the naive (5a)'s multiply-accumulates (MACs)", mistakes)
    reduced = model_macs(Inception(*INCEPTION_CHANNELS["inception5a"]), (1, c_in, 7, 7))
    passed(f"{expected / 1e6:.1f} M MACs, {expected / reduced:.1f} times the reduced module's")
