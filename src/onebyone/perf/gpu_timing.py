"""Timing short GPU calls so that the time is the device's, not the host's.

Why a plain pair of CUDA events per call is not enough: the events are read by the GPU, but
the GPU can only run what the host has already queued. One ``nn.Conv2d`` call costs the host
about 26 us (Python, the dispatcher, cuDNN's heuristics), about as long as the GPU needs for an
L2 flush and a 7 us kernel. When the host is the slower of the two the queue runs dry, the GPU
idles *between the two events*, and the idle time is counted as the call's. On an H200 this
made whole rounds flip between a fast and a slow state, and the first call after each
synchronisation took about twice as long as the others. So this timer:

- **allocates every CUDA event before timing** (creating events is host work too), and reuses
  them block after block;
- **queues each block of K calls behind a GPU sleep** (``torch.cuda._sleep``): while the GPU
  sleeps the host enqueues the whole block, so by the time the GPU reaches the first call all K
  are waiting and it never idles inside a timed interval. The rule (nvbench's "blocking
  kernel" does the same job): first time the host's enqueue cost per call, ``h`` (the median of
  :data:`PROBE_CALLS` calls enqueued with their flush and events, nothing waited for); then
  sleep ``max(MIN_SLEEP_S, SLEEP_MARGIN * K * h)``. The host needs at most about ``K h`` to
  enqueue the block, so the sleep covers it with a margin of 50 %. Each block's real enqueue
  time is measured too; when one exceeds the sleep, the sleep of later blocks grows to
  ``SLEEP_MARGIN`` times it, and the block is counted in ``uncovered_blocks``;
- **never synchronises inside a block**: only after its last call, to read the events;
- **states the cache**: with ``flush_l2`` every call is preceded, outside its events, by a write
  of twice the L2's size (a cold L2, as a layer meets it inside a network); without it the
  result is labelled warm (``EventTimes.flushed``);
- **records the SM clock of every block** where NVML can be read (``pynvml``; ``None`` where it
  is absent), since a GPU's running clock, not its maximum, sets the speed.

An independent referee for this timer is the kernels' own durations from CUPTI
(:mod:`onebyone.perf.gpu_referee`), and :mod:`onebyone.perf.timer_checks` holds the acceptance
criteria that compare the two.

The device is a small interface (:class:`Device`) so that the loop is tested on a CPU with a
scripted device (fake events, fake sleep, a simulated queue), and runs with :class:`CudaDevice`
on a GPU. Times in seconds unless a name says otherwise.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

import torch

from onebyone import validation

SLEEP_MARGIN = 1.5
"""The GPU sleeps this many times the host's estimated enqueue time of a block."""

MIN_SLEEP_S = 20e-6
"""The shortest sleep queued before a block (seconds): even a fast host needs a head start."""

PROBE_CALLS = 5
"""Calls enqueued, and not timed, to estimate the host's enqueue time per call."""

CALL_MARK = "onebyone.call."
FLUSH_MARK = "onebyone.flush."
"""Prefixes of the profiler ranges around each call and each flush (then the call's index)."""


class Event(Protocol):
    """A point in a stream: ``record()`` it, then ask another event for the time between."""

    def record(self) -> None: ...

    def elapsed_time(self, end: Event) -> float:
        """Milliseconds from this event to ``end`` (CUDA's unit)."""


class Device(Protocol):
    """What :func:`time_with_events` needs from a GPU.

    Attributes:
        flushes: whether :meth:`flush` makes the L2 cold (``False``: it does nothing).
    """

    flushes: bool

    def event(self) -> Event: ...

    def synchronize(self) -> None: ...

    def flush(self) -> None:
        """Queue a write that evicts the L2 cache (or nothing, when ``flushes`` is false)."""

    def sleep(self, seconds: float) -> None:
        """Queue a GPU busy-wait of at least ``seconds``; return to the host at once."""

    def host_seconds(self) -> float:
        """The host's clock, seconds (``time.perf_counter``)."""

    def sm_clock_mhz(self) -> float | None:
        """The SM clock now, MHz, or ``None`` where it cannot be read."""

    def annotate(self, name: str) -> AbstractContextManager[object]:
        """A profiler range named ``name`` around what is queued inside it."""


EventClock = Device
"""The former name of :class:`Device`."""


