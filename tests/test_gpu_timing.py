"""Tests of the GPU timer and its CUPTI referee on a simulated GPU (tests/gpu_fakes.py)."""

from __future__ import annotations

import statistics

import pytest
import torch
from gpu_fakes import CPU, CUDA, FakeEvent, Range, SimulatedDevice

from onebyone.perf import timer_checks
from onebyone.perf.gpu_referee import (
    KernelSpan,
    call_seconds,
    flush_gaps,
    profile_calls,
    spans_from_events,
)
from onebyone.perf.gpu_timing import (
    MIN_SLEEP_S,
    SLEEP_MARGIN,
    sleep_seconds,
    time_with_events,
)

X = torch.zeros(1)


def timed(device, **options):
    options = {"min_run_time": 1e-3, "min_calls": 50, "max_calls": 200, **options}
    return time_with_events(device.call, X, device, options.pop("min_run_time"), **options)


def test_a_host_slower_than_the_gpu_is_not_timed_once_the_sleep_covers_its_enqueue():
    # the H200's case: 26 us of host per call, 25 us of flush and a 7 us kernel on the GPU;
    # here the host is slower still (50 us), so without the sleep the GPU idles inside the events
    without = timed(SimulatedDevice(host_call_s=50e-6), sleep_margin=0)
    with_sleep = timed(SimulatedDevice(host_call_s=50e-6))
    assert statistics.median(without.times_s) > 4 * 7e-6  # the host's time, counted
    assert with_sleep.times_s == pytest.approx([7e-6] * len(with_sleep.times_s), abs=1e-12)
    assert with_sleep.uncovered_blocks == 0 and without.sleep_s == 0


def test_a_host_busy_wait_before_each_launch_does_not_move_the_median():  # criterion A1
    plain_device, busy_device = SimulatedDevice(), SimulatedDevice()

    def busy(x):
        busy_device.busy_host(50e-6)
        busy_device.call(x)

    plain = timed(plain_device)
    waited = time_with_events(busy, X, busy_device, 1e-3, min_calls=50, max_calls=200)
    assert timer_checks.host_independence(plain.times_s, waited.times_s).passed
    assert waited.sleep_s > plain.sleep_s  # the probe saw the slower host and slept longer
    unslept = timed(SimulatedDevice(host_call_s=76e-6), sleep_margin=0)
    assert not timer_checks.host_independence(plain.times_s, unslept.times_s).passed


def test_every_event_is_created_before_anything_is_timed():
    device = SimulatedDevice()
    result = timed(device, block_calls=10)
    first_call = device.log.index("call")
    assert device.log.count("event") == 20 == device.log[:first_call].count("event")
    assert sum(result.block_sizes) == len(result.times_s) >= 50


def test_no_synchronisation_inside_a_block_and_a_sleep_before_each():
    device = SimulatedDevice()
    result = timed(device, block_calls=8, max_calls=44, min_calls=44)
    assert result.block_sizes == (8, 8, 8, 8, 8, 4)
    timed_log = device.log[device.log.index("sleep"):]
    blocks = "".join({"sleep": "S", "call": "c", "sync": "|"}.get(entry, "")
                     for entry in timed_log).split("|")[:-1]
    assert blocks == ["S" + "c" * size for size in result.block_sizes]


def test_the_sleep_is_sized_from_the_hosts_enqueue_time():
    device = SimulatedDevice(host_call_s=26e-6)
    result = timed(device, block_calls=10)
    per_call = 5e-6 + 1e-6 + 26e-6 + 1e-6  # flush, event, call, event on the host
    assert result.enqueue_s == pytest.approx(per_call)
    assert result.sleep_s == pytest.approx(SLEEP_MARGIN * 10 * per_call)
    assert all(enqueued <= result.sleep_s for enqueued in result.block_enqueue_s)
    assert sleep_seconds(1e-9, 10) == MIN_SLEEP_S and sleep_seconds(1e-3, 10, 0) == 0


def test_a_block_the_sleep_did_not_cover_is_counted_and_the_sleep_grows():
    device = SimulatedDevice(host_call_s=20e-6, host_first_call_s=2e-3)  # a slow first launch
    result = timed(device, block_calls=10)
    assert result.uncovered_blocks == 1  # the probe missed it; one block later it is covered
    assert result.sleep_s == pytest.approx(SLEEP_MARGIN * result.block_enqueue_s[0])


def test_the_first_sample_after_a_sync_is_biased_without_the_sleep_and_not_with_it():
    # steady host 20 us per call (faster than the GPU's 32 us), but 40 us more after a sync:
    # only each block's first call meets an empty queue
    biased = timed(SimulatedDevice(host_call_s=20e-6, host_first_call_s=40e-6), sleep_margin=0)
    fixed = timed(SimulatedDevice(host_call_s=20e-6, host_first_call_s=40e-6))
    assert timer_checks.first_sample_ratio(biased.blocks) > 2
    assert not timer_checks.no_first_sample_bias(biased.blocks).passed
    assert timer_checks.no_first_sample_bias(fixed.blocks).passed


