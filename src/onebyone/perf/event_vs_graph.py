"""Pairing a recording timed with per-call CUDA events with one timed by CUDA-graph replay.

Why: on a GPU the old harness could count the host's launch time as the call's when the host
needed longer per call than the GPU. Replaying a captured CUDA graph launches the same kernels
with no host work between the events, so pairing two recordings of the same measurements shows
where they differ: ``events / graph`` stays near 1 for long kernels and is often well above 1 for
short ones (Chapter 5's appendix; ``benchmarks/compare_event_and_graph.py`` prints the table).
Times are seconds per call (:func:`onebyone.perf.results.typical_s`).
"""

from __future__ import annotations

from collections.abc import Sequence

from onebyone.perf.results import Row, typical_s

KEY = ("experiment", "variant", "precision", "batch_size", "in_channels", "out_channels",
       "memory_format")
"""The columns that name one measurement, the same in both files."""
SHORT_S = 100e-6
"""A graph replay shorter than this (seconds) counts as a short kernel in the summary."""
HOST_BOUND_RATIO = 1.1
"""An event time more than this many times the graph replay's counts as host-bound."""


def pairs(events: Sequence[Row], graphs: Sequence[Row]) -> list[tuple[Row, Row]]:
    """The measured rows of ``events`` and ``graphs`` that name the same measurement, paired."""
    by_key = {tuple(row[name] for name in KEY): row for row in events
              if row["status"] == "measured"}
    return [(by_key[key], row) for row in graphs if row["status"] == "measured"
            and (key := tuple(row[name] for name in KEY)) in by_key]


def summary(paired: Sequence[tuple[Row, Row]]) -> dict[str, tuple[int, int]]:
    """``{"short": (host-bound, all), "long": (host-bound, all)}``, split at :data:`SHORT_S`."""
    counts = {"short": [0, 0], "long": [0, 0]}
    for event, graph in paired:
        kind = "short" if typical_s(graph) < SHORT_S else "long"
        counts[kind][1] += 1
        counts[kind][0] += typical_s(event) > HOST_BOUND_RATIO * typical_s(graph)
    return {kind: (host_bound, total) for kind, (host_bound, total) in counts.items()}
