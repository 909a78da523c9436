"""The Chapter 4 checks accept right answers and reject wrong ones with a useful hint."""

import pytest

from onebyone.exercises import chapter4
from onebyone.exercises.checks import ExerciseFailed

HW_3A = 28 * 28


def test_naive_3a_macs():
    right = HW_3A * 192 * (64 + 128 * 9 + 32 * 25)
    assert chapter4.check_naive_3a_macs(right) is None
    with pytest.raises(ExerciseFailed, match="count MACs, not FLOPs"):
        chapter4.check_naive_3a_macs(2 * right)
    with pytest.raises(ExerciseFailed, match="not right: recount it"):
        chapter4.check_naive_3a_macs(HW_3A * 192 * (64 + 128 * 9 + 32 * 9))  # 5x5 taken as 3x3
    with pytest.raises(ExerciseFailed, match="should be a Python int"):
        chapter4.check_naive_3a_macs(float(right))


def test_5x5_saving():
    naive = HW_3A * 192 * 32 * 25
    reduced = HW_3A * (192 * 16 + 16 * 32 * 25)
    assert chapter4.check_5x5_saving(naive / reduced) is None
    with pytest.raises(ExerciseFailed, match="the 1x1 reduction itself costs MACs too"):
        chapter4.check_5x5_saving(naive / (HW_3A * 16 * 32 * 25))
    with pytest.raises(ExerciseFailed, match="which is not right"):
        chapter4.check_5x5_saving(reduced / naive)  # upside down
    with pytest.raises(ExerciseFailed, match="should be a number"):
        chapter4.check_5x5_saving("ten")


def test_inception_5a_macs():
    weights = 832 * 256 + 832 * 160 + 160 * 320 * 9 + 832 * 32 + 32 * 128 * 25 + 832 * 128
    assert chapter4.check_inception_5a_macs(weights * 49) is None
    with pytest.raises(ExerciseFailed, match="not right"):
        chapter4.check_inception_5a_macs(54_000_000)  # the table's printed value
