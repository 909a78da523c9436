"""How sure we are: confidence intervals for ratios of times measured in interleaved rounds.

Why: "the reduced path is 5.2 times faster" is a claim about two noisy measurements. On a shared
machine the noise does not hit single blocks at random: a burst of other work slows a whole
*round* (seconds of blocks), so blocks of one round are not independent samples, and an
interval that resamples blocks is far too narrow. What is independent, roughly, is the rounds.
The experiments time the two measurements of a comparison in the same interleaved rounds
(round 1 of A, round 1 of B, round 2 of A, ...), so each round gives one *paired* ratio,
``median(A's blocks in round r) / median(B's blocks in round r)``, in which a slow period that
hit both cancels. With ``k`` rounds we have ``k`` such ratios, and the interval is Student's
t-interval on their logarithms (ratios multiply, so their logarithms add), mapped back with
``exp``: with five rounds a t-interval is more honest than a bootstrap, which cannot produce a
wider spread than the five values it resamples.

The estimate is the median of the per-round ratios (so one round cannot decide it, and the
estimate keeps the pairing), and the interval is widened to contain it when it does not.

A claim "A is faster than B" is then made only when the whole interval of ``time_B / time_A``
lies above 1; when it contains 1 the two are *indistinguishable* at this precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from onebyone import validation

Rounds = Sequence[Sequence[float]]
"""A measurement's per-call block times in seconds, one sequence per round."""


@dataclass(frozen=True)
class Interval:
    """An estimate and its confidence interval (same unit as the estimate).

    Attributes:
        estimate: the point estimate (for a ratio: the median of the per-round ratios).
        low, high: the interval's bounds.
        confidence: e.g. 0.95.
        per_round: the per-round ratios it was computed from (empty when not a ratio of rounds).
    """

    estimate: float
    low: float
    high: float
    confidence: float
    per_round: tuple[float, ...] = ()

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
                        self.confidence, tuple(ratio * factor for ratio in self.per_round))

    def rounds_disagree(self, tolerance: float = 0.2) -> bool:
        """Whether the per-round ratios spread by more than ``tolerance`` (relative) around the
        estimate: the rounds saw different machines, and the interval is wide for that reason."""
        if not self.per_round:
            return False
        return (max(self.per_round) - min(self.per_round)) > tolerance * self.estimate

    def __str__(self) -> str:
        return f"{self.estimate:.3g} [{self.low:.3g}, {self.high:.3g}]"


def _check(rounds: Rounds, name: str) -> list[np.ndarray]:
    arrays = [np.asarray(times, dtype=float) for times in rounds]
    if not arrays or any(array.size == 0 for array in arrays):
        raise ValueError(f"{name} needs at least one round of at least one block time")
    if any(not np.all(np.isfinite(array) & (array > 0)) for array in arrays):
        raise ValueError(f"{name}'s block times must be positive, finite seconds")
    return arrays


def _t_quantile(probability: float, degrees_of_freedom: int) -> float:
    """Student's t quantile (SciPy, which scikit-learn, a dependency, brings along)."""
    from scipy.stats import t  # imported here: only intervals need it

    return float(t.ppf(probability, degrees_of_freedom))


def per_round_ratios(numerator: Rounds, denominator: Rounds) -> tuple[float, ...]:
    """``median(numerator's round r) / median(denominator's round r)`` for every round ``r``.

    Both must have the same number of rounds, timed interleaved (round ``r`` of each close in
    time), so that each ratio compares the two under the same load.
    """
    top, bottom = _check(numerator, "the numerator"), _check(denominator, "the denominator")
    if len(top) != len(bottom):
        raise ValueError(f"paired rounds needed: {len(top)} rounds against {len(bottom)}")
    return tuple(float(np.median(a) / np.median(b)) for a, b in zip(top, bottom, strict=True))


def median_of_round_medians(rounds: Rounds) -> float:
    """The median over rounds of each round's median block time (seconds per call)."""
    return float(np.median([np.median(array) for array in _check(rounds, "a measurement")]))


def ratio_interval(
    numerator: Rounds,
    denominator: Rounds,
    *,
    confidence: float = 0.95,
) -> Interval:
    """Confidence interval of the time ratio ``numerator / denominator``, over paired rounds.

    Args:
        numerator, denominator: block times (seconds per call) of two measurements, by round,
            timed in the same interleaved rounds. For a speedup of B over A, the numerator is
            A's (the slower one's) times.
        confidence: the interval's coverage, between 0 and 1.

    Returns:
        An :class:`Interval`: estimate the median of the per-round ratios; bounds
        ``exp(mean ± t * sd / sqrt(k))`` of the ``k`` per-round log ratios (widened to contain
        the estimate); ``per_round`` the ratios.

    Raises:
        ValueError: fewer than two rounds (one round says nothing about the next), unequal
            numbers of rounds, or bad times.
    """
    confidence = validation.real_number("confidence", confidence)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    ratios = per_round_ratios(numerator, denominator)
    if len(ratios) < 2:
        raise ValueError("an interval over rounds needs at least two rounds")
    logs = np.log(ratios)
    half_width = (_t_quantile(0.5 + confidence / 2, len(logs) - 1)
                  * float(np.std(logs, ddof=1)) / np.sqrt(len(logs)))
    centre = float(np.mean(logs))
    estimate = float(np.median(ratios))
    low, high = float(np.exp(centre - half_width)), float(np.exp(centre + half_width))
    return Interval(estimate, min(low, estimate), max(high, estimate), confidence, ratios)
