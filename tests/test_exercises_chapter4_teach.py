"""Chapter 4's prediction exercises (4 and 5): the chapter's solution is accepted, wrong answers
are refused with a hint, and the experiment the student runs obeys the rule the check states."""

import math

import pytest
import torch

from onebyone import digits, small_inception, training
from onebyone.cost import model_macs
from onebyone.exercises import chapter4
from onebyone.exercises.checks import ExerciseFailed
from onebyone.inception import Inception
from onebyone.runtime import seed_everything


def _hint(check, *answer) -> str:
    """The hint that ``check`` gives for a wrong ``answer``."""
    with pytest.raises(ExerciseFailed) as failure:
        check(*answer)
    return str(failure.value)


def _by_hand(w: dict[str, int], size: int, c_in: int = 32) -> int:
    """The chapter's equation (eq-reduced-macs) for a module of widths ``w`` at size x size."""
    return size * size * (
        c_in * w["ch1x1"] + c_in * w["ch3x3red"] + 9 * w["ch3x3red"] * w["ch3x3"]
        + c_in * w["ch5x5red"] + 25 * w["ch5x5red"] * w["ch5x5"] + c_in * w["pool_proj"]
    )


def chapter_solution() -> dict[str, float]:
    """Exercise 5 as the chapter solves it: both networks trained with the package's helpers."""
    split = digits.load_digits_split(**chapter4.EXERCISE_SPLIT)
    accuracy = {}
    for narrow in (False, True):
        model = chapter4.exercise_network(narrow)
        history = training.train_classifier(model, split, **chapter4.EXERCISE_TRAINING)
        accuracy[narrow] = history.test_accuracy[-1]
    return {"accuracy_unchanged": accuracy[False], "accuracy_narrow": accuracy[True]}


def test_the_narrowing_changes_the_two_reductions_only():
    unchanged = chapter4.first_module_widths()
    narrow = chapter4.first_module_widths(narrow=True)
    assert list(unchanged) == list(narrow) == list(chapter4.DESIGN_COLUMNS)
    assert {c for c in unchanged if unchanged[c] != narrow[c]} == {"ch3x3red", "ch5x5red"}
    assert all(narrow[c] < unchanged[c] for c in chapter4.NARROW_REDUCTIONS)
    # the unchanged widths are the chapter's network's: same module, same MACs
    module = small_inception.SmallInceptionNet().inception1
    assert model_macs(module, (1, 32, 8, 8)) == _by_hand(unchanged, 8)
    with pytest.raises(ExerciseFailed, match="narrow should be True or False"):
        chapter4.first_module_widths(narrow="yes")


