"""Tests of the paired-round intervals: coverage, pairing, the t-interval's math, checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from onebyone.perf.intervals import (
    Interval,
    per_round_ratios,
    ratio_interval,
    row_time,
    unpaired_ratio_interval,
)


def noisy_rounds(median, spread, rounds=5, blocks=40, seed=0, levels=None):
    """Block times by round; ``levels`` multiplies each round (a slow round on a busy machine)."""
    generator = np.random.default_rng(seed)
    levels = levels or [1.0] * rounds
    return [list(median * level * (1 + spread * generator.standard_normal(blocks)))
            for level in levels]


def test_a_clear_difference_is_resolved_and_the_interval_contains_the_truth():
    slow, fast = noisy_rounds(2.0, 0.03, seed=1), noisy_rounds(1.0, 0.03, seed=2)
    interval = ratio_interval(slow, fast)
    assert interval.low < 2.0 < interval.high  # the true ratio
    assert interval.excludes(1.0) and interval.high - interval.low < 0.1


def test_two_samples_of_the_same_thing_are_indistinguishable():
    first, second = noisy_rounds(1.0, 0.05, seed=3), noisy_rounds(1.0, 0.05, seed=4)
    assert not ratio_interval(first, second).excludes(1.0)


def test_a_slow_round_that_hits_both_cancels_in_the_paired_ratio():
    levels = [1.0, 3.0, 1.0, 2.0, 1.0]  # rounds 2 and 4 ran on a busy machine
    slow = noisy_rounds(2.0, 0.01, seed=5, levels=levels)
    fast = noisy_rounds(1.0, 0.01, seed=6, levels=levels)
    interval = ratio_interval(slow, fast)
    assert interval.low < 2.0 < interval.high and interval.high - interval.low < 0.05


def test_rounds_that_disagree_give_a_wide_interval_unlike_a_within_round_bootstrap():
    # the reviewer's case: per-round speedups 8.15, 3.93, 10.78, 7.13, 7.24, each very steady
    speedups = [8.15, 3.93, 10.78, 7.13, 7.24]
    slow = [[s] * 30 for s in speedups]
    fast = [[1.0] * 30 for _ in speedups]
    interval = ratio_interval(slow, fast)
    assert interval.per_round == pytest.approx(speedups)
    assert interval.low == pytest.approx(4.48, abs=0.01)  # the paired t on the log ratio
    assert interval.high == pytest.approx(11.19, abs=0.01)
    assert interval.rounds_disagree()


def test_the_t_interval_math():
    ratios = [2.0, 2.0 * math.exp(0.1), 2.0 * math.exp(-0.1)]
    interval = ratio_interval([[r] for r in ratios], [[1.0]] * 3)
    # mean log = log 2, sd = 0.1, t(0.975, 2) = 4.302652729911275
    half = 4.302652729911275 * 0.1 / math.sqrt(3)
    assert interval.low == pytest.approx(2.0 * math.exp(-half))
    assert interval.high == pytest.approx(2.0 * math.exp(half))
    assert interval.estimate == pytest.approx(2.0)  # exp(mean log ratio): the centre


def test_the_estimate_is_the_ratio_of_row_times_and_the_centre_of_its_interval():
    slow = [[3.0] * 100, [6.0] * 3, [3.3] * 3]  # one round with many blocks cannot decide it
    fast = [[1.0], [2.0], [1.0]]
    assert row_time(slow) == pytest.approx((3.0 * 6.0 * 3.3) ** (1 / 3))
    interval = ratio_interval(slow, fast)
    assert interval.estimate == pytest.approx(row_time(slow) / row_time(fast))
    # estimate and interval are one statistic: the estimate is the log-scale centre
    assert math.log(interval.estimate) == pytest.approx(
        (math.log(interval.low) + math.log(interval.high)) / 2)
    assert per_round_ratios(slow, fast) == pytest.approx((3.0, 3.0, 3.3))


def test_a_skewed_set_of_rounds_keeps_the_estimate_inside_without_widening():
    # the old estimate (median of ratios, 1.0) lay outside the t interval and was patched in
    slow = [[1.0], [1.0], [1.0], [1.0], [9.0]]
    interval = ratio_interval(slow, [[1.0]] * 5)
    assert interval.low < interval.estimate < interval.high
    assert interval.estimate == pytest.approx(9 ** (1 / 5))


def test_rounds_are_paired_by_their_id_not_their_position():
    slow = {"r1": [2.0], "r2": [4.0], "r3": [2.2]}
    fast = {"r3": [1.1], "r1": [1.0], "r2": [2.0]}  # the same rounds, listed in another order
    assert per_round_ratios(slow, fast) == pytest.approx((2.0, 2.0, 2.0))
    assert ratio_interval(slow, fast).high == pytest.approx(2.0)
    with pytest.raises(ValueError, match=r"round ids \['r3'\] only in the numerator, \['r4'\]"):
        ratio_interval(slow, {"r1": [1.0], "r2": [2.0], "r4": [1.0]})


def test_unpaired_rounds_get_welchs_wider_interval_and_the_same_estimate():
    levels = [1.0, 1.3, 1.0, 1.2, 1.0]  # a busy machine in rounds 2 and 4, for both
    slow = noisy_rounds(2.0, 0.01, seed=5, levels=levels)
    fast = noisy_rounds(1.0, 0.01, seed=6, levels=levels)
    paired, unpaired = ratio_interval(slow, fast), unpaired_ratio_interval(slow, fast)
    assert unpaired.estimate == pytest.approx(paired.estimate)
    assert unpaired.high - unpaired.low > 5 * (paired.high - paired.low)
    assert unpaired.per_round == () and unpaired.low < 2.0 < unpaired.high
    same = unpaired_ratio_interval([[2.0], [2.0]], [[1.0], [1.0]])
    assert (same.low, same.estimate, same.high) == (2.0, 2.0, 2.0)
    with pytest.raises(ValueError, match="denominator: an interval over rounds needs at least"):
        unpaired_ratio_interval(slow, [[1.0]])


@pytest.mark.parametrize("bad, error, match", [
    ([["1.0"], [1.0]], TypeError, r"numerator\[0\] must hold real numbers of seconds, got '1.0'"),
    ([[True], [1.0]], TypeError, r"numerator\[0\] must hold real numbers of seconds, got True"),
    ([[1.0], [float("nan")]], ValueError, r"numerator\[1\] must hold positive, finite"),
    ("1.0", TypeError, "numerator must be a mapping or sequence of rounds"),
    ([1.0, 2.0], TypeError, r"numerator\[0\] must be a sequence of seconds"),
])
def test_strings_bools_and_nan_are_not_times(bad, error, match):
    with pytest.raises(error, match=match):
        ratio_interval(bad, [[1.0], [1.0]])
    with pytest.raises(error, match=match.replace("numerator", "rounds")):
        row_time(bad)


def test_scaling_and_checks():
    interval = Interval(2.0, 1.5, 2.5, 0.95, (1.8, 2.2))
    assert interval.scaled(2.0) == Interval(4.0, 3.0, 5.0, 0.95, (3.6, 4.4))
    assert str(interval) == "2 [1.5, 2.5]"
    assert interval.relation(1.0) == "above" and interval.relation(3.0) == "below"
    assert interval.relation(2.2) == "indistinguishable from"
    assert interval.rounds_disagree() and not interval.rounds_disagree(tolerance=0.25)
    with pytest.raises(ValueError, match="low <= high"):
        Interval(1.0, 2.0, 1.5, 0.95)
    with pytest.raises(ValueError, match="at least one round"):
        ratio_interval([], [[1.0]])
    with pytest.raises(ValueError, match="positive, finite"):
        ratio_interval([[1.0, float("nan")], [1.0]], [[1.0], [1.0]])
    with pytest.raises(ValueError, match="confidence"):
        ratio_interval([[1.0], [1.0]], [[1.0], [1.0]], confidence=1.0)
    with pytest.raises(ValueError, match="at least two rounds"):
        ratio_interval([[1.0]], [[1.0]])
    with pytest.raises(ValueError, match="paired rounds"):
        ratio_interval([[1.0], [1.0]], [[1.0]])


def test_relation_compares_with_one_by_default_and_the_bounds_count_as_inside():
    speedup = Interval(2.0, 1.5, 2.5, 0.95)
    assert speedup.relation() == "above"  # a speedup is compared with 1 unless told otherwise
    assert Interval(0.5, 0.4, 0.6, 0.95).relation() == "below"
    # a value on a bound is not outside: the interval does not exclude it
    assert speedup.relation(1.5) == speedup.relation(2.5) == "indistinguishable from"
    assert not speedup.excludes(1.5) and not speedup.excludes(2.5)
    assert speedup.excludes(1.4999) and speedup.excludes(2.5001)


def test_scaling_by_zero_or_less_is_refused():
    interval = Interval(2.0, 1.5, 2.5, 0.95)
    for factor in (0.0, -1.0):
        with pytest.raises(ValueError, match=f"positive factor, got {factor}"):
            interval.scaled(factor)


def test_rounds_disagree_only_beyond_the_tolerance_and_never_without_rounds():
    assert not Interval(2.0, 1.5, 2.5, 0.95).rounds_disagree(tolerance=0.0)  # no rounds kept
    on_the_edge = Interval(2.0, 1.5, 2.5, 0.95, (1.5, 2.5))  # spread 1.0 = 0.5 x estimate
    assert not on_the_edge.rounds_disagree(tolerance=0.5)
    assert on_the_edge.rounds_disagree(tolerance=0.49)


def test_bad_rounds_are_refused_naming_which_measurement():
    good = [[1.0], [1.0]]
    with pytest.raises(ValueError, match=r"^numerator\[1\] is an empty round"):
        per_round_ratios([[1.0], []], good)
    with pytest.raises(ValueError, match=r"^denominator\[1\] must hold positive, finite"):
        per_round_ratios(good, [[1.0], [0.0]])  # a zero time is no time
    with pytest.raises(ValueError, match=r"^numerator\[1\] must hold positive, finite"):
        per_round_ratios([[1.0], [float("inf")]], good)
    with pytest.raises(ValueError, match=r"^rounds needs at least one round"):
        row_time([])
    with pytest.raises(ValueError, match=r"^an interval over rounds needs at least two rounds$"):
        ratio_interval([[1.0]], [[1.0]])
    with pytest.raises(ValueError, match="strictly between 0 and 1, got 0"):
        ratio_interval(good, good, confidence=0)


def test_ratios_are_taken_in_double_precision_even_from_float32_times():
    third = [np.array([1.0], dtype=np.float32)] * 2, [np.array([3.0], dtype=np.float32)] * 2
    assert per_round_ratios(*third) == (1 / 3, 1 / 3)  # float32 would give 0.33333334


def test_identical_rounds_give_a_point_interval_at_the_confidence_asked():
    interval = ratio_interval([[2.0], [2.0]], [[1.0], [1.0]], confidence=0.9)
    assert (interval.estimate, interval.low, interval.high) == (2.0, 2.0, 2.0)
    assert interval.confidence == 0.9
