"""The Chapter 6 exercises that ask for a prediction (where a bottleneck spends its MACs, and
what widening does to a separable layer's arithmetic intensity): the chapter's solutions are
accepted, wrong counts and predictions refused with hints that say why."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from onebyone.exercises import chapter6
from onebyone.exercises.checks import ExerciseFailed
from onebyone.resnet_bottleneck import Bottleneck

# Worked out by hand: with C = 4 w, the 1x1s cost 2 C w = 8 w^2 per pixel, the 3x3 9 w^2.
FIRST = (256 * 64 + 64 * 256) / (256 * 64 + 9 * 64 * 64 + 64 * 256)
LAST = (2048 * 512 + 512 * 2048) / (2048 * 512 + 9 * 512 * 512 + 512 * 2048)
# FLOPs per byte, float32, input + weights + output each moved once, 14 x 14, 1024 channels.
PIXELS = 14 * 14
DEPTHWISE = 2 * 9 * 1024 * PIXELS / (4 * (2 * 1024 * PIXELS + 9 * 1024))
POINTWISE = 2 * 1024 * 1024 * PIXELS / (4 * (2 * 1024 * PIXELS + 1024 * 1024))
POINTWISE_256 = 2 * 256 * 256 * PIXELS / (4 * (2 * 256 * PIXELS + 256 * 256))


def _hint(check, *answers) -> str:
    with pytest.raises(ExerciseFailed) as failure:
        check(*answers)
    return str(failure.value)


def test_the_hand_worked_shares_are_accepted(capsys):
    assert FIRST == pytest.approx(8 / 17) and LAST == pytest.approx(8 / 17)
    assert chapter6.check_pointwise_share("same", FIRST, LAST) is None
    assert capsys.readouterr().out == (
        "Correct: each layer costs a multiple of H W w^2, in every stage alike\n")
    chapter6.check_pointwise_share(" Same ", 8 / 17, 8 / 17)  # spacing and case forgiven


def test_shares_counted_with_flop_counter_mode_are_accepted():
    shares = []
    for size, channels, width in (chapter6.FIRST_STAGE, chapter6.LAST_STAGE):
        block = Bottleneck(channels, width)
        flops = {}
        for name in ("conv1", "conv2", "conv3"):
            conv = getattr(block, name)
            with FlopCounterMode(display=False) as counter, torch.no_grad():
                conv(torch.zeros(1, conv.in_channels, size, size))
            flops[name] = counter.get_total_flops()
        shares.append((flops["conv1"] + flops["conv3"]) / sum(flops.values()))
    chapter6.check_pointwise_share("same", *shares)


@pytest.mark.parametrize(("first", "hint"), [
    (9 / 17, "that is the 3x3 convolution's share"),
    (4 / 17, "that is one 1x1 convolution"),
    (2 * 256 * 64 / (2 * 256 * 64 + 64 * 64), "is k^2 there?"),
    (8 / 9 + 1e-12, "is k^2 there?"),  # 1x1s over 3x3 is also 8/9: the k^2 hint comes first
    (100 * FIRST, "a percentage? divide by 100"),
    (FIRST + 0.001, "not right (relative tolerance"),
])
def test_a_wrong_first_share_is_refused_with_the_likely_slip(first, hint):
    assert hint in _hint(chapter6.check_pointwise_share, "same", first, LAST)


def test_the_last_stage_is_checked_too():
    hint = _hint(chapter6.check_pointwise_share, "same", FIRST, 9 / 17)
    assert hint.startswith("that is the 3x3 convolution's share")


@pytest.mark.parametrize("prediction", ["larger", "smaller"])
def test_a_wrong_share_prediction_is_refused_with_the_reason(prediction):
    hint = _hint(chapter6.check_pointwise_share, prediction, FIRST, LAST)
    assert hint.startswith(f"you predicted {prediction!r}, but your two shares are 0.4706 "
                           "and 0.4706")
    assert "a fixed multiple of (pixels) x (width)^2" in hint


@pytest.mark.parametrize(("answers", "hint"), [
    ((..., FIRST, LAST), "answer_prediction should be a str"),
    (("equal", FIRST, LAST), "answer_prediction is 'equal'; store one of 'larger'"),
    (("same", "0.47", LAST), "answer_first_share should be a number"),
    (("same", FIRST, True), "answer_last_share should be a number"),
    (("same", 0, LAST), "a share of the block's MACs lies between 0 and 1"),
])
def test_share_answers_of_the_wrong_kind_are_refused(answers, hint):
    assert hint in _hint(chapter6.check_pointwise_share, *answers)


def test_the_hand_worked_intensities_are_accepted(capsys):
    assert chapter6.check_widened_intensities("same", "rises", DEPTHWISE, POINTWISE) is None
    assert capsys.readouterr().out == (
        "Correct: widening raises the pointwise intensity, not the depthwise one\n")
    chapter6.check_widened_intensities("Same", " RISES", DEPTHWISE, POINTWISE)


@pytest.mark.parametrize(("depthwise", "pointwise", "hint"), [
    (DEPTHWISE / 2, POINTWISE, "that counts MACs per byte"),
    (DEPTHWISE, POINTWISE / 2, "that counts MACs per byte"),
    (4 * DEPTHWISE, POINTWISE, "that counts elements, not bytes"),
    (DEPTHWISE, 4 * POINTWISE, "that counts elements, not bytes"),
    (DEPTHWISE, POINTWISE_256, "that is the intensity at 256 channels"),
    (9 / 4, POINTWISE, "the weights are read too"),
    (DEPTHWISE, 1024 / 4, "the weights are read too"),
    (DEPTHWISE, POINTWISE * 1.001, "not right (relative tolerance"),
])
def test_a_wrong_intensity_is_refused_with_the_likely_slip(depthwise, pointwise, hint):
    assert hint in _hint(chapter6.check_widened_intensities, "same", "rises", depthwise,
                         pointwise)


@pytest.mark.parametrize(("depthwise", "pointwise", "hint"), [
    ("rises", "rises", "you predicted the depthwise intensity 'rises'; it goes from 2.20 to "
                       "2.20 FLOPs per byte: each input element of a depthwise"),
    ("falls", "rises", "you predicted the depthwise intensity 'falls'"),
    ("same", "same", "you predicted the pointwise intensity 'same'; it goes from 38.72 to "
                     "70.87 FLOPs per byte: each input element of a 1x1"),
    ("same", "falls", "you predicted the pointwise intensity 'falls'"),
])
def test_a_wrong_intensity_prediction_is_refused_with_the_reason(depthwise, pointwise, hint):
    assert hint in _hint(chapter6.check_widened_intensities, depthwise, pointwise, DEPTHWISE,
                         POINTWISE)


@pytest.mark.parametrize(("answers", "hint"), [
    ((None, "rises", DEPTHWISE, POINTWISE), "answer_depthwise_prediction should be a str"),
    (("same", "up", DEPTHWISE, POINTWISE), "answer_pointwise_prediction is 'up'; store one"),
    (("same", "rises", "2.2", POINTWISE), "should be a number, got str"),
    (("same", "rises", DEPTHWISE, [POINTWISE]), "should be a number, got list"),
])
def test_intensity_answers_of_the_wrong_kind_are_refused(answers, hint):
    assert hint in _hint(chapter6.check_widened_intensities, *answers)
