"""The Chapter 2 prediction exercise (the classic bottleneck with a stride of 2): the chapter's
solution is accepted, wrong predictions and counts are refused with hints that say why."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from onebyone.exercises import chapter2
from onebyone.exercises.checks import ExerciseFailed

# Worked out by hand: the 5x5 layers compute 14 x 14 outputs, the 1x1 reduction 28 x 28.
DIRECT = 14 * 14 * 32 * 5 * 5 * 192  # 30,105,600 MACs
PAIR = 28 * 28 * 16 * 192 + 14 * 14 * 32 * 5 * 5 * 16  # 2,408,448 + 2,508,800 MACs
AT_STRIDE_1 = (28 * 28 * 32 * 5 * 5 * 192) / (28 * 28 * 16 * 192 + 28 * 28 * 32 * 5 * 5 * 16)


def _said(capsys) -> str:
    """What a check printed, its wrapped lines joined back (checks.passed wraps at 78)."""
    return capsys.readouterr().out.replace("\n  ", " ")



def _hint(prediction, saving) -> str:
    with pytest.raises(ExerciseFailed) as failure:
        chapter2.check_strided_saving(prediction, saving)
    return str(failure.value)


def test_the_hand_worked_saving_is_accepted(capsys):
    assert chapter2.check_strided_saving("smaller", DIRECT / PAIR) is None
    assert _said(capsys) == (
        "Correct: the stride shrinks the 5x5 layers, not the 1x1 reduction: the saving falls\n")
    chapter2.check_strided_saving(" Smaller ", DIRECT / PAIR)  # spacing and case forgiven


def test_the_chapter_s_counting_with_flop_counter_mode_is_accepted():
    torch.manual_seed(0)
    direct = nn.Conv2d(192, 32, 5, stride=2, padding=2)
    pair = nn.Sequential(nn.Conv2d(192, 16, 1), nn.ReLU(),
                         nn.Conv2d(16, 32, 5, stride=2, padding=2))
    x = torch.randn(1, 192, 28, 28)
    macs = []
    for module in (direct, pair):
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            module(x)
        macs.append(counter.get_total_flops() // 2)
    assert macs == [DIRECT, PAIR]
    chapter2.check_strided_saving("smaller", macs[0] / macs[1])


@pytest.mark.parametrize(("saving", "hint"), [
    (AT_STRIDE_1, "that is the saving at stride 1"),
    (PAIR / DIRECT, "upside down"),
    ((28 * 28 * 32 * 25 * 192) / PAIR, "at the same stride, 2"),
    (2 * DIRECT / PAIR, "a FLOP count divided by a MAC count"),
    (DIRECT / PAIR + 0.01, "not right (relative tolerance"),
])
def test_a_wrong_count_is_refused_with_the_likely_slip(saving, hint):
    assert hint in _hint("smaller", saving)


def test_the_stride_on_both_layers_gives_the_stride_1_saving_and_its_hint():
    both = DIRECT / (14 * 14 * 16 * 192 + 14 * 14 * 32 * 25 * 16)
    assert both == pytest.approx(AT_STRIDE_1)
    assert "the reduction still runs on all 28 x 28 input pixels" in _hint("same", both)


@pytest.mark.parametrize("prediction", ["larger", "same"])
def test_a_wrong_prediction_is_refused_with_the_reason(prediction):
    hint = _hint(prediction, DIRECT / PAIR)
    assert hint.startswith(f"you predicted {prediction!r}, but your count gives a saving of "
                           f"{DIRECT / PAIR:.2f} against {AT_STRIDE_1:.2f} at stride 1")
    assert "still runs at every input pixel" in hint


@pytest.mark.parametrize(("prediction", "saving", "hint"), [
    (..., DIRECT / PAIR, "answer_prediction should be a str"),
    ("less", DIRECT / PAIR, "answer_prediction is 'less'; store one of 'larger', 'smaller'"),
    ("smaller", ..., "answer_strided_saving should be a Python float, got ellipsis"),
    ("smaller", True, "answer_strided_saving should be a Python float, got bool"),
    ("smaller", str(DIRECT / PAIR), "should be a Python float, got str"),
])
def test_answers_of_the_wrong_kind_are_refused(prediction, saving, hint):
    assert hint in _hint(prediction, saving)
