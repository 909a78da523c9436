"""Chapter 3's prediction exercises (5 and 6): the chapter's solution is accepted, wrong answers
are refused with a hint, and the experiment the student runs obeys the rule the check states."""

import pytest
import torch

from onebyone import synthetic
from onebyone.exercises import chapter3
from onebyone.exercises.checks import ExerciseFailed

# The chapter's answers to Exercise 5, worked out by hand: |-x0| > |-x1| exactly when
# |x0| > |x1|, so the cone label survives the flip; -x0 > -x1 exactly when x0 < x1, so the
# diagonal label does not.
FLIPS = {"flip_keeps_cone": True, "flip_keeps_diagonal": False}
PREDICTIONS = {"predict_linear_cone": False, "predict_linear_diagonal": True,
               "predict_relu_cone": True}


def chapter_solution() -> dict[str, float]:
    """Exercise 6 as the chapter solves it: three stacks trained with the package's helpers."""
    accuracy = {}
    for label, relu in [("cone", False), ("diagonal", False), ("cone", True)]:
        train, test = chapter3.exercise_relabelled_pixels(label)
        model = synthetic.pointwise_stack(2, width=16, relu=relu)
        synthetic.train_pixel_classifier(model, train, **chapter3.TRAINING)
        accuracy[label, relu] = synthetic.pixel_accuracy(model, test)
    return {"accuracy_linear_cone": accuracy["cone", False],
            "accuracy_linear_diagonal": accuracy["diagonal", False],
            "accuracy_relu_cone": accuracy["cone", True]}


@pytest.fixture(scope="module")
def solution():
    return chapter_solution()


def test_the_relabelled_pixels_follow_their_rules():
    cone_train, cone_test = chapter3.exercise_relabelled_pixels("cone")
    diagonal_train, _ = chapter3.exercise_relabelled_pixels("diagonal")
    assert cone_train.images.shape == (32, 2, 8, 8) and cone_test.images.shape == (64, 2, 8, 8)
    assert torch.equal(cone_train.images, diagonal_train.images)  # same pixels, new labels
    x0, x1 = cone_train.images[:, 0], cone_train.images[:, 1]
    assert torch.equal(cone_train.labels, (x0.abs() > x1.abs()).long())
    assert torch.equal(diagonal_train.labels, (x0 > x1).long())
    # the flip: the cone label is kept at every pixel, the diagonal label changed at every one
    flipped = synthetic.SignXorImages(-cone_train.images, cone_train.labels)
    assert torch.equal((flipped.images[:, 0].abs() > flipped.images[:, 1].abs()).long(),
                       cone_train.labels)
    assert torch.equal((flipped.images[:, 0] > flipped.images[:, 1]).long(),
                       1 - diagonal_train.labels)
    with pytest.raises(ExerciseFailed, match="label should be one of"):
        chapter3.exercise_relabelled_pixels("xor")


def test_flip_prediction_accepts_the_chapter_solution(capsys):
    assert chapter3.check_flip_prediction(**FLIPS, **PREDICTIONS) is None
    assert "Correct" in capsys.readouterr().out


def test_predictions_are_recorded_not_graded():
    wrong_guesses = {name: not value for name, value in PREDICTIONS.items()}
    assert chapter3.check_flip_prediction(**FLIPS, **wrong_guesses) is None


@pytest.mark.parametrize(
    ("changes", "hint"),
    [
        ({"flip_keeps_cone": False}, "flip_keeps_cone is wrong"),
        ({"flip_keeps_diagonal": True}, "flip_keeps_diagonal is wrong"),
        ({"flip_keeps_cone": "yes"}, "flip_keeps_cone should be True or False"),
        ({"flip_keeps_diagonal": 0}, "flip_keeps_diagonal should be True or False"),
        ({"predict_relu_cone": ...}, "predict_relu_cone should be True or False"),
        ({"predict_linear_cone": None}, "predict_linear_cone should be True or False"),
    ],
)
def test_flip_prediction_refuses_wrong_answers_with_a_hint(changes, hint):
    answers = {**FLIPS, **PREDICTIONS, **changes}
    with pytest.raises(ExerciseFailed, match=hint):
        chapter3.check_flip_prediction(**answers)