class CudaDevice:
    """A CUDA device as :func:`time_with_events` uses it.

    Args:
        device: a CUDA device.
        flush_l2: overwrite a buffer of ``2 x L2`` bytes before every timed call.

    The sleep converts seconds into GPU cycles at a rate calibrated once here (a sleep of
    :data:`CALIBRATION_CYCLES` cycles timed by events) and never below the device's maximum
    clock where PyTorch reports it, so that a boost after calibration lengthens the sleep rather
    than shortening it below what was asked.
    """

    CALIBRATION_CYCLES = 2_000_000

    def __init__(self, device: torch.device, flush_l2: bool = True) -> None:
        if device.type != "cuda":
            raise ValueError(f"CUDA events need a CUDA device, got {device}")
        self.device = device
        self.flushes = bool(flush_l2)
        l2_bytes = torch.cuda.get_device_properties(device).L2_cache_size
        self.buffer = (torch.empty(2 * l2_bytes, dtype=torch.uint8, device=device)
                       if flush_l2 else None)
        self.cycles_per_s = self._calibrate()

    def _calibrate(self) -> float:
        with torch.cuda.device(self.device):
            start, end = self.event(), self.event()
            torch.cuda._sleep(1000)  # load the kernel before timing it
            start.record()
            torch.cuda._sleep(self.CALIBRATION_CYCLES)
            end.record()
            torch.cuda.synchronize(self.device)
            measured = self.CALIBRATION_CYCLES / (start.elapsed_time(end) / 1e3)
        from onebyone.perf.machine import gpu_clock_mhz

        maximum = gpu_clock_mhz(self.device)
        return max(measured, maximum * 1e6) if maximum else measured

    def event(self) -> torch.cuda.Event:
        return torch.cuda.Event(enable_timing=True)

    def synchronize(self) -> None:
        torch.cuda.synchronize(self.device)

    def flush(self) -> None:
        if self.buffer is not None:
            self.buffer.zero_()

    def sleep(self, seconds: float) -> None:
        with torch.cuda.device(self.device):
            torch.cuda._sleep(max(1, round(seconds * self.cycles_per_s)))

    def host_seconds(self) -> float:
        return time.perf_counter()

    def sm_clock_mhz(self) -> float | None:
        return nvml_sm_clock_mhz(self.device)

    def annotate(self, name: str) -> AbstractContextManager[object]:
        return torch.profiler.record_function(name)


CudaEventClock = CudaDevice
"""The former name of :class:`CudaDevice`."""


def nvml_sm_clock_mhz(device: torch.device) -> float | None:
    """The SM clock of ``device`` now (MHz) through NVML, or ``None`` without ``pynvml``.

    ``torch.cuda.clock_rate`` maps PyTorch's device index to NVML's and needs ``pynvml``; it is
    never installed for this. NVML reports its own error types, hence the broad ``except``.
    """
    try:
        return float(torch.cuda.clock_rate(device))
    except Exception:
        return None


@dataclass(frozen=True)
class EventTimes:
    """What :func:`time_with_events` measured, and how.

    Attributes:
        times_s: seconds per call, every call in order, each between its two events.
        block_sizes: calls per block (a synchronisation after each block, none inside).
        sleep_s: GPU sleep queued before each block, seconds (the last one used).
        enqueue_s: the host's estimated enqueue time per call, seconds (the probe's median).
        block_enqueue_s: the host's measured time to enqueue each block, seconds.
        uncovered_blocks: blocks whose enqueue took longer than the sleep before them.
        sm_clock_mhz: the SM clock during each block, MHz (``None`` where unknown).
        flushed: whether the L2 was flushed before every call (``False``: a warm cache).
    """

    times_s: tuple[float, ...]
    block_sizes: tuple[int, ...]
    sleep_s: float
    enqueue_s: float
    block_enqueue_s: tuple[float, ...]
    uncovered_blocks: int
    sm_clock_mhz: tuple[float | None, ...]
    flushed: bool

    @property
    def blocks(self) -> tuple[tuple[float, ...], ...]:
        """``times_s`` split into its blocks."""
        starts = [sum(self.block_sizes[:index]) for index in range(len(self.block_sizes))]
        return tuple(self.times_s[start:start + size]
                     for start, size in zip(starts, self.block_sizes, strict=True))

    @property
    def median_sm_clock_mhz(self) -> float | None:
        """The median of the known per-block SM clocks, MHz (``None`` when none is known)."""
        known = [clock for clock in self.sm_clock_mhz if clock is not None]
        return statistics.median(known) if known else None


def _one_call(fn: Callable[[torch.Tensor], object], x: torch.Tensor, device: Device,
              pair: tuple[Event, Event], index: int | None) -> None:
    """Flush, then ``fn(x)`` between two events; in profiler ranges when ``index`` is given."""
    flush_range = (device.annotate(f"{FLUSH_MARK}{index}") if index is not None
                   else contextlib.nullcontext())
    call_range = (device.annotate(f"{CALL_MARK}{index}") if index is not None
                  else contextlib.nullcontext())
    with flush_range:
        device.flush()
    start, end = pair
    with call_range:
        start.record()
        fn(x)
        end.record()


