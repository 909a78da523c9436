"""Tests of the bootstrap intervals: coverage of a known ratio, resolution, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from onebyone.intervals import Interval, ratio_interval


def noisy_rounds(median, spread, rounds=3, blocks=40, seed=0):
    generator = np.random.default_rng(seed)
    return [list(median * (1 + spread * generator.standard_normal(blocks)))
            for _ in range(rounds)]


def test_a_clear_difference_is_resolved_and_the_interval_contains_the_truth():
    slow, fast = noisy_rounds(2.0, 0.03, seed=1), noisy_rounds(1.0, 0.03, seed=2)
    interval = ratio_interval(slow, fast)
    assert interval.low < 2.0 < interval.high  # the true ratio
    assert interval.excludes(1.0) and interval.high - interval.low < 0.1


def test_two_samples_of_the_same_thing_are_indistinguishable():
    first, second = noisy_rounds(1.0, 0.05, seed=3), noisy_rounds(1.0, 0.05, seed=4)
    assert not ratio_interval(first, second).excludes(1.0)


def test_a_noisier_measurement_gets_a_wider_interval():
    base = noisy_rounds(1.0, 0.01, seed=5)
    narrow = ratio_interval(noisy_rounds(1.0, 0.01, seed=6), base)
    wide = ratio_interval(noisy_rounds(1.0, 0.2, seed=6), base)
    assert wide.high - wide.low > 5 * (narrow.high - narrow.low)


def test_same_seed_same_interval_and_the_estimate_is_the_ratio_of_medians():
    slow, fast = noisy_rounds(3.0, 0.05, seed=7), noisy_rounds(1.0, 0.05, seed=8)
    assert ratio_interval(slow, fast) == ratio_interval(slow, fast)
    expected = np.median(np.concatenate(slow)) / np.median(np.concatenate(fast))
    assert ratio_interval(slow, fast).estimate == pytest.approx(expected)


def test_scaling_and_checks():
    interval = Interval(2.0, 1.5, 2.5, 0.95)
    assert interval.scaled(2.0) == Interval(4.0, 3.0, 5.0, 0.95)
    assert str(interval) == "2 [1.5, 2.5]"
    assert interval.relation(1.0) == "above" and interval.relation(3.0) == "below"
    assert interval.relation(2.2) == "indistinguishable from"
    with pytest.raises(ValueError, match="low <= high"):
        Interval(1.0, 2.0, 1.5, 0.95)
    with pytest.raises(ValueError, match="at least one round"):
        ratio_interval([], [[1.0]])
    with pytest.raises(ValueError, match="positive, finite"):
        ratio_interval([[1.0, float("nan")]], [[1.0]])
    with pytest.raises(ValueError, match="confidence"):
        ratio_interval([[1.0]], [[1.0]], confidence=1.0)
