"""Per-call CUDA events against CUDA-graph replay: how much of a short GPU timing may be the host's.

Why: on a GPU the harness issues calls in groups of ten (each: an L2 flush, an event, the call, an
event) and then waits for the device. The GPU's clock runs from the first event to the second, so
if the host (Python, PyTorch's dispatcher, cuDNN's heuristics) needs longer per call than the GPU
does (flush plus kernel), the GPU can sit idle inside the timed interval, and the idle time is
counted as the call's. Replaying a captured CUDA graph launches the same kernels with no host work
between the events. Pairing two recordings of the same measurements shows where the two differ:
the ratio ``events / graph`` stays near 1 for long kernels and is often well above 1 for short
ones. (The two files may come from different runs or machines; then a slower host in one of them
also moves the ratio.)

Command (from the repository root; it prints a table and a summary, writes nothing)::

    .venv/bin/python benchmarks/compare_event_and_graph.py \\
        book/data/h200/experiments.csv book/data/h200/experiments-cuda-graph.partial.csv

Times are microseconds per call (:func:`onebyone.perf.results.typical_s`); the relative IQR is
the interquartile range of the per-call times over their median.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from onebyone.perf.event_vs_graph import HOST_BOUND_RATIO, KEY, SHORT_S, pairs, summary
from onebyone.perf.results import read_results, typical_s


def main(argv: Sequence[str] | None = None) -> int:
    """Read the two files, print the paired table and the summary; 0 on success.

    A file that cannot be read or trusted (:func:`onebyone.perf.results.read_results`) ends it
    with exit status 2 and the reader's message, which names the file, line and column.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", help="CSV timed with per-call CUDA events")
    parser.add_argument("graphs", help="CSV of the same measurements timed with --cuda-graph")
    arguments = parser.parse_args(argv)
    try:
        paired = pairs(read_results(arguments.events), read_results(arguments.graphs))
    except (OSError, ValueError) as error:  # a RecordError names the file, line and column
        parser.error(str(error))
    if not paired:
        parser.error("the two files share no measurement")
    print(f"{'measurement':58} {'events us':>10} {'rel IQR':>8} {'graph us':>10} {'rel IQR':>8}"
          f" {'ratio':>6}")
    for event, graph in paired:
        name = " ".join(str(event[column])
                        for column in (*KEY[:3], "in_channels", "memory_format"))
        print(f"{name:58} {typical_s(event) * 1e6:10.1f} {event['relative_iqr']:8.2f} "
              f"{typical_s(graph) * 1e6:10.1f} {graph['relative_iqr']:8.2f} "
              f"{typical_s(event) / typical_s(graph):6.2f}")
    for kind, (host_bound, total) in summary(paired).items():
        side = "<" if kind == "short" else ">="
        print(f"graph replay {side} {SHORT_S * 1e6:.0f} us: {host_bound} of {total} event times "
              f"more than {HOST_BOUND_RATIO}x the replay's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
