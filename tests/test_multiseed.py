"""Tests for onebyone.multiseed: epochs chosen on validation only, spread and intervals right."""

from __future__ import annotations

import math
import statistics

import pytest
import torch
from torch import nn

from onebyone import training
from onebyone.digits import load_digits_split
from onebyone.multiseed import (
    DIGITS_SETTINGS,
    ComparisonSettings,
    SeedRuns,
    format_runs,
    mean_and_interval,
    paired_difference,
    train_over_seeds,
)
from onebyone.runtime import seed_everything
from onebyone.training import TrainingHistory, train_classifier


def runs_from(name: str, validation: list[list[float]], test: list[list[float]]) -> SeedRuns:
    histories = tuple(
        TrainingHistory([1.0] * len(v), t, v) for v, t in zip(validation, test, strict=True)
    )
    return SeedRuns(name, tuple(range(len(histories))), histories, ())


def test_interval_uses_the_student_t_quantile():
    values = [0.91, 0.93, 0.95, 0.97, 0.99]
    mean, half_width = mean_and_interval(values)
    assert mean == pytest.approx(statistics.fmean(values))
    t_975_4 = 2.776  # tables of Student's t, 4 degrees of freedom, two-sided 95%
    expected = t_975_4 * statistics.stdev(values) / math.sqrt(5)
    assert half_width == pytest.approx(expected, rel=1e-3)
    assert mean_and_interval(values, confidence=0.5)[1] < half_width


def test_epoch_is_chosen_on_validation_never_on_test():
    # test accuracy is best at epoch 1, validation accuracy (averaged) at epoch 3
    runs = runs_from(
        "m",
        validation=[[0.5, 0.6, 0.9], [0.5, 0.7, 0.8]],
        test=[[0.99, 0.6, 0.7], [0.98, 0.5, 0.6]],
    )
    assert runs.chosen_epoch == 3
    assert runs.test_accuracies == [0.7, 0.6]
    assert runs.mean == pytest.approx(0.65)
    assert runs.std == pytest.approx(statistics.stdev([0.7, 0.6]))


def test_ties_go_to_the_first_epoch_and_missing_validation_is_refused():
    runs = runs_from("m", [[0.8, 0.8], [0.8, 0.8]], [[0.1, 0.9], [0.2, 0.9]])
    assert runs.chosen_epoch == 1
    with pytest.raises(ValueError, match="no validation accuracy"):
        runs_from("m", [[], []], [[0.5], [0.5]]).chosen_epoch  # noqa: B018


def test_an_interval_is_clipped_to_what_an_accuracy_can_be():
    low, high = runs_from("wide", [[1.0]] * 2, [[0.2], [1.0]]).interval
    assert low == 0.0 and high == 1.0  # clipped to what an accuracy can be


def test_paired_difference_subtracts_seed_by_seed():
    # the seeds move both models together: separate intervals overlap, the paired one does not
    a = runs_from("a", [[1.0]] * 4, [[0.90], [0.95], [0.99], [0.93]])
    b = runs_from("b", [[1.0]] * 4, [[0.89], [0.93], [0.98], [0.91]])
    (a_low, a_high), (b_low, b_high) = a.interval, b.interval
    assert a_low <= b_high and b_low <= a_high
    paired = paired_difference(a, b)
    assert paired.differences == pytest.approx((0.01, 0.02, 0.01, 0.02))
    mean, half_width = mean_and_interval([0.01, 0.02, 0.01, 0.02])
    assert paired.mean == pytest.approx(mean) == pytest.approx(0.015)
    assert (paired.low, paired.high) == pytest.approx((mean - half_width, mean + half_width))
    assert paired.excludes_zero and paired.low > 0
    reverse = paired_difference(b, a)
    assert reverse.mean == pytest.approx(-0.015) and reverse.high < 0 and reverse.excludes_zero


