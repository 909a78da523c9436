"""Acceptance criteria of the GPU timer: pure functions of recorded samples.

Why: "the timer agrees with a referee" is only a check when the referee cannot fail the same
way, and when the criteria are stated before the run. Each criterion below takes samples that a
run recorded (seconds) and returns a :class:`Criterion`: its name, whether it held, the value
it measured and the limit. ``benchmarks/validate_timer.py`` applies them on a GPU and exits
non-zero naming every one that failed; the tests apply them to synthetic samples that pass and
fail. The criteria (issue 26):

- **A1 host-independence**: a host busy-wait of 50 us before every launch changes the median
  by at most 1 % (the GPU's time must not depend on how slow the host is);
- **A2 referee**: the events' median lies within 2 % of the median of the kernels' own
  durations from CUPTI (:mod:`onebyone.perf.gpu_referee`);
- **A3 full queue**: in 99 % of profiled calls the kernel starts at most 1 us after its flush
  ends (the GPU did not wait for the host there);
- **A4 no first-call bias**: the median of every block's first sample is within 1.02 times the
  median of the other samples (on the H200, before the fix, the first replay after each
  synchronisation took 2.06 times the others);
- **A5 stability**: relative IQR at most 5 %, and every round's median within 2 % of every
  other's (max / min).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Criterion:
    """The outcome of one acceptance criterion.

    Attributes:
        name: ``"A1 host-independence"`` ...
        passed: whether it held.
        value: what was measured (its unit is the limit's).
        limit: the bound it was held to.
        detail: one sentence for a report.
    """

    name: str
    passed: bool
    value: float
    limit: float
    detail: str


def _samples(name: str, values: object, least: int = 1, negative: bool = False) -> np.ndarray:
    """Finite seconds (non-negative unless ``negative``) as an array; ``TypeError`` or
    ``ValueError`` naming ``name`` (strings, bools, ``nan`` are refused)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(f"{name} must be a sequence of seconds, got {values!r}")
    for value in values:
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must hold real numbers of seconds, got {value!r}")
    array = np.asarray(values, dtype=float)
    if array.size < least:
        raise ValueError(f"{name} needs at least {least} samples, got {array.size}")
    if not np.all(np.isfinite(array)) or (not negative and np.any(array < 0)):
        kind = "finite" if negative else "finite, non-negative"
        raise ValueError(f"{name} must be {kind} seconds, got {list(values)!r}")
    return array


def host_independence(plain_s: Sequence[float], host_waited_s: Sequence[float],
                      limit: float = 0.01) -> Criterion:
    """A1: ``|median(host_waited) / median(plain) - 1| <= limit``."""
    plain, waited = _samples("plain_s", plain_s), _samples("host_waited_s", host_waited_s)
    change = float(np.median(waited) / np.median(plain) - 1)
    return Criterion("A1 host-independence", abs(change) <= limit, change, limit,
                     f"a host busy-wait before each launch moved the median by {change:+.2%}")


def referee_agreement(event_s: Sequence[float], kernel_s: Sequence[float],
                      limit: float = 0.02) -> Criterion:
    """A2: ``|median(events) / median(CUPTI kernel sums) - 1| <= limit``."""
    events, kernels = _samples("event_s", event_s), _samples("kernel_s", kernel_s)
    difference = float(np.median(events) / np.median(kernels) - 1)
    return Criterion("A2 referee", abs(difference) <= limit, difference, limit,
                     f"events' median is {difference:+.2%} off CUPTI's kernel durations")


def queue_stays_full(gaps_s: Sequence[float], limit_s: float = 1e-6,
                     share: float = 0.99) -> Criterion:
    """A3: at least ``share`` of the flush-to-kernel gaps are at most ``limit_s`` seconds.

    Gaps may be slightly negative (the kernel was queued before the flush's end was stamped);
    those count as within the limit.
    """
    gaps = _samples("gaps_s", gaps_s, negative=True)
    within = float(np.mean(gaps <= limit_s))
    return Criterion("A3 full queue", within >= share, within, share,
                     f"{within:.1%} of calls started within {limit_s * 1e6:g} us of their flush")


def first_sample_ratio(blocks: Sequence[Sequence[float]]) -> float:
    """Median of every block's first sample over the median of all other samples.

    Why: the first call after a synchronisation is the one that meets an empty queue; when the
    host is too slow to keep the queue full, it is the slowest (the bias A4 detects).
    """
    if isinstance(blocks, (str, bytes)) or not isinstance(blocks, Sequence):
        raise TypeError(f"blocks must be a sequence of blocks of seconds, got {blocks!r}")
    arrays = [_samples(f"blocks[{index}]", block, least=2) for index, block in enumerate(blocks)]
    if not arrays:
        raise ValueError("blocks needs at least one block of two samples")
    firsts = [array[0] for array in arrays]
    others = np.concatenate([array[1:] for array in arrays])
    return float(np.median(firsts) / np.median(others))


def no_first_sample_bias(blocks: Sequence[Sequence[float]], limit: float = 1.02) -> Criterion:
    """A4: :func:`first_sample_ratio` at most ``limit``."""
    ratio = first_sample_ratio(blocks)
    return Criterion("A4 first-sample bias", ratio <= limit, ratio, limit,
                     f"blocks' first samples are {ratio:.3f} times the others' median")


def relative_iqr(samples: Sequence[float]) -> float:
    """Interquartile range over median (linear interpolation, as ``numpy.quantile``)."""
    array = _samples("samples", samples)
    q25, median, q75 = np.quantile(array, [0.25, 0.5, 0.75])
    return float((q75 - q25) / median)


def round_spread(rounds: Sequence[Sequence[float]]) -> float:
    """The largest round median over the smallest, minus 1 (0.02: within 2 %)."""
    if isinstance(rounds, (str, bytes)) or not isinstance(rounds, Sequence) or not rounds:
        raise TypeError(f"rounds must be a non-empty sequence of rounds, got {rounds!r}")
    medians = [float(np.median(_samples(f"rounds[{index}]", times)))
               for index, times in enumerate(rounds)]
    return max(medians) / min(medians) - 1


def stability(rounds: Sequence[Sequence[float]], iqr_limit: float = 0.05,
              spread_limit: float = 0.02) -> Criterion:
    """A5: relative IQR of all samples <= ``iqr_limit`` and :func:`round_spread` <=
    ``spread_limit``; ``value`` is the larger of the two measures over its limit (<= 1 passes)."""
    spread = round_spread(rounds)
    iqr = relative_iqr([time for times in rounds for time in times])
    worst = max(iqr / iqr_limit, spread / spread_limit)
    return Criterion("A5 stability", iqr <= iqr_limit and spread <= spread_limit, worst, 1.0,
                     f"relative IQR {iqr:.1%} (limit {iqr_limit:.0%}), round medians within "
                     f"{spread:.1%} (limit {spread_limit:.0%})")


def failed(criteria: Sequence[Criterion]) -> list[str]:
    """The names of the criteria that did not hold, in order."""
    return [criterion.name for criterion in criteria if not criterion.passed]



def gpu_acceptance(
    rounds: Sequence[Sequence[float]],
    host_waited_s: Sequence[float],
    event_s: Sequence[float],
    kernel_s: Sequence[float],
    gaps_s: Sequence[float],
    blocks: Sequence[Sequence[float]],
) -> list[Criterion]:
    """All five criteria of one case, in order A1 to A5.

    Args:
        rounds: the harness's samples (seconds per call), by interleaved round (A5; A1's plain
            side is all of them).
        host_waited_s: the harness's samples with a 50 us host busy-wait before each launch (A1).
        event_s, kernel_s: the profiled loop's event times and CUPTI kernel sums (A2).
        gaps_s: the profiled loop's flush-to-kernel gaps (A3).
        blocks: the profiled loop's event times by block (A4).
    """
    plain = [time for times in rounds for time in times]
    return [host_independence(plain, host_waited_s), referee_agreement(event_s, kernel_s),
            queue_stays_full(gaps_s), no_first_sample_bias(blocks), stability(rounds)]
