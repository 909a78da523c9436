"""Timing one GPU call at a time: CUDA events, a cold L2 cache, and optional CUDA-graph replay.

Why, beyond ``torch.utils.benchmark``'s blocks of calls:

- **L2 cache.** A GPU's L2 cache holds tens of megabytes (50 MB on an H100). Called in a loop,
  a layer finds its weights and often its input still in L2 from the call before, and runs
  faster than it would inside a network. So between timed calls we overwrite a buffer twice
  the L2's size, which evicts everything, and time each call on its own.
- **CUDA events.** Timing one call with the host clock would add the launch and
  synchronisation costs. Two CUDA events recorded in the stream around the call are read by
  the GPU itself, so they measure what ran on the device.
- **CUDA graphs.** A small kernel can take less time than the CPU needs to launch it. Replaying
  a captured CUDA graph launches the whole call at once; comparing graph replay with ordinary
  calls separates launch overhead from kernel time.

The clock is a small interface (:class:`EventClock`) so that the loop can be tested on a CPU
with a scripted clock, and runs with :class:`CudaEventClock` on a GPU. Times in seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from onebyone import validation


class Event(Protocol):
    """A point in a stream: ``record()`` it, then ask another event for the time between."""

    def record(self) -> None: ...

    def elapsed_time(self, end: Event) -> float:
        """Milliseconds from this event to ``end`` (CUDA's unit)."""


class EventClock(Protocol):
    """What :func:`time_with_events` needs: events, a way to wait for them, a cache flush."""

    def event(self) -> Event: ...

    def synchronize(self) -> None: ...

    def flush(self) -> None: ...


class CudaEventClock:
    """CUDA events on ``device``, with an L2 flush (a write of twice the L2's size) if asked.

    Args:
        device: a CUDA device.
        flush_l2: overwrite a buffer of ``2 x L2`` bytes before every timed call.
    """

    def __init__(self, device: torch.device, flush_l2: bool = True) -> None:
        if device.type != "cuda":
            raise ValueError(f"CUDA events need a CUDA device, got {device}")
        self.device = device
        l2_bytes = torch.cuda.get_device_properties(device).L2_cache_size
        self.buffer = (torch.empty(2 * l2_bytes, dtype=torch.uint8, device=device)
                       if flush_l2 else None)

    def event(self) -> torch.cuda.Event:
        return torch.cuda.Event(enable_timing=True)

    def synchronize(self) -> None:
        torch.cuda.synchronize(self.device)

    def flush(self) -> None:
        if self.buffer is not None:
            self.buffer.zero_()


def time_with_events(
    fn: Callable[[torch.Tensor], object],
    x: torch.Tensor,
    clock: EventClock,
    min_run_time: float,
    *,
    min_calls: int = 10,
    max_calls: int = 100_000,
    calls_between_waits: int = 10,
) -> list[float]:
    """Per-call times (seconds) of ``fn(x)``, each between two events, a flush before each.

    Calls are issued in groups of ``calls_between_waits`` and the clock waits for the device
    after each group, until ``min_run_time`` seconds of calls (and ``min_calls`` calls) are
    timed, or ``max_calls`` calls. The flush lies outside the events, so it is never timed.
    """
    min_run_time = validation.positive_number("min_run_time", min_run_time)
    min_calls, max_calls, calls_between_waits = validation.check_positive_integers(
        min_calls=min_calls, max_calls=max_calls, calls_between_waits=calls_between_waits)
    if max_calls < min_calls:
        raise ValueError("need 1 <= min_calls <= max_calls and calls_between_waits >= 1")
    times: list[float] = []
    while len(times) < max_calls and (len(times) < min_calls or sum(times) < min_run_time):
        pairs = []
        for _ in range(calls_between_waits):
            clock.flush()
            start, end = clock.event(), clock.event()
            start.record()
            fn(x)
            end.record()
            pairs.append((start, end))
        clock.synchronize()
        times.extend(start.elapsed_time(end) / 1e3 for start, end in pairs)
    return times[:max_calls]


def capture_cuda_graph(fn: Callable[[torch.Tensor], object],
                       x: torch.Tensor) -> Callable[[torch.Tensor], object]:
    """A function that replays ``fn(x)`` as a captured CUDA graph (always on this same ``x``).

    Why: graph replay launches all of the call's kernels with one CPU call, so the time left is
    the kernels' own; the difference from ordinary calls is the launch overhead.
    """
    if x.device.type != "cuda":
        raise ValueError(f"CUDA graphs need a CUDA tensor, got one on {x.device}")
    side = torch.cuda.Stream(device=x.device)
    side.wait_stream(torch.cuda.current_stream(x.device))
    with torch.cuda.stream(side):  # warm up on a side stream, as capture requires
        for _ in range(3):
            fn(x)
    torch.cuda.current_stream(x.device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn(x)

    def replay(_: torch.Tensor) -> None:
        graph.replay()

    return replay