def test_the_experiment_obeys_the_rule_the_check_states(solution):
    # what the chapter promises the student will see, on every run of the experiment
    assert solution["accuracy_linear_cone"] < chapter3.CHANCE_CEILING
    assert solution["accuracy_linear_diagonal"] >= chapter3.REACHED
    assert solution["accuracy_relu_cone"] >= chapter3.REACHED
    # and no affine rule does much better on the cone label: the linear stack is not just stuck
    _, cone_test = chapter3.exercise_relabelled_pixels("cone")
    assert synthetic.best_affine_accuracy(cone_test, directions=90) < chapter3.CHANCE_CEILING


def test_experiment_accepts_the_chapter_solution(solution, capsys):
    assert chapter3.check_relabelled_experiment(**solution, **PREDICTIONS) is None
    out = capsys.readouterr().out
    assert "3 of your 3 predictions held." in out and "Correct" in out


def test_experiment_reports_predictions_that_failed_without_refusing(solution, capsys):
    wrong_guesses = {name: not value for name, value in PREDICTIONS.items()}
    assert chapter3.check_relabelled_experiment(**solution, **wrong_guesses) is None
    assert "0 of your 3 predictions held." in capsys.readouterr().out


def test_experiment_accepts_a_tensor_and_a_rerun_within_the_agreement(solution):
    answers = dict(solution)
    answers["accuracy_relu_cone"] = torch.tensor(solution["accuracy_relu_cone"])
    answers["accuracy_linear_cone"] += chapter3.AGREEMENT / 2
    assert chapter3.check_relabelled_experiment(**answers, **PREDICTIONS) is None


@pytest.mark.parametrize(
    ("change", "hint"),
    [
        (lambda a: {**a, "accuracy_linear_cone": a["accuracy_relu_cone"],
                    "accuracy_relu_cone": a["accuracy_linear_cone"]}, "look swapped"),
        (lambda a: {**a, "accuracy_relu_cone": 100 * a["accuracy_relu_cone"]},
         "looks like a percentage"),
        (lambda a: {**a, "accuracy_linear_cone": 0.5}, "accuracy_linear_cone is 0.500"),
        (lambda a: {**a, "accuracy_linear_diagonal": 0.5}, "accuracy_linear_diagonal is 0.500"),
        (lambda a: {**a, "accuracy_relu_cone": 0.95}, "accuracy_relu_cone is 0.950"),
        (lambda a: {**a, "accuracy_relu_cone": -0.1}, r"share in \[0, 1\]"),
        (lambda a: {**a, "accuracy_relu_cone": float("nan")}, "train again"),
        (lambda a: {**a, "accuracy_linear_cone": "0.45"}, "should be a number"),
        (lambda a: {**a, "accuracy_linear_cone": True}, "should be a number"),
    ],
)
def test_experiment_refuses_wrong_answers_with_a_hint(solution, change, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        chapter3.check_relabelled_experiment(**change(solution), **PREDICTIONS)


def test_experiment_needs_the_recorded_predictions(solution):
    with pytest.raises(ExerciseFailed, match="run Exercise 5's cell first"):
        chapter3.check_relabelled_experiment(**solution, predict_linear_cone=...,
                                             predict_linear_diagonal=True,
                                             predict_relu_cone=True)


def test_an_untrained_or_wrongly_trained_stack_is_refused(solution):
    # a stack trained from another seed, or for fewer steps, is not the experiment asked for
    train, test = chapter3.exercise_relabelled_pixels("cone")
    model = synthetic.pointwise_stack(2, width=16, relu=True)
    synthetic.train_pixel_classifier(model, train, steps=5, learning_rate=0.02, seed=0)
    answers = {**solution, "accuracy_relu_cone": synthetic.pixel_accuracy(model, test)}
    with pytest.raises(ExerciseFailed, match="accuracy_relu_cone is"):
        chapter3.check_relabelled_experiment(**answers, **PREDICTIONS)
