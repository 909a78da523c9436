"""The Chapter 4 checks accept right answers and reject wrong ones with a useful hint."""

import pytest

from onebyone.exercises import chapter4
from onebyone.exercises.checks import ExerciseFailed

HW_4A, HW_5B = 14 * 14, 7 * 7


def test_inception_4a_3x3_branch_macs():
    right = HW_4A * (480 * 96 + 9 * 96 * 208)
    assert chapter4.check_inception_4a_3x3_branch_macs(right) is None
    with pytest.raises(ExerciseFailed, match="count MACs, not FLOPs"):
        chapter4.check_inception_4a_3x3_branch_macs(2 * right)
    with pytest.raises(ExerciseFailed, match="the 1x1 reduction in front of it costs MACs too"):
        chapter4.check_inception_4a_3x3_branch_macs(HW_4A * 9 * 96 * 208)
    with pytest.raises(ExerciseFailed, match="not right: recount it"):
        chapter4.check_inception_4a_3x3_branch_macs(HW_4A * (480 * 96 + 9 * 480 * 208))
    with pytest.raises(ExerciseFailed, match="should be a Python int"):
        chapter4.check_inception_4a_3x3_branch_macs(float(right))


def test_5b_5x5_saving():
    direct = HW_5B * 832 * 25 * 128
    reduced = HW_5B * (832 * 48 + 25 * 48 * 128)
    assert chapter4.check_5b_5x5_saving(direct / reduced) is None
    with pytest.raises(ExerciseFailed, match="the 1x1 reduction itself costs MACs too"):
        chapter4.check_5b_5x5_saving(direct / (HW_5B * 25 * 48 * 128))
    with pytest.raises(ExerciseFailed, match="which is not right"):
        chapter4.check_5b_5x5_saving(reduced / direct)  # upside down
    with pytest.raises(ExerciseFailed, match="which is not right"):
        chapter4.check_5b_5x5_saving((192 * 25 * 32) / (192 * 16 + 16 * 25 * 32))  # (3a)'s
    with pytest.raises(ExerciseFailed, match="should be a number"):
        chapter4.check_5b_5x5_saving("ten")


def test_inception_5a_macs():
    weights = 832 * 256 + 832 * 160 + 160 * 320 * 9 + 832 * 32 + 32 * 128 * 25 + 832 * 128
    assert chapter4.check_inception_5a_macs(weights * 49) is None
    with pytest.raises(ExerciseFailed, match="not right"):
        chapter4.check_inception_5a_macs(54_000_000)  # the table's printed value