def test_the_exercise_networks_start_from_the_same_seed():
    seed_everything(chapter4.EXERCISE_SEED)
    chapters_network = small_inception.SmallInceptionNet()
    unchanged = chapter4.exercise_network(False)
    for ours, theirs in zip(unchanged.state_dict().values(), chapters_network.state_dict().values(),
                            strict=True):
        assert torch.equal(ours, theirs)
    first, second = chapter4.exercise_network(True), chapter4.exercise_network(True)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(),
                                                 second.state_dict().values(), strict=True))
    assert isinstance(first.inception1, Inception)
    assert model_macs(first.inception1, (1, 32, 8, 8)) == _by_hand(
        chapter4.first_module_widths(narrow=True), 8)
    # everything after the first module is the chapter's network
    assert first.inception1.out_channels == unchanged.inception1.out_channels
    assert first(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_narrow_prediction_accepts_the_chapter_solution(capsys):
    answer = _by_hand(chapter4.first_module_widths(narrow=True), 8)
    assert chapter4.check_narrow_prediction(answer, 1.5) is None
    out = capsys.readouterr().out
    assert "Correct" in out and "+1.5 points" in out
    unchanged = _by_hand(chapter4.first_module_widths(), 8)
    assert f"{unchanged / answer:.1f} times fewer" in out


def test_narrow_prediction_names_the_common_mistakes():
    narrow = chapter4.first_module_widths(narrow=True)
    macs = _by_hand(narrow, 8)
    check = chapter4.check_narrow_prediction
    assert _hint(check, 2 * macs, 0.0).endswith("(two per multiply-accumulate)?")
    assert _hint(check, macs // 64, 0.0).endswith("multiply by the output's height and width")
    assert "that is at 4 x 4" in _hint(check, _by_hand(narrow, 4), 0.0)
    assert "that is the unchanged module" in _hint(
        check, _by_hand(chapter4.first_module_widths(), 8), 0.0)
    no_k_squared = 64 * (32 * (16 + 2 + 1 + 8) + 2 * 24 + 1 * 8)
    assert narrow == {"ch1x1": 16, "ch3x3red": 2, "ch3x3": 24, "ch5x5red": 1, "ch5x5": 8,
                      "pool_proj": 8}  # the widths the line above is written for
    assert _hint(check, no_k_squared, 0.0).endswith("is k^2 there?")
    assert "recount it" in _hint(check, macs + 1, 0.0)
    assert "should be a Python int" in _hint(check, float(macs), 0.0)


def test_the_prediction_is_recorded_not_graded(capsys):
    macs = _by_hand(chapter4.first_module_widths(narrow=True), 8)
    for prediction in (-3, 0, 0.5, 40.0, torch.tensor(2.0)):
        chapter4.check_narrow_prediction(macs, prediction)
        assert "Correct" in capsys.readouterr().out
    check = chapter4.check_narrow_prediction
    assert "should be a number of points" in _hint(check, macs, "small")
    assert "should be a number of points" in _hint(check, macs, True)
    assert "between -100 and 100" in _hint(check, macs, 150)
    assert "between -100 and 100" in _hint(check, macs, math.nan)


@pytest.fixture
def reference(monkeypatch):
    """The check's runs replaced by fixed accuracies, so that wrong answers are tested fast."""
    runs = {False: 0.98, True: 0.96}
    monkeypatch.setattr(chapter4, "_reference_accuracies", lambda: runs)
    return runs


def test_narrow_experiment_refuses_wrong_accuracies(reference):
    check = chapter4.check_narrow_experiment
    assert "look swapped" in _hint(check, reference[True], reference[False], 1.0)
    assert "the same run made here gives another result" in _hint(check, 0.90, 0.96, 1.0)
    assert "exercise_network(narrow=True)" in _hint(check, 0.98, 0.91, 1.0)
    assert "looks like a percentage" in _hint(check, 98.0, 96.0, 1.0)
    assert "a share in [0, 1]" in _hint(check, -0.5, 0.96, 1.0)
    assert "train again" in _hint(check, math.nan, 0.96, 1.0)
    assert "should be a number" in _hint(check, "0.98", 0.96, 1.0)
    assert "run Exercise 4's cell first" in _hint(check, 0.98, 0.96, None)


def test_narrow_experiment_states_its_rule(monkeypatch, capsys):
    """Accuracies that agree with the runs but break the rule (both at least REACHED) fail."""
    low = {False: chapter4.REACHED - 0.05, True: chapter4.REACHED - 0.06}
    monkeypatch.setattr(chapter4, "_reference_accuracies", lambda: low)
    assert "break the chapter's rule" in _hint(
        chapter4.check_narrow_experiment, low[False], low[True], 1.0)


def test_narrow_experiment_accepts_the_chapter_solution(capsys):
    """Trains the two networks (a few seconds each on a CPU), here and in the check."""
    solution = chapter_solution()
    assert min(solution.values()) >= chapter4.REACHED  # the rule, on the chapter's own runs
    assert chapter4.check_narrow_experiment(**solution, predict_drop_points=1.5) is None
    out = capsys.readouterr().out
    assert "Correct: both networks classify at least 90%" in out
    drop = 100 * (solution["accuracy_unchanged"] - solution["accuracy_narrow"])
    assert f"The narrowing cost {drop:+.1f} points on this seed; you predicted +1.5." in out
    # the runs repeat exactly on one machine: the check's own runs give the same numbers
    reference = chapter4._reference_accuracies()
    assert reference == {False: solution["accuracy_unchanged"],
                         True: solution["accuracy_narrow"]}


def test_naive_5a_macs_accepts_the_count_and_refuses_the_reduced_one():
    naive = 7 * 7 * 832 * (256 + 9 * 320 + 25 * 128)  # written out, not from the package
    chapter4.check_naive_5a_macs(naive)
    reduced = model_macs(Inception(832, 256, 160, 320, 32, 128, 128), (1, 832, 7, 7))
    assert "1x1 reductions" in _hint(chapter4.check_naive_5a_macs, reduced)
    assert "FLOPs" in _hint(chapter4.check_naive_5a_macs, 2 * naive)
    assert "k^2" in _hint(chapter4.check_naive_5a_macs, 7 * 7 * 832 * (256 + 320 + 128))
