"""Tests of the GPU timer's acceptance criteria on synthetic samples that pass and fail."""

from __future__ import annotations

import numpy as np
import pytest

from onebyone.perf import timer_checks as checks


def samples(median, spread=0.0, count=50, seed=0):
    generator = np.random.default_rng(seed)
    return list(median * (1 + spread * generator.uniform(-1, 1, count)))


def test_a1_host_independence_allows_one_percent():
    plain = samples(7e-6, 0.01)
    assert checks.host_independence(plain, [t * 1.009 for t in plain]).passed
    failed = checks.host_independence(plain, [t * 1.02 for t in plain])
    assert not failed.passed and failed.value == pytest.approx(0.02)
    assert failed.name == "A1 host-independence" and "+2.00%" in failed.detail


def test_a2_referee_allows_two_percent_either_way():
    kernels = samples(13e-6, 0.005, seed=1)
    assert checks.referee_agreement([t * 0.985 for t in kernels], kernels).passed
    assert not checks.referee_agreement([t * 1.03 for t in kernels], kernels).passed
    assert not checks.referee_agreement([t * 0.97 for t in kernels], kernels).passed


def test_a3_needs_99_percent_of_gaps_within_a_microsecond():
    gaps = [0.2e-6] * 99 + [30e-6]
    assert checks.queue_stays_full(gaps).passed  # 99 of 100
    assert not checks.queue_stays_full([0.2e-6] * 98 + [30e-6] * 2).passed
    assert checks.queue_stays_full([-0.1e-6] * 10).passed  # the kernel was waiting


def test_a4_compares_first_samples_with_the_rest():
    steady = [[7e-6] * 10 for _ in range(20)]
    assert checks.no_first_sample_bias(steady).passed
    assert checks.first_sample_ratio(steady) == pytest.approx(1.0)
    biased = [[14.4e-6] + [7e-6] * 9 for _ in range(20)]  # the H200: 2.06x
    result = checks.no_first_sample_bias(biased)
    assert not result.passed and result.value == pytest.approx(14.4 / 7)
    with pytest.raises(ValueError, match=r"blocks\[0\] needs at least 2 samples"):
        checks.first_sample_ratio([[1.0]])


def test_a5_needs_a_small_iqr_and_round_medians_within_two_percent():
    steady = [samples(22e-6, 0.02, seed=seed) for seed in range(3)]
    assert checks.stability(steady).passed
    flipped = [samples(22e-6, 0.02), samples(22e-6 * 1.05, 0.02, seed=1)]  # a slow round
    result = checks.stability(flipped)
    assert not result.passed and checks.round_spread(flipped) == pytest.approx(0.05, abs=0.01)
    spread = [samples(22e-6, 0.3, seed=seed) for seed in range(3)]  # relative IQR ~ 30 %
    assert not checks.stability(spread).passed and checks.relative_iqr(spread[0]) > 0.05
    assert checks.failed([checks.stability(steady), result]) == ["A5 stability"]


@pytest.mark.parametrize("bad, error, match", [
    (["1e-6"], TypeError, "plain_s must hold real numbers of seconds, got '1e-6'"),
    ([True], TypeError, "plain_s must hold real numbers of seconds, got True"),
    ([float("nan")], ValueError, "plain_s must be finite, non-negative seconds"),
    ([], ValueError, "plain_s needs at least 1 samples"),
    ("1e-6", TypeError, "plain_s must be a sequence of seconds"),
])
def test_samples_that_are_not_times_are_refused(bad, error, match):
    with pytest.raises(error, match=match):
        checks.host_independence(bad, [1e-6])


def test_gpu_acceptance_runs_the_five_criteria_in_order():
    rounds = [samples(7e-6, 0.01, seed=seed) for seed in range(3)]
    blocks = [[7e-6] * 10] * 5
    passed = checks.gpu_acceptance(rounds, rounds[0], rounds[1], rounds[1], [0.0] * 50, blocks)
    assert [c.name[:2] for c in passed] == ["A1", "A2", "A3", "A4", "A5"]
    assert checks.failed(passed) == []
    slow_first = [[8e-6] + [7e-6] * 9] * 5
    failing = checks.gpu_acceptance(rounds, rounds[0], rounds[1], rounds[1], [2e-6] * 50,
                                    slow_first)
    assert checks.failed(failing) == ["A3 full queue", "A4 first-sample bias"]