def test_paired_difference_containing_zero_and_unpaired_runs():
    a = runs_from("a", [[1.0]] * 3, [[0.90], [0.95], [0.99]])
    b = runs_from("b", [[1.0]] * 3, [[0.91], [0.94], [0.99]])
    paired = paired_difference(a, b)
    assert paired.low < 0 < paired.high and not paired.excludes_zero
    shorter = runs_from("c", [[1.0]] * 2, [[0.9], [0.9]])
    with pytest.raises(ValueError, match="not paired"):
        paired_difference(a, shorter)


def test_settings_are_validated():
    with pytest.raises(ValueError, match="two distinct seeds"):
        ComparisonSettings((1, 1), 1, 0.1, 8, 0.2, 0.2)
    with pytest.raises(ValueError, match="max_epochs"):
        ComparisonSettings((1, 2), 0, 0.1, 8, 0.2, 0.2)
    assert len(DIGITS_SETTINGS.seeds) >= 5
    with pytest.raises(ValueError, match="at least two values"):
        mean_and_interval([0.5])


def logistic_regression() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


def test_train_over_seeds_is_deterministic_and_seeds_differ():
    settings = ComparisonSettings((0, 1), 2, 0.05, 64, 0.2, 0.2)
    first = train_over_seeds({"logistic": logistic_regression}, settings, device="cpu")
    again = train_over_seeds({"logistic": logistic_regression}, settings, device="cpu")
    run = first["logistic"]
    assert [h.test_accuracy for h in run.histories] == [
        h.test_accuracy for h in again["logistic"].histories
    ]
    assert run.histories[0].test_accuracy != run.histories[1].test_accuracy
    assert all(len(h.validation_accuracy) == 2 for h in run.histories)
    assert len(run.models) == 2 and not torch.equal(
        run.models[0][1].weight, run.models[1][1].weight
    )
    table = format_runs(first)
    assert table.splitlines()[1].startswith("logistic") and "seed 1" in table
    with pytest.raises(ValueError, match="no architectures"):
        train_over_seeds({}, settings)


def test_every_seed_perfect_gives_a_point_interval():
    """Every seed at 100 %: the interval is the point 1.0, where a wide one is clipped."""
    perfect = runs_from("perfect", [[1.0]] * 2, [[1.0], [1.0]])
    wide = runs_from("wide", [[1.0]] * 2, [[0.2], [1.0]])
    assert perfect.interval == (1.0, 1.0) and wide.interval[1] == 1.0


def test_the_largest_compatible_difference_is_the_far_end_of_the_interval():
    """An interval containing zero does not show the models equal: it allows its far end."""
    a = runs_from("a", [[1.0]] * 5, [[0.96], [0.97], [0.95], [0.99], [0.94]])
    b = runs_from("b", [[1.0]] * 5, [[0.97], [0.95], [0.96], [0.96], [0.95]])
    paired = paired_difference(a, b)
    assert not paired.excludes_zero
    assert paired.largest_compatible == pytest.approx(max(-paired.low, paired.high))
    assert paired.largest_compatible > abs(paired.mean) > 0
    flipped = paired_difference(b, a)
    assert flipped.largest_compatible == pytest.approx(paired.largest_compatible)


def test_two_values_give_the_student_t_interval_with_one_degree_of_freedom():
    mean, half_width = mean_and_interval([0.5, 0.7])
    t_975_1 = 12.706  # tables of Student's t, 1 degree of freedom, two-sided 95%
    assert mean == pytest.approx(0.6)
    expected = t_975_1 * statistics.stdev([0.5, 0.7]) / math.sqrt(2)
    assert half_width == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("confidence", [0.0, 1.0])
def test_confidence_must_be_strictly_between_0_and_1(confidence):
    with pytest.raises(ValueError, match=r"^confidence must be strictly between 0 and 1, got "):
        mean_and_interval([0.5, 0.7], confidence=confidence)


def test_a_bad_value_is_named_by_its_index():
    with pytest.raises(TypeError, match=r"^values\[1\] must be a real number"):
        mean_and_interval([0.5, "0.7"])


