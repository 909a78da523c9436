"""The Chapter 1 prediction exercise (which outputs one pixel reaches): the chapter's solution is
accepted, wrong predictions and experiments are refused with hints that say why."""

import pytest
import torch

from onebyone.exercises import chapter1
from onebyone.exercises.checks import ExerciseFailed


def _count_changed(layer, x, pixel):
    """The chapter's solution: change one pixel's channels, count the outputs that move."""
    row, column = pixel
    changed = x.clone()
    changed[:, :, row, column] += 1.0
    with torch.no_grad():
        return int((layer(changed) != layer(x)).sum())


def _by_hand(layer, x, pixel):
    """The counts worked out by hand for the check's five cases (kernel k, "same" padding):
    the output positions whose k x k window covers the pixel, times channels and images."""
    k = layer.kernel_size[0]
    rows = [r for r in range(x.shape[2]) if abs(r - pixel[0]) <= k // 2]
    columns = [c for c in range(x.shape[3]) if abs(c - pixel[1]) <= k // 2]
    return x.shape[0] * layer.out_channels * len(rows) * len(columns)


def _hint(*answers) -> str:
    with pytest.raises(ExerciseFailed) as failure:
        chapter1.check_changed_outputs(*answers)
    return str(failure.value)


def test_the_chapter_s_solution_is_accepted(capsys):
    assert chapter1.check_changed_outputs(4, 9 * 4, _count_changed) is None
    assert capsys.readouterr().out == (
        "Correct: a 1x1 output reads one pixel, a 3x3 output a 3x3 neighbourhood\n")


def test_the_check_s_counts_are_the_hand_worked_ones():
    # 1x1: 4 values; 3x3 at (2, 3): 9 positions x 4; 3x3 at the corner: 4 positions x 4;
    # 1x1 on two images of 7 channels: 14; 5x5 at (2, 3) of a 6 x 6 image: 5 x 5 x 2 = 50.
    seen = []

    def by_hand(layer, x, pixel):
        seen.append(_by_hand(layer, x, pixel))
        return seen[-1]

    chapter1.check_changed_outputs(4, 36, by_hand)
    assert seen == [4, 36, 16, 14, 50]


@pytest.mark.parametrize(("predicted_1x1", "predicted_3x3", "names", "why"), [
    (1, 36, "predicted_1x1 is 1, but your experiment counts 4", "one output value per output"),
    (36, 36, "predicted_1x1 is 36, but your experiment counts 4", "reads the input at (h, w)"),
    (4, 9, "predicted_3x3 is 9, but your experiment counts 36", "times the output channels"),
    (4, 144, "predicted_3x3 is 144, but your experiment counts 36", "whose window covers"),
])
def test_a_wrong_prediction_is_refused_with_the_reason(predicted_1x1, predicted_3x3, names, why):
    hint = _hint(predicted_1x1, predicted_3x3, _count_changed)
    assert hint.startswith(names) and why in hint


def test_a_prediction_that_is_not_an_int_is_refused():
    assert _hint(4.0, 36, _count_changed) == "predicted_1x1 should be a Python int, got float"
    assert _hint(4, True, _count_changed) == "predicted_3x3 should be a Python int, got bool"
    assert _hint(4, ..., _count_changed) == "predicted_3x3 should be a Python int, got ellipsis"


def _positions_only(layer, x, pixel):
    """Counts output positions that change, forgetting the channels."""
    row, column = pixel
    changed = x.clone()
    changed[:, :, row, column] += 1.0
    with torch.no_grad():
        return int((layer(changed) != layer(x)).any(dim=1).sum())


def _by_the_rule_not_the_layer(layer, x, pixel):
    """Returns the interior-pixel rule without running anything: wrong at a corner."""
    return layer.out_channels * layer.kernel_size[0] ** 2


def _one_channel_changed(layer, x, pixel):
    """Changes only the first channel of the pixel: the same count, so it passes too."""
    row, column = pixel
    changed = x.clone()
    changed[:, 0, row, column] += 1.0
    with torch.no_grad():
        return int((layer(changed) != layer(x)).sum())


@pytest.mark.parametrize(("experiment", "case"), [
    (_positions_only, "count_changed on the 1x1 convolution, pixel (2, 3) is 1,"),
    (_by_the_rule_not_the_layer, "count_changed on the 3x3 convolution, corner pixel (0, 0)"),
    (lambda layer, x, pixel: 0, "count_changed on the 1x1 convolution, pixel (2, 3) is 0,"),
    (lambda layer, x, pixel: torch.tensor(4.0), "count_changed on the 1x1 convolution"),
])
def test_a_wrong_experiment_is_refused_before_the_predictions(experiment, case):
    assert _hint(4, 36, experiment).startswith(case)


def test_a_float_count_is_refused_and_an_integer_tensor_accepted():
    assert "should be a Python int, got Tensor" in _hint(
        4, 36, lambda layer, x, pixel: torch.tensor(4.0))
    chapter1.check_changed_outputs(
        4, 36, lambda layer, x, pixel: torch.tensor(_count_changed(layer, x, pixel)))
    chapter1.check_changed_outputs(4, 36, _one_channel_changed)


def test_an_experiment_that_raises_is_reported_as_a_hint():
    def broken(layer, x, pixel):
        return layer(x)  # the output itself, not a count

    def raising(layer, x, pixel):
        raise IndexError("pixel out of range")

    assert _hint(4, 36, raising) == "count_changed raised IndexError: pixel out of range"
    with pytest.raises(ExerciseFailed):
        chapter1.check_changed_outputs(4, 36, broken)


def test_the_experiment_gets_a_copy_of_the_input():
    def in_place(layer, x, pixel):
        before = layer(x).detach()
        x[:, :, pixel[0], pixel[1]] += 1.0
        return int((layer(x).detach() != before).sum())

    chapter1.check_changed_outputs(4, 36, in_place)  # changing x in place harms nothing