def estimate_enqueue_seconds(fn: Callable[[torch.Tensor], object], x: torch.Tensor,
                             device: Device, pair: tuple[Event, Event],
                             calls: int = PROBE_CALLS) -> float:
    """The host's time to enqueue one call with its flush and events (median of ``calls``).

    Nothing is waited for between the calls, as in a timed block; the device is synchronised
    before and after, so the probe leaves an empty queue behind.
    """
    calls = validation.positive_integer("calls", calls)
    device.synchronize()
    costs = []
    for _ in range(calls):
        begin = device.host_seconds()
        _one_call(fn, x, device, pair, None)
        costs.append(device.host_seconds() - begin)
    device.synchronize()
    return statistics.median(costs)


def sleep_seconds(enqueue_s: float, block_calls: int, margin: float = SLEEP_MARGIN) -> float:
    """The sleep queued before a block of ``block_calls`` calls: ``max(MIN_SLEEP_S, margin *
    block_calls * enqueue_s)`` seconds; ``margin`` 0 turns the sleep off (for comparison)."""
    if margin == 0:
        return 0.0
    return max(MIN_SLEEP_S, margin * block_calls * enqueue_s)


def time_with_events(
    fn: Callable[[torch.Tensor], object],
    x: torch.Tensor,
    device: Device,
    min_run_time: float,
    *,
    min_calls: int = 10,
    max_calls: int = 100_000,
    block_calls: int = 10,
    sleep_margin: float = SLEEP_MARGIN,
    annotate: bool = False,
) -> EventTimes:
    """Per-call times (seconds) of ``fn(x)``, each between two events, in blocks behind a sleep.

    Blocks of ``block_calls`` calls (each: a flush, an event, the call, an event) are queued
    behind a GPU sleep sized by the rule of this module's docstring, with no synchronisation
    inside a block, until ``min_run_time`` seconds of calls (and ``min_calls`` calls) are timed,
    or ``max_calls`` calls. The flush lies outside the events, so it is never timed. The
    ``2 x block_calls`` events are created before anything is timed and reused.

    Args:
        fn, x: the call to time, ``fn(x)``.
        device: see :class:`Device`.
        min_run_time: seconds of timed calls to collect, at least.
        min_calls, max_calls: bounds on the number of timed calls.
        block_calls: calls per block (``K``).
        sleep_margin: the sleep's margin over the host's enqueue time; 0 turns the sleep off
            (only to show what it changes).
        annotate: put each flush and each call in a profiler range named
            ``onebyone.flush.<i>`` / ``onebyone.call.<i>`` (see :mod:`onebyone.perf.gpu_referee`).
    """
    min_run_time = validation.positive_number("min_run_time", min_run_time)
    min_calls, max_calls, block_calls = validation.check_positive_integers(
        min_calls=min_calls, max_calls=max_calls, block_calls=block_calls)
    sleep_margin = validation.real_number("sleep_margin", sleep_margin)
    if sleep_margin < 0 or 0 < sleep_margin < 1:
        raise ValueError(f"sleep_margin must be 0 (no sleep) or at least 1, got {sleep_margin}")
    if max_calls < min_calls:
        raise ValueError(f"need min_calls <= max_calls, got {min_calls} > {max_calls}")
    pairs = [(device.event(), device.event()) for _ in range(block_calls)]
    enqueue = estimate_enqueue_seconds(fn, x, device, pairs[0])
    sleep = sleep_seconds(enqueue, block_calls, sleep_margin)
    times: list[float] = []
    sizes, block_enqueue, clocks = [], [], []
    uncovered = 0
    while len(times) < max_calls and (len(times) < min_calls or sum(times) < min_run_time):
        size = min(block_calls, max_calls - len(times))
        begin = device.host_seconds()
        if sleep > 0:
            device.sleep(sleep)
        for offset, pair in enumerate(pairs[:size]):
            _one_call(fn, x, device, pair, len(times) + offset if annotate else None)
        enqueued = device.host_seconds() - begin
        clocks.append(device.sm_clock_mhz())  # while the block runs
        device.synchronize()
        times.extend(start.elapsed_time(end) / 1e3 for start, end in pairs[:size])
        sizes.append(size)
        block_enqueue.append(enqueued)
        if sleep > 0 and enqueued > sleep:
            uncovered += 1
            sleep = sleep_margin * enqueued
    return EventTimes(
        times_s=tuple(times), block_sizes=tuple(sizes), sleep_s=sleep, enqueue_s=enqueue,
        block_enqueue_s=tuple(block_enqueue), uncovered_blocks=uncovered,
        sm_clock_mhz=tuple(clocks), flushed=bool(device.flushes))


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
