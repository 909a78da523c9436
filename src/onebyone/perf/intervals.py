"""How sure we are: confidence intervals for ratios of times measured in interleaved rounds.

Why: "the reduced path is 5.2 times faster" is a claim about two noisy measurements. On a shared
machine the noise does not hit single blocks at random: a burst of other work slows a whole
*round* (seconds of blocks), so blocks of one round are not independent samples, and an
interval that resamples blocks is far too narrow. What is independent, roughly, is the rounds.

**A row's time** (one definition, used by the CSV's ``median_s``, by
:func:`onebyone.perf.results.typical_s` and by every ratio here): :func:`row_time`, the
*geometric mean over rounds of each round's median* sample, seconds per call. Within a round the
median ignores interrupted blocks; across rounds the geometric mean is what ratios compose with.

**A ratio and its interval come from one statistic**, the mean of logarithms:

- *paired* (:func:`ratio_interval`): two measurements timed in the same interleaved rounds
  (round 1 of A, round 1 of B, round 2 of A, ...) give one ratio per round,
  ``median(A's round r) / median(B's round r)``, in which a slow period that hit both cancels.
  Rounds are paired **by their id**, never by position alone: give each measurement's rounds as
  a mapping ``{round id: samples}`` (a plain sequence means ids ``0, 1, ...``), and rounds whose
  ids do not match are refused. The estimate is ``exp(mean log ratio)`` (the geometric mean of
  the per-round ratios, which equals ``row_time(A) / row_time(B)``) and the interval is
  Student's t-interval of the mean log ratio, ``exp(mean +- t * sd / sqrt(k))``: the estimate is
  the interval's centre on the log scale, by construction;
- *unpaired* (:func:`unpaired_ratio_interval`): two measurements from different experiments or
  runs, whose rounds were not interleaved, are compared by Welch's t-interval of the
  difference of their mean log round medians; the same estimate, but an interval that does not
  pair rounds and so cannot cancel a slow period shared by both (it is not wider in general:
  when a shared slow period moved both rows alike, the paired one is narrower; when the rows'
  rounds scatter independently, either may be).

What the interval covers: **round-to-round scatter** (a burst of other work in one round, a
clock that changed between rounds), assuming rounds are independent, with ``k - 1`` degrees of
freedom (so five rounds give a wide interval, honestly). What it does **not** cover: a bias
shared by every round, such as launch-bound GPU timing that inflates every round alike, a cache
state that differs from the one in a network, or a counted workload that is not the executed one;
no number of rounds shrinks those, and only a better measurement removes them.

A claim "A is faster than B" is then made only when the whole interval of ``time_B / time_A``
lies above 1; when it contains 1 the two are *indistinguishable* at this precision.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from onebyone import validation

Rounds = Sequence[Sequence[float]] | Mapping[Hashable, Sequence[float]]
"""A measurement's per-call samples in seconds, by round: a mapping ``{round id: samples}``, or a
sequence of rounds whose ids are their positions ``0, 1, ...``."""


@dataclass(frozen=True)
class Interval:
    """An estimate and its confidence interval (same unit as the estimate).

    Attributes:
        estimate: the point estimate (for a ratio: the geometric mean of the per-round
            ratios, the interval's centre on a log scale).
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


def _times(name: str, rounds: object) -> dict[Hashable, np.ndarray]:
    """``rounds`` as ``{round id: float64 samples}``; refuses what is not a time, naming ``name``.

    Raises:
        TypeError: not a sequence or mapping of sequences of real numbers (strings, bools and
            ``None`` are not times).
        ValueError: no rounds, an empty round, or a sample that is ``nan``, infinite or <= 0.
    """
    if isinstance(rounds, Mapping):
        items = list(rounds.items())
    elif isinstance(rounds, Sequence) and not isinstance(rounds, (str, bytes)):
        items = list(enumerate(rounds))
    else:
        raise TypeError(f"{name} must be a mapping or sequence of rounds of seconds, "
                        f"got {rounds!r}")
    if not items:
        raise ValueError(f"{name} needs at least one round of at least one sample")
    arrays = {}
    for key, times in items:
        if isinstance(times, (str, bytes)) or not isinstance(times, Sequence | np.ndarray):
            raise TypeError(f"{name}[{key!r}] must be a sequence of seconds, got {times!r}")
        for time in times:
            if isinstance(time, bool | np.bool_) or not isinstance(time, numbers.Real):
                raise TypeError(f"{name}[{key!r}] must hold real numbers of seconds, "
                                f"got {time!r} ({type(time).__name__})")
        array = np.asarray(times, dtype=float)
        if array.size == 0:
            raise ValueError(f"{name}[{key!r}] is an empty round: give at least one sample")
        if not np.all(np.isfinite(array) & (array > 0)):
            raise ValueError(f"{name}[{key!r}] must hold positive, finite seconds, "
                             f"got {list(times)!r}")
        arrays[key] = array
    return arrays


def _t_quantile(probability: float, degrees_of_freedom: float) -> float:
    """Student's t quantile (SciPy, which scikit-learn, a dependency, brings along)."""
    from scipy.stats import t  # imported here: only intervals need it

    return float(t.ppf(probability, degrees_of_freedom))


def _confidence(confidence: object) -> float:
    confidence = validation.real_number("confidence", confidence)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    return confidence


def _paired(numerator: Rounds, denominator: Rounds) -> tuple[list[Hashable], dict, dict]:
    top, bottom = _times("numerator", numerator), _times("denominator", denominator)
    if set(top) != set(bottom):
        only_top = [key for key in top if key not in bottom]
        only_bottom = [key for key in bottom if key not in top]
        raise ValueError(f"paired rounds needed: round ids {only_top!r} only in the numerator, "
                         f"{only_bottom!r} only in the denominator ({len(top)} rounds against "
                         f"{len(bottom)})")
    return list(top), top, bottom


def per_round_ratios(numerator: Rounds, denominator: Rounds) -> tuple[float, ...]:
    """``median(numerator's round r) / median(denominator's round r)`` for every round id ``r``
    (in the numerator's order).

    Both must have the same round ids, timed interleaved (round ``r`` of each close in time),
    so that each ratio compares the two under the same load; mismatched ids are refused.
    """
    keys, top, bottom = _paired(numerator, denominator)
    return tuple(float(np.median(top[key]) / np.median(bottom[key])) for key in keys)


def row_time(rounds: Rounds) -> float:
    """A measurement's time per call (seconds): the geometric mean over rounds of each round's
    median sample (the median itself for one round). The one definition of a row's time."""
    medians = [float(np.median(array)) for array in _times("rounds", rounds).values()]
    if len(medians) == 1:
        return medians[0]  # exactly, without a round trip through log and exp
    return float(np.exp(np.mean(np.log(medians))))


def ratio_interval(
    numerator: Rounds,
    denominator: Rounds,
    *,
    confidence: float = 0.95,
) -> Interval:
    """Confidence interval of the time ratio ``numerator / denominator``, over paired rounds.

    Args:
        numerator, denominator: samples (seconds per call) of two measurements, by round id,
            timed in the same interleaved rounds. For a speedup of B over A, the numerator is
            A's (the slower one's) times.
        confidence: the interval's coverage, between 0 and 1.

    Returns:
        An :class:`Interval`: estimate ``exp(mean of the k per-round log ratios)`` (equal to
        ``row_time(numerator) / row_time(denominator)``); bounds ``exp(mean +- t * sd /
        sqrt(k))``; ``per_round`` the ratios. It covers round-to-round scatter only (see the
        module's docstring).

    Raises:
        TypeError: times that are not numbers (strings, bools).
        ValueError: fewer than two rounds (one round says nothing about the next), round ids
            that do not match, or times that are not positive and finite.
    """
    confidence = _confidence(confidence)
    ratios = per_round_ratios(numerator, denominator)
    if len(ratios) < 2:
        raise ValueError("an interval over rounds needs at least two rounds")
    logs = np.log(ratios)
    half_width = (_t_quantile(0.5 + confidence / 2, len(logs) - 1)
                  * float(np.std(logs, ddof=1)) / np.sqrt(len(logs)))
    centre = float(np.mean(logs))
    return Interval(float(np.exp(centre)), float(np.exp(centre - half_width)),
                    float(np.exp(centre + half_width)), confidence, ratios)


def unpaired_ratio_interval(
    numerator: Rounds,
    denominator: Rounds,
    *,
    confidence: float = 0.95,
) -> Interval:
    """Confidence interval of ``numerator / denominator`` for rounds that were *not* interleaved.

    Why: two measurements from different experiments (or files) did not share their rounds, so
    no round cancels a slow period for both; pairing them by position would claim a precision
    the data do not have. Welch's t-interval of the difference of the mean log round medians
    (Welch-Satterthwaite degrees of freedom), mapped back with ``exp``.

    Returns:
        An :class:`Interval` with the estimate ``row_time(numerator) / row_time(denominator)``
        and no ``per_round`` ratios.

    Raises:
        TypeError, ValueError: as :func:`ratio_interval`; each side needs two rounds.
    """
    confidence = _confidence(confidence)
    sides = []
    for name, rounds in (("numerator", numerator), ("denominator", denominator)):
        logs = np.log([np.median(array) for array in _times(name, rounds).values()])
        if len(logs) < 2:
            raise ValueError(f"{name}: an interval over rounds needs at least two rounds")
        sides.append(logs)
    top, bottom = sides
    variances = [float(np.var(logs, ddof=1)) / len(logs) for logs in sides]
    centre = float(np.mean(top) - np.mean(bottom))
    spread = float(np.sqrt(sum(variances)))
    if spread == 0:
        return Interval(float(np.exp(centre)), float(np.exp(centre)), float(np.exp(centre)),
                        confidence)
    freedom = spread**4 / sum(v**2 / (len(logs) - 1)
                              for v, logs in zip(variances, sides, strict=True))
    half_width = _t_quantile(0.5 + confidence / 2, freedom) * spread
    return Interval(float(np.exp(centre)), float(np.exp(centre - half_width)),
                    float(np.exp(centre + half_width)), confidence)
