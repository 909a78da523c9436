"""The referee of the GPU timer: each call's kernel durations as CUPTI records them.

Why a different clock: a referee that also brackets calls with CUDA events (Triton's
``do_bench``, a loop of per-call events) shares the events' weakness, the GPU idling between an
event and the kernel while the host catches up, so it cannot catch it. CUPTI, read through
``torch.profiler`` (``ProfilerActivity.CUDA``), records when each *kernel* started and ended on
the device, whatever the queue did around it; nvbench's ``measure_cupti`` uses it for the same
reason. The sum of a call's kernel durations is the device time the call cost; idle time between
its kernels is not in it.

How kernels are tied to calls: the timed loop (:func:`onebyone.perf.gpu_timing.time_with_events`
with ``annotate=True``) wraps each flush and each call in a profiler range named
``onebyone.flush.<i>`` / ``onebyone.call.<i>``. The profiler links every device event to the
host operator that launched it (its ``linked_correlation_id`` is that operator's ``id``); the
operator started inside one of the ranges, which names the call. Where that link is missing,
the device-side copy of the range (the profiler's ``gpu_user_annotation``, same name) that
contains the kernel's start decides. The functions below are pure functions of those events, so
they are tested with fake ones on a CPU. Times in seconds.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from onebyone import validation
from onebyone.perf.gpu_timing import CALL_MARK, FLUSH_MARK, Device, time_with_events


@dataclass(frozen=True)
class KernelSpan:
    """One device event (a kernel or a memset) of the profiled loop.

    Attributes:
        kind: ``"call"`` (part of a timed call) or ``"flush"`` (the L2 flush before it).
        index: the call's index in the loop.
        name: the kernel's name.
        start_s, end_s: when it started and ended on the device, seconds (profiler's origin).
    """

    kind: str
    index: int
    name: str
    start_s: float
    end_s: float


def _mark(name: str) -> tuple[str, int] | None:
    for kind, prefix in (("call", CALL_MARK), ("flush", FLUSH_MARK)):
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            return kind, int(name[len(prefix):])
    return None


def _is_cpu(event: object) -> bool:
    return getattr(event, "device_type", None) == torch.autograd.DeviceType.CPU


def spans_from_events(events: Iterable[object]) -> list[KernelSpan]:
    """The device events of a profiled loop, each tied to its call or flush, in start order.

    Args:
        events: ``torch.profiler.profile(...).events()``, or objects with the same attributes
            (``name``, ``device_type``, ``id``, ``linked_correlation_id``, ``thread``,
            ``time_range.start`` / ``.end`` in microseconds).

    Device events that belong to no range (the sleep before each block, the events' own
    records) are left out.
    """
    events = list(events)
    host_ranges: dict[int, list[tuple[float, float, tuple[str, int]]]] = defaultdict(list)
    device_ranges: list[tuple[float, float, tuple[str, int]]] = []
    host_ops: dict[int, object] = {}
    kernels = []
    for event in events:
        mark = _mark(str(event.name))
        start, end = event.time_range.start, event.time_range.end
        if mark is not None:
            (host_ranges[event.thread] if _is_cpu(event) else device_ranges).append(
                (start, end, mark))
        elif _is_cpu(event):
            if not getattr(event, "linked_correlation_id", 0):
                host_ops.setdefault(event.id, event)
        else:
            kernels.append(event)
    for ranges in host_ranges.values():
        ranges.sort()
    starts = {thread: [start for start, _, _ in ranges] for thread, ranges in host_ranges.items()}
    spans = []
    for kernel in kernels:
        mark = None
        launcher = host_ops.get(getattr(kernel, "linked_correlation_id", 0))
        if launcher is not None and launcher.thread in host_ranges:
            ranges = host_ranges[launcher.thread]
            at = bisect.bisect_right(starts[launcher.thread], launcher.time_range.start) - 1
            if at >= 0 and launcher.time_range.start <= ranges[at][1]:
                mark = ranges[at][2]
        if mark is None:
            mark = next((found for start, end, found in device_ranges
                         if start <= kernel.time_range.start <= end), None)
        if mark is not None:
            spans.append(KernelSpan(mark[0], mark[1], str(kernel.name),
                                    kernel.time_range.start / 1e6, kernel.time_range.end / 1e6))
    return sorted(spans, key=lambda span: (span.start_s, span.index))


def call_seconds(spans: Iterable[KernelSpan]) -> dict[int, float]:
    """Each call's device time: the sum of its kernels' durations, seconds, by call index."""
    totals: dict[int, float] = defaultdict(float)
    for span in spans:
        if span.kind == "call":
            totals[span.index] += span.end_s - span.start_s
    return dict(sorted(totals.items()))


def flush_gaps(spans: Iterable[KernelSpan]) -> dict[int, float]:
    """Seconds from the end of each call's flush to the start of its first kernel, by call.

    A gap near zero means the kernel was queued and waiting when the flush ended: the GPU never
    idled there. Calls without a flush kernel (a warm cache) have no gap.
    """
    flush_end: dict[int, float] = {}
    call_start: dict[int, float] = {}
    for span in spans:
        if span.kind == "flush":
            flush_end[span.index] = max(flush_end.get(span.index, span.end_s), span.end_s)
        else:
            call_start[span.index] = min(call_start.get(span.index, span.start_s), span.start_s)
    return {index: call_start[index] - flush_end[index]
            for index in sorted(call_start) if index in flush_end}


@dataclass(frozen=True)
class ProfiledCalls:
    """The timed loop run under the profiler: what the events said and what CUPTI said.

    Attributes:
        event_s: seconds per call between its two CUDA events, by call index.
        kernel_s: seconds per call summed over its kernels (CUPTI), by call index.
        gaps_s: seconds from each flush's end to its call's first kernel, by call index.
        block_sizes: calls per block of the loop.
    """

    event_s: dict[int, float]
    kernel_s: dict[int, float]
    gaps_s: dict[int, float]
    block_sizes: tuple[int, ...]


def profile_calls(
    fn: Callable[[torch.Tensor], object],
    x: torch.Tensor,
    device: Device,
    calls: int = 200,
    *,
    block_calls: int = 10,
    profiler: Callable[[], object] | None = None,
) -> ProfiledCalls:
    """Run ``calls`` calls of the timed loop under the profiler, with a range around each.

    Args:
        fn, x, device: as for :func:`onebyone.perf.gpu_timing.time_with_events`.
        calls: calls profiled (``min_calls = max_calls = calls``).
        block_calls: calls per block.
        profiler: makes the profiler context (default: ``torch.profiler.profile`` of the CPU and
            CUDA activities); its value must have ``events()``. Tests pass a fake one.
    """
    calls, block_calls = validation.check_positive_integers(calls=calls,
                                                            block_calls=block_calls)
    if profiler is None:
        from torch.profiler import ProfilerActivity, profile

        def profiler() -> object:
            return profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA])
    with profiler() as profiled:
        timed = time_with_events(fn, x, device, 1e-9, min_calls=calls, max_calls=calls,
                                 block_calls=block_calls, annotate=True)
    spans = spans_from_events(profiled.events())
    return ProfiledCalls(
        event_s=dict(enumerate(timed.times_s)),
        kernel_s=call_seconds(spans),
        gaps_s=flush_gaps(spans),
        block_sizes=timed.block_sizes,
    )