def test_the_flush_state_and_the_clock_of_every_block_are_recorded():
    cold = timed(SimulatedDevice(), block_calls=10)
    warm_device = SimulatedDevice(flushes=False, clock_mhz=None)
    warm = timed(warm_device, block_calls=10)
    assert cold.flushed and not warm.flushed
    assert cold.sm_clock_mhz == (1980.0,) * len(cold.block_sizes)
    assert cold.median_sm_clock_mhz == 1980.0 and warm.median_sm_clock_mhz is None
    assert not any(event.name == "fill_kernel" for event in warm_device.events)


@pytest.mark.parametrize("options, error, match", [
    ({"min_run_time": 0}, ValueError, "min_run_time must be positive"),
    ({"block_calls": 0}, ValueError, "block_calls must be a positive integer"),
    ({"sleep_margin": 0.5}, ValueError, "sleep_margin must be 0 .no sleep. or at least 1"),
    ({"sleep_margin": "1"}, TypeError, "sleep_margin must be a real number"),
    ({"min_calls": 5, "max_calls": 4}, ValueError, "need min_calls <= max_calls"),
])
def test_bad_settings_are_refused(options, error, match):
    with pytest.raises(error, match=match):
        timed(SimulatedDevice(), **options)


def test_the_referee_reads_each_calls_kernels_and_the_gap_after_its_flush():
    device = SimulatedDevice(kernel_s=(7e-6, 9e-6))
    profiled = profile_calls(device.call, X, device, calls=30, block_calls=10,
                             profiler=device.profiler)
    assert sorted(profiled.kernel_s) == list(range(30)) == sorted(profiled.event_s)
    assert {round(seconds * 1e9) for seconds in profiled.kernel_s.values()} == {7000, 9000}
    assert profiled.event_s == pytest.approx(profiled.kernel_s, abs=1e-12)
    assert timer_checks.referee_agreement(list(profiled.event_s.values()),
                                          list(profiled.kernel_s.values())).passed
    assert timer_checks.queue_stays_full(list(profiled.gaps_s.values())).passed
    assert profiled.block_sizes == (10, 10, 10)


def test_without_a_sleep_the_referee_sees_the_idle_gaps_and_disagrees():
    device = SimulatedDevice(host_call_s=50e-6)
    spans = []

    def run():
        with device.profiler() as profiled:
            result = time_with_events(device.call, X, device, 1e-9, min_calls=20, max_calls=20,
                                      sleep_margin=0, annotate=True)
        spans.extend(spans_from_events(profiled.events()))
        return result

    events = run().times_s
    kernels = list(call_seconds(spans).values())
    assert kernels == pytest.approx([7e-6] * 20)
    assert not timer_checks.referee_agreement(events, kernels).passed
    assert not timer_checks.queue_stays_full(list(flush_gaps(spans).values())).passed


def event(name, device_type, event_id, linked, start_us, end_us, thread=1):
    return FakeEvent(name, device_type, event_id, linked, thread, Range(start_us, end_us))


def test_kernels_are_tied_to_the_range_whose_operator_launched_them():
    events = [
        event("onebyone.flush.0", CPU, 1, 0, 0.0, 5.0),
        event("aten::zero_", CPU, 2, 0, 1.0, 2.0),
        event("onebyone.call.0", CPU, 3, 0, 5.0, 40.0),
        event("aten::conv2d", CPU, 4, 0, 6.0, 30.0),
        event("cudaLaunchKernel", CPU, 90, 4, 20.0, 21.0),  # a runtime call: not an operator
        event("fill", CUDA, 91, 2, 100.0, 125.0),
        event("gemm", CUDA, 92, 4, 125.5, 130.5),
        event("bias", CUDA, 93, 4, 131.0, 132.0),
        event("sleep", CUDA, 94, 0, 0.0, 99.0),  # launched by no operator, in no range
        event("onebyone.call.0", CUDA, 95, 0, 125.5, 132.0),  # the range's device-side copy
        event("orphan", CUDA, 96, 77, 126.0, 127.0),  # no operator 77: the device range decides
    ]
    spans = spans_from_events(events)
    assert [(span.kind, span.index, span.name) for span in spans] == [
        ("flush", 0, "fill"), ("call", 0, "gemm"), ("call", 0, "orphan"), ("call", 0, "bias")]
    assert call_seconds(spans) == {0: pytest.approx(7e-6)}  # 5 + 1 + 1 us, the gaps left out
    assert flush_gaps(spans) == {0: pytest.approx(0.5e-6)}


def test_a_call_without_a_flush_has_no_gap():
    spans = [KernelSpan("call", 0, "k", 1.0, 2.0), KernelSpan("flush", 1, "f", 2.0, 3.0),
             KernelSpan("call", 1, "k", 3.5, 4.0)]
    assert flush_gaps(spans) == {1: 0.5} and call_seconds(spans) == {0: 1.0, 1: 0.5}