def test_one_epoch_is_enough_for_a_comparison():
    assert ComparisonSettings((0, 1), 1, 0.1, 8, 0.2, 0.2).max_epochs == 1


def test_paired_runs_must_hold_one_history_per_seed():
    a = runs_from("a", [[1.0]] * 3, [[0.90], [0.95], [0.99]])
    b = runs_from("b", [[1.0]] * 2, [[0.91], [0.94]])
    b = SeedRuns("b", a.seeds, b.histories, ())  # three seeds but two histories
    with pytest.raises(ValueError):
        paired_difference(a, b)


def test_wrong_types_are_refused_with_the_type_they_got():
    settings = ComparisonSettings((0, 1), 1, 0.1, 8, 0.2, 0.2)
    with pytest.raises(TypeError, match=r"^settings must be ComparisonSettings, got dict$"):
        train_over_seeds({"logistic": logistic_regression}, {})
    with pytest.raises(ValueError, match=r"^no architectures to train$"):
        train_over_seeds({}, settings)
    with pytest.raises(TypeError, match=r"^runs must be a dict of name: SeedRuns, got list$"):
        format_runs([])
    with pytest.raises(TypeError, match=r"^runs\['a'\] must be SeedRuns, got int$"):
        format_runs({"a": 1})
    with pytest.raises(ValueError, match=r"^no runs to format$"):
        format_runs({})


def test_each_run_is_the_training_loop_on_that_seeds_split(monkeypatch, capsys):
    """Seed by seed: the split, the initialisation and the training of train_classifier itself."""
    settings = ComparisonSettings((0, 3), 1, 0.05, 128, 0.1, 0.3)  # no default among them
    monkeypatch.setattr(training, "default_device", lambda: pytest.fail("device not passed on"))
    runs = train_over_seeds({"logistic": logistic_regression}, settings, device="cpu")["logistic"]
    assert capsys.readouterr().err == ""  # no progress bars
    assert runs.name == "logistic" and runs.seeds == (0, 3) and len(runs.histories) == 2
    for seed, history, model in zip(runs.seeds, runs.histories, runs.models, strict=True):
        split = load_digits_split(test_fraction=0.3, seed=seed, validation_fraction=0.1)
        seed_everything(seed)
        reference = logistic_regression()
        kwargs = {"epochs": 1, "learning_rate": 0.05, "batch_size": 128, "seed": seed}
        expected = train_classifier(reference, split, device="cpu", progress=False, **kwargs)
        assert history == expected
        assert torch.equal(model[1].weight, reference[1].weight)


def test_the_table_shows_each_models_numbers_in_percent():
    runs = {
        "a": runs_from("a", [[0.5, 0.9]] * 3, [[0.1, 0.80], [0.1, 0.84], [0.1, 0.88]]),
        "longer": runs_from("longer", [[0.9, 0.5]] * 3, [[0.70, 0.1], [0.72, 0.1], [0.77, 0.1]]),
    }
    header, *rows = format_runs(runs).splitlines()
    assert header.split() == "model epoch seed 0 seed 1 seed 2 mean std 95% CI".split()
    for (name, run), row in zip(runs.items(), rows, strict=True):
        cells = row.replace("[", " ").replace("]", " ").replace(",", " ").split()
        accuracies = run.test_accuracies
        mean, half_width = mean_and_interval(accuracies)
        assert cells[0] == name and int(cells[1]) == run.chosen_epoch
        percent = [100 * a for a in accuracies]  # one decimal
        assert [float(c) for c in cells[2:5]] == pytest.approx(percent, abs=0.051)
        assert float(cells[5]) == pytest.approx(100 * mean, abs=0.0051)
        assert float(cells[6]) == pytest.approx(100 * statistics.stdev(accuracies), abs=0.0051)
        low, high = float(cells[7]), float(cells[8])
        interval = (100 * (mean - half_width), 100 * (mean + half_width))  # one decimal
        assert (low, high) == pytest.approx(interval, abs=0.051)
