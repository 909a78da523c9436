"""How sure we are: bootstrap confidence intervals for ratios of median times.

Why: "the reduced path is 5.2 times faster" is a claim about two noisy measurements. Each was
timed in several interleaved rounds of many blocks, so we can ask how much the ratio of their
medians would move if the blocks had come out differently: resample each measurement's blocks
with replacement, *within each round* (a burst of other work hits a whole round, so rounds are
kept apart), take the medians again, and read the 2.5th and 97.5th percentiles of the ratio
over thousands of resamples. That is the percentile bootstrap (Efron and Tibshirani, 1993).

A claim "A is faster than B" is then made only when the whole interval of ``time_B / time_A``
lies above 1; when it contains 1 the two are *indistinguishable* at this precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Rounds = Sequence[Sequence[float]]
"""A measurement's per-call block times in seconds, one sequence per round."""


@dataclass(frozen=True)
class Interval:
    """An estimate and its confidence interval (same unit as the estimate).

    Attributes:
        estimate: the value computed from all blocks (for a ratio: ratio of the two medians).
        low, high: the interval's bounds.
        confidence: e.g. 0.95.
    """

    estimate: float
    low: float
    high: float
    confidence: float

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"an interval needs low <= high, got {self.low} > {self.high}")

    def excludes(self, value: float) -> bool:
        """Whether ``value`` lies outside the interval (the difference from it is supported)."""
        return value < self.low or value > self.high

    def relation(self, value: float = 1.0) -> str:
        """``"above"``, ``"below"`` or ``"indistinguishable from"`` ``value``, for prose.

        "above" only when the whole interval lies above ``value``; so a sentence built from it
        claims a difference only when the data supports one.
        """
        if self.low > value:
            return "above"
        if self.high < value:
            return "below"
        return "indistinguishable from"

    def scaled(self, factor: float) -> Interval:
        """The interval of ``factor`` times the quantity (``factor > 0``)."""
        if factor <= 0:
            raise ValueError(f"scale by a positive factor, got {factor}")
        return Interval(self.estimate * factor, self.low * factor, self.high * factor,
                        self.confidence)

    def __str__(self) -> str:
        return f"{self.estimate:.3g} [{self.low:.3g}, {self.high:.3g}]"


def _check(rounds: Rounds, name: str) -> list[np.ndarray]:
    arrays = [np.asarray(times, dtype=float) for times in rounds]
    if not arrays or any(array.size == 0 for array in arrays):
        raise ValueError(f"{name} needs at least one round of at least one block time")
    if any(not np.all(np.isfinite(array) & (array > 0)) for array in arrays):
        raise ValueError(f"{name}'s block times must be positive, finite seconds")
    return arrays


def _resampled_medians(arrays: list[np.ndarray], resamples: int,
                       generator: np.random.Generator) -> np.ndarray:
    """Median of the pooled blocks after resampling every round within itself, per resample."""
    pooled = [array[generator.integers(0, array.size, size=(resamples, array.size))]
              for array in arrays]
    return np.median(np.concatenate(pooled, axis=1), axis=1)


def ratio_interval(
    numerator: Rounds,
    denominator: Rounds,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Confidence interval of ``median(numerator) / median(denominator)``.

    Args:
        numerator, denominator: block times (seconds per call) of two measurements, by round.
            For a speedup of B over A, the numerator is A's (the slower one's) times.
        confidence: the interval's coverage, between 0 and 1.
        resamples: bootstrap resamples (more: a steadier interval, slower).
        seed: seed of the resampling, so that the same data gives the same interval.

    Returns:
        An :class:`Interval` whose estimate is the ratio of the medians of all blocks.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    if resamples < 100:
        raise ValueError(f"use at least 100 resamples, got {resamples}")
    top, bottom = _check(numerator, "the numerator"), _check(denominator, "the denominator")
    generator = np.random.default_rng(seed)
    ratios = (_resampled_medians(top, resamples, generator)
              / _resampled_medians(bottom, resamples, generator))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    estimate = float(np.median(np.concatenate(top)) / np.median(np.concatenate(bottom)))
    return Interval(estimate, float(min(low, estimate)), float(max(high, estimate)), confidence)
