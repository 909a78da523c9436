"""A GPU and its host on one scripted timeline, for testing the GPU timer on a CPU.

The host and the device each have a clock. Every host action (a flush, an event record, a call's
Python and dispatcher work, a sleep's launch) advances the host clock by a scripted cost, then
queues work on the device, which starts it when both the work has been queued and the device
has finished what was queued before: a device that finishes early waits for the host, exactly
the idle time that per-call events count when a host is slow. Events are stamped when the device
reaches them. With ``annotate`` the device also writes what ``torch.profiler`` would: host
ranges and operators (``device_type`` CPU) and device kernels linked to their operators.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass

import torch

CPU, CUDA = torch.autograd.DeviceType.CPU, torch.autograd.DeviceType.CUDA


@dataclass
class Range:
    start: float  # microseconds, as the profiler's time_range
    end: float


@dataclass
class FakeEvent:
    """The attributes of ``torch.autograd.profiler_util.FunctionEvent`` that the referee reads."""

    name: str
    device_type: object
    id: int
    linked_correlation_id: int
    thread: int
    time_range: Range


class SimulatedDevice:
    """See the module docstring. Times in seconds.

    Args:
        kernel_s: device time of each call's kernel, cycled.
        host_call_s: host time of each call before its kernel is queued.
        flush_s: device time of a flush (0 and ``flushes=False``: a warm cache).
        host_first_call_s: extra host time of the first call after a synchronisation (a host
            thread waking up), which makes the first sample of a block slow when nothing hides
            it.
        clock_mhz: what :meth:`sm_clock_mhz` reports.
    """

    def __init__(self, kernel_s=(7e-6,), host_call_s=26e-6, flush_s=25e-6, *, flushes=True,
                 host_flush_s=5e-6, host_event_s=1e-6, host_first_call_s=0.0,
                 clock_mhz=1980.0):
        self.kernel_s = itertools.cycle(kernel_s)
        self.host_call_s, self.flush_s, self.flushes = host_call_s, flush_s, flushes
        self.host_flush_s, self.host_event_s = host_flush_s, host_event_s
        self.host_first_call_s, self.clock_mhz = host_first_call_s, clock_mhz
        self.host = self.device_free = 0.0
        self.log: list[str] = []
        self.events: list[FakeEvent] = []
        self.ids = itertools.count(1)
        self.after_sync = True

    def _queue(self, seconds: float) -> tuple[float, float]:
        start = max(self.device_free, self.host)
        self.device_free = start + seconds
        return start, self.device_free

    def _profile(self, name, device_type, linked, start, end):
        event_id = next(self.ids)
        self.events.append(FakeEvent(name, device_type, event_id, linked, 1,
                                     Range(start * 1e6, end * 1e6)))
        return event_id

    class _Event:
        def __init__(self, device):
            self.device, self.at = device, None

        def record(self):
            device = self.device
            device.log.append("record")
            device.host += device.host_event_s
            self.at = max(device.device_free, device.host)  # stamped when the device gets here
            device.device_free = self.at

        def elapsed_time(self, end):
            return (end.at - self.at) * 1e3  # milliseconds, as CUDA reports

    def event(self):
        self.log.append("event")
        return self._Event(self)

    def synchronize(self):
        self.log.append("sync")
        self.host = max(self.host, self.device_free)
        self.after_sync = True

    def flush(self):
        self.log.append("flush")
        self.host += self.host_flush_s / 2
        if self.flushes:
            launched = self.host
            start, end = self._queue(self.flush_s)
            operator = self._profile("aten::zero_", CPU, 0, launched, launched)
            self._profile("fill_kernel", CUDA, operator, start, end)
        self.host += self.host_flush_s / 2

    def sleep(self, seconds):
        self.log.append("sleep")
        self.host += 1e-6
        start, end = self._queue(seconds)
        self._profile("sleep_kernel", CUDA, 0, start, end)  # launched by no operator

    def host_seconds(self):
        return self.host

    def sm_clock_mhz(self):
        return self.clock_mhz

    @contextlib.contextmanager
    def annotate(self, name):
        start = self.host
        yield
        self._profile(name, CPU, 0, start, self.host)

    def busy_host(self, seconds):
        """A host busy-wait (criterion A1): host time passes, nothing is queued."""
        self.host += seconds

    def call(self, x):
        """The timed call: host work, then its kernel queued."""
        self.log.append("call")
        self.host += self.host_call_s + (self.host_first_call_s if self.after_sync else 0.0)
        self.after_sync = False
        launched = self.host
        start, end = self._queue(next(self.kernel_s))
        operator = self._profile("aten::convolution", CPU, 0, launched, launched)
        self._profile("conv_kernel", CUDA, operator, start, end)

    @contextlib.contextmanager
    def profiler(self):
        """A stand-in for ``torch.profiler.profile``: ``events()`` are those since entering."""
        first = len(self.events)

        class Profiled:
            def events(inner):
                return self.events[first:]

        yield Profiled()
