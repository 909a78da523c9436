"""The check added for Chapter 5's first exercise: the intensity of a 1x1 reduction, a number the
chapter prints nowhere (the 256-channel layer's is in its channel sweep)."""

from __future__ import annotations

import pytest

from onebyone.exercises import chapter5
from onebyone.exercises.checks import ExerciseFailed

# By hand: 32 * 28 * 28 = 25,088 pixels, 256 channels in, 16 out, float32 (4 bytes).
PIXELS = 32 * 28 * 28
FLOPS = 2 * PIXELS * 256 * 16
BYTES = 4 * (PIXELS * 256 + 256 * 16 + PIXELS * 16)


def _hint(*answer) -> str:
    with pytest.raises(ExerciseFailed) as failure:
        chapter5.check_reduction_intensity(*answer)
    return str(failure.value)


def test_the_reduction_intensity_is_accepted_rounded(capsys):
    assert 7.4 < FLOPS / BYTES < 7.6
    assert chapter5.check_reduction_intensity(FLOPS / BYTES) is None
    assert chapter5.check_reduction_intensity(round(FLOPS / BYTES, 3)) is None
    assert "waits on memory" in capsys.readouterr().out


@pytest.mark.parametrize(("answer", "hint"), [
    (FLOPS / 2 / BYTES, "MACs per byte"),
    (4 * FLOPS / BYTES, "FLOPs per number"),
    (2 * PIXELS * 256**2 / (4 * (2 * PIXELS * 256 + 256**2)), "256 -> 256 layer"),
    (16 / 4, "C / b holds only when C_in = C_out"),
])
def test_each_slip_gets_its_hint(answer, hint):
    assert hint in _hint(answer)


def test_a_wrong_kind_or_far_answer_is_refused():
    assert "should be a number" in _hint("7.5")
    with pytest.raises(ExerciseFailed):
        chapter5.check_reduction_intensity(10.0)
