"""Tests of the timing harness.

The statistics are checked exactly with a fake clock, as PyTorch tests its own ``Timer``: the
timed function advances the clock by scripted amounts, so the true per-call times are known and
the harness's median and IQR can be compared with NumPy's, computed independently from the
clock's own log. Real-clock tests only check types and sanity.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import re
from dataclasses import replace
from typing import ClassVar

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from onebyone.perf.gpu_timing import time_with_events
from onebyone.perf.machine import cpu_model
from onebyone.perf.precision import tf32_allowed, tf32_is_allowed
from onebyone.perf.timing import (
    NOISE_THRESHOLD,
    Timing,
    _version_or_blank,
    describe_device,
    format_rounds,
    make_input,
    memory_format_name,
    merge_timings,
    parse_rounds,
    time_callable,
)


class FakeClock:
    """A clock that only moves when the timed function runs, by scripted costs (seconds).

    It logs every read with the number of calls made so far, so a test can rebuild each
    timed block (two consecutive reads) and the calls inside it.
    """

    def __init__(self, costs):
        self.costs = itertools.cycle(costs)
        self.now = 0.0
        self.calls = 0
        self.reads: list[tuple[float, int]] = []
        self.inputs: list[torch.Tensor] = []

    def read(self) -> float:
        self.reads.append((self.now, self.calls))
        return self.now

    def work(self, x: torch.Tensor) -> None:
        self.inputs.append(x)
        self.calls += 1
        self.now += next(self.costs)

    def last_blocks(self, count: int) -> list[tuple[float, int]]:
        """(duration in seconds, calls) of the last ``count`` timed blocks."""
        pairs = list(zip(self.reads[0::2], self.reads[1::2], strict=False))[-count:]
        return [
            (end - start, end_calls - start_calls)
            for (start, start_calls), (end, end_calls) in pairs
        ]


def fake_timing(costs, **options) -> tuple[Timing, FakeClock]:
    clock = FakeClock(costs)
    options.setdefault("min_run_time", 0.5)
    timing = time_callable(clock.work, (2, 3), timer=clock.read, **options)
    return timing, clock


def test_constant_cost_gives_that_cost_and_no_spread():
    timing, _ = fake_timing([2e-3])
    assert timing.median_s == pytest.approx(2e-3, rel=1e-9)
    assert timing.iqr_s == pytest.approx(0.0, abs=1e-12)
    assert timing.runs * 2e-3 >= 0.5  # at least min_run_time of timed calls


@settings(max_examples=15, deadline=None)
@given(
    costs=st.lists(st.floats(min_value=1e-3, max_value=5e-2), min_size=1, max_size=7),
    min_run_time=st.floats(min_value=0.05, max_value=0.5),
)
def test_statistics_match_numpy_on_the_clock_log(costs, min_run_time):
    timing, clock = fake_timing(costs, min_run_time=min_run_time)
    blocks = clock.last_blocks(timing.blocks)
    assert all(calls == timing.calls_per_block for _, calls in blocks)
    per_call = np.array([duration / calls for duration, calls in blocks])
    q25, median, q75 = np.percentile(per_call, [25, 50, 75])
    assert timing.median_s == pytest.approx(median, rel=1e-9)
    assert timing.iqr_s == pytest.approx(q75 - q25, rel=1e-9, abs=1e-15)
    assert timing.runs == timing.blocks * timing.calls_per_block
    assert sum(duration for duration, _ in blocks) >= min_run_time


def test_raw_times_are_the_per_call_times_of_the_blocks():
    timing, clock = fake_timing([1e-3, 3e-3])
    blocks = clock.last_blocks(timing.blocks)
    assert timing.times_s == pytest.approx([duration / calls for duration, calls in blocks])
    assert "times_s" not in timing.as_row()


def test_merged_timings_have_the_statistics_of_all_blocks_together():
    first, _ = fake_timing([1e-3, 2e-3], min_run_time=0.1)
    second, _ = fake_timing([5e-3, 9e-3], min_run_time=0.1)
    merged = merge_timings([first, second])
    pooled = np.array(first.times_s + second.times_s)
    q25, q75 = np.percentile(pooled, [25, 75])  # the spread pools all blocks
    # the time is the geometric mean of the rounds' medians (intervals.row_time), not the
    # pooled median
    time = math.sqrt(np.median(first.times_s) * np.median(second.times_s))
    assert merged.median_s == pytest.approx(time, rel=1e-9)
    assert merged.median_s != pytest.approx(np.median(pooled), rel=1e-3)
    assert merged.iqr_s == pytest.approx(q75 - q25, rel=1e-9)
    assert merged.runs == first.runs + second.runs and merged.blocks == len(pooled)
    assert merge_timings([first]).median_s == pytest.approx(first.median_s, rel=1e-9)


def test_merging_different_things_is_refused():
    small, _ = fake_timing([1e-3])
    clock = FakeClock([1e-3])
    other = time_callable(clock.work, (3, 2), timer=clock.read, min_run_time=0.05)
    with pytest.raises(ValueError, match=r"\['input_shape'\] differ"):
        merge_timings([small, other])
    with pytest.raises(ValueError, match="at least one timing"):
        merge_timings([])


def test_median_ignores_rare_slow_calls_that_drag_the_mean():
    base, slow = 1e-3, 50e-3
    timing, clock = fake_timing([base] * 9 + [slow])
    blocks = clock.last_blocks(timing.blocks)
    mean = sum(duration for duration, _ in blocks) / timing.runs
    assert timing.median_s == pytest.approx(base, rel=1e-9)
    assert mean > 2 * base


def test_warmup_calls_happen_before_the_clock_is_read():
    timing, clock = fake_timing([1e-3], warmup=5)
    _, calls_before_first_read = clock.reads[0]
    assert calls_before_first_read == 5
    assert timing.runs <= clock.calls - 5


def test_input_is_fresh_random_seeded_and_the_same_tensor_every_call():
    _, clock = fake_timing([1e-3], seed=3)
    x = clock.inputs[0]
    assert all(other is x for other in clock.inputs)
    assert torch.equal(x, make_input((2, 3), seed=3))
    assert x.std().item() > 0.1  # not zeros, not a constant


def test_timing_runs_without_autograd():
    clock = FakeClock([1e-3])
    seen = []

    def work(x):
        seen.append(torch.is_grad_enabled())
        clock.work(x)

    time_callable(work, (2,), min_run_time=1e-2, timer=clock.read)
    assert seen and not any(seen)


class RecordingConv(nn.Conv2d):
    """A convolution that records, at every call, the dtype, layout and mode it runs in."""

    seen: ClassVar[list] = []  # a class attribute: copies of the module record here too

    def forward(self, x):
        self.seen.append((self.weight.dtype, self.training,
                          self.weight.is_contiguous(memory_format=torch.channels_last),
                          self.weight.is_contiguous()))
        return super().forward(x)


def test_a_copy_of_a_module_is_timed_in_the_dtype_memory_format_and_eval_mode():
    conv = RecordingConv(3, 4, 3).train()  # a 3x3 weight: channels-last differs from contiguous
    RecordingConv.seen.clear()
    timing = time_callable(conv, (1, 3, 4, 4), dtype=torch.float64,
                           memory_format=torch.channels_last, min_run_time=1e-3)
    assert RecordingConv.seen  # the copy ran
    assert set(RecordingConv.seen) == {(torch.float64, False, True, False)}
    # the caller's module is untouched: dtype, layout and training mode as they were
    assert conv.weight.dtype == torch.float32 and conv.training
    assert conv.weight.is_contiguous()
    assert (timing.dtype, timing.memory_format) == ("float64", "channels_last")


def test_record_names_what_was_measured():
    timing = time_callable(nn.Linear(8, 8), (4, 8), min_run_time=0.01, num_threads=1,
                           label="linear", cudnn_benchmark=True)
    assert isinstance(timing, Timing)
    assert timing.label == "linear" and timing.device == "cpu"
    assert timing.input_shape == (4, 8) and timing.num_threads == 1
    assert timing.torch_version == torch.__version__
    assert timing.cudnn_benchmark is True and torch.backends.cudnn.benchmark is False
    assert timing.conv_fp32_precision in {"ieee", "tf32", "bf16"}  # the setting in force
    assert timing.mkldnn_fp32_precision == "ieee"  # oneDNN on the CPU: true float32
    assert timing.timer == "blocked_autorange" and timing.l2_flush is False
    assert 0 < timing.median_s < 1 and timing.iqr_s >= 0 and timing.runs >= 1
    row = timing.as_row()
    assert row["input_shape"] == "4x8" and row["median_s"] == timing.median_s
    with pytest.raises(AttributeError):
        timing.median_s = 0.0  # frozen


def test_real_clock_orders_small_and_large_work():
    small = time_callable(lambda x: x @ x, (16, 16), min_run_time=0.05, num_threads=1)
    large = time_callable(lambda x: x @ x, (256, 256), min_run_time=0.05, num_threads=1)
    assert large.median_s > small.median_s  # 4096 times the MACs


def test_make_input_draws_on_the_requested_device_with_its_own_generator(monkeypatch):
    # A CPU-only machine cannot draw on a GPU, so the device is checked where it is passed: the
    # generator and the draw are both asked for the requested device (stand-ins record what
    # they were asked and draw on the CPU).
    asked = []
    real_generator, real_randn = torch.Generator, torch.randn

    def generator(device=None):
        made = real_generator()
        asked.append(("generator", device, made))
        return made

    def randn(*args, device=None, generator=None, **options):
        asked.append(("randn", device, generator))
        return real_randn(*args, generator=generator, **options)

    monkeypatch.setattr(torch, "Generator", generator)
    monkeypatch.setattr(torch, "randn", randn)
    x = make_input((2, 3), device="cuda:1", seed=5)
    monkeypatch.undo()
    cuda1 = torch.device("cuda", 1)
    assert [entry[:2] for entry in asked] == [("generator", cuda1), ("randn", cuda1)]
    assert asked[1][2] is asked[0][2]  # drawn from the generator made for it
    assert torch.equal(x, make_input((2, 3), seed=5))  # the same numbers as on the CPU


def test_make_input_formats_and_dtypes():
    x = make_input((2, 3, 4, 5), dtype=torch.bfloat16, memory_format=torch.channels_last, seed=1)
    assert x.dtype == torch.bfloat16 and x.shape == (2, 3, 4, 5)
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    assert torch.equal(x.float(), make_input((2, 3, 4, 5), seed=1).bfloat16().float())
    assert not torch.equal(make_input((64,), seed=1), make_input((64,), seed=2))


def test_names_and_device_description():
    assert memory_format_name(torch.contiguous_format) == "contiguous"
    assert memory_format_name(torch.channels_last) == "channels_last"
    assert isinstance(describe_device("cpu"), str) and describe_device("cpu")


def test_tf32_switch_is_restored():
    before = tf32_is_allowed()
    with tf32_allowed(not before):
        assert tf32_is_allowed() is (not before)
    assert tf32_is_allowed() is before


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"fn": 3}, TypeError, "^fn must be a module or a function, got int$"),
        ({"min_run_time": 0}, ValueError, "min_run_time must be a positive, finite"),
        ({"min_run_time": float("nan")}, ValueError, "min_run_time must be a positive, finite"),
        ({"min_run_time": float("inf")}, ValueError, "min_run_time must be a positive, finite"),
        ({"min_run_time": "1"}, ValueError, "min_run_time must be a positive, finite"),
        ({"cuda_graph": True}, ValueError, "cuda_graph needs a CUDA device"),
        ({"warmup": -1}, ValueError, "warmup must be a non-negative integer"),
        ({"num_threads": 0}, ValueError, "num_threads must be a positive integer"),
        ({"input_shape": (2, 0)}, ValueError, r"shape\[1\] must be a positive integer"),
        ({"memory_format": torch.channels_last}, ValueError, "channels_last needs a 4-D"),
        ({"memory_format": torch.preserve_format}, ValueError, "unsupported memory format"),
    ],
)
def test_bad_arguments_raise_clear_errors(arguments, error, match):
    options = {"fn": lambda x: x, "input_shape": (2, 3), "min_run_time": 1e-3, **arguments}
    with pytest.raises(error, match=match):
        time_callable(options.pop("fn"), options.pop("input_shape"), **options)


class ScriptedEventClock:
    """An event clock for a CPU: each call advances a scripted clock; flushes are logged.

    It records the order of what happens (``flush``, ``record``, ``call``) so a test can check
    that every timed call is preceded by a flush that lies outside its two events.
    """

    def __init__(self, costs, flushes=True):
        self.costs = itertools.cycle(costs)
        self.now = 0.0
        self.log: list[str] = []
        self.flushes = flushes

    class _Event:
        def __init__(self, clock):
            self.clock, self.at = clock, None

        def record(self):
            self.clock.log.append("record")
            self.at = self.clock.now

        def elapsed_time(self, end):
            return (end.at - self.at) * 1e3  # milliseconds, as CUDA events report

    def event(self):
        return self._Event(self)

    def synchronize(self):
        self.log.append("sync")

    def flush(self):
        self.log.append("flush")
        self.now += 1.0  # a flush takes long; it must never be timed

    def sleep(self, seconds):
        self.log.append("sleep")
        self.now += seconds

    def host_seconds(self):
        return self.now

    def sm_clock_mhz(self):
        return 1500.0

    def annotate(self, name):
        return contextlib.nullcontext()

    def work(self, x):
        self.log.append("call")
        self.now += next(self.costs)


def test_event_timing_flushes_before_every_call_and_times_only_the_call():
    clock = ScriptedEventClock([1e-3, 2e-3, 4e-3])
    timing = time_callable(clock.work, (2, 3), event_clock=clock, min_run_time=0.05, warmup=0)
    assert timing.timer == "cuda_events" and timing.l2_flush is True
    assert timing.calls_per_block == 1 and timing.blocks == timing.runs >= 10
    assert sorted({round(t, 9) for t in timing.times_s}) == pytest.approx([1e-3, 2e-3, 4e-3])
    assert timing.median_s == pytest.approx(np.median(timing.times_s))
    calls = [index for index, entry in enumerate(clock.log) if entry == "call"]
    assert all(clock.log[index - 2:index] == ["flush", "record"] for index in calls)
    assert all(clock.log[index + 1] == "record" for index in calls)
    assert sum(timing.times_s) >= 0.05  # ran for min_run_time of timed calls
    assert timing.sleep_s > 0 and timing.sm_clock_mhz == 1500.0  # a sleep before each block


def test_event_loop_stops_at_max_calls_and_checks_its_limits():
    clock = ScriptedEventClock([1.0])
    times = time_with_events(clock.work, torch.zeros(1), clock, min_run_time=1e9, max_calls=25)
    assert len(times.times_s) == 25 and times.block_sizes == (10, 10, 5)
    with pytest.raises(ValueError, match="min_calls"):
        time_with_events(clock.work, torch.zeros(1), clock, 1.0, min_calls=0)


def test_noisy_flag_follows_the_relative_iqr():
    steady, _ = fake_timing([1e-3])
    spread, _ = fake_timing([1e-3, 1.5e-3, 2e-3, 3e-3])
    assert steady.relative_iqr == 0 and not steady.noisy
    assert spread.relative_iqr > NOISE_THRESHOLD and spread.noisy
    assert spread.as_row()["noisy"] is True


def test_merged_timings_remember_their_rounds_and_survive_a_csv_cell():
    first, _ = fake_timing([1e-3], min_run_time=0.02)
    second, _ = fake_timing([2e-3], min_run_time=0.02)
    merged = merge_timings([first, second])
    assert merged.rounds == (first.times_s, second.times_s)
    back = parse_rounds(format_rounds(merged.rounds))
    assert [len(times) for times in back] == [len(times) for times in merged.rounds]
    for read, written in zip(back, merged.rounds, strict=True):
        assert read == pytest.approx(written, rel=1e-3)
    assert parse_rounds("") == ()


def test_cuda_graphs_and_cuda_events_refuse_a_cpu():
    from onebyone.perf.gpu_timing import CudaEventClock, capture_cuda_graph

    with pytest.raises(ValueError, match="CUDA graphs need a CUDA tensor"):
        capture_cuda_graph(lambda x: x, torch.zeros(2))
    with pytest.raises(ValueError, match="CUDA events need a CUDA device"):
        CudaEventClock(torch.device("cpu"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_the_default_is_events_with_a_flushed_l2_and_graphs_replay():
    conv = nn.Conv2d(16, 16, 1).cuda()
    events = time_callable(conv, (8, 16, 28, 28), device="cuda", min_run_time=0.05)
    assert events.timer == "cuda_events" and events.l2_flush
    graph = time_callable(conv, (8, 16, 28, 28), device="cuda", min_run_time=0.05,
                          cuda_graph=True)
    assert graph.timer == "cuda_graph" and graph.median_s > 0


# --- The record of a timing: every metadata field checked against its source ----------------


def test_record_fields_come_from_their_sources():
    timing, _ = fake_timing([1e-3], label="fake", dtype=torch.float64)
    assert timing.device == "cpu" and timing.label == "fake" and timing.dtype == "float64"
    assert timing.device_name == describe_device("cpu") == cpu_model()
    assert timing.torch_version == torch.__version__
    assert timing.cuda_version == _version_or_blank(torch.version.cuda)
    assert timing.cudnn_version == _version_or_blank(torch.backends.cudnn.version())
    assert timing.memory_format == "contiguous" and timing.input_shape == (2, 3)
    assert timing.num_threads == torch.get_num_threads()  # the user's setting by default
    assert timing.blocks == len(timing.times_s) and timing.round_blocks == ()
    assert timing.runs == timing.blocks * timing.calls_per_block
    assert timing.timer == "blocked_autorange" and timing.l2_flush is False
    assert fake_timing([1e-3])[0].label == ""


def test_versions_are_blank_when_absent_and_text_otherwise():
    assert _version_or_blank(None) == ""
    assert _version_or_blank(90100) == "90100" and _version_or_blank("12.8") == "12.8"


@pytest.mark.parametrize("allowed", [False, True])
def test_record_takes_the_float32_settings_in_force(allowed):
    with tf32_allowed(allowed):
        timing, _ = fake_timing([1e-3], min_run_time=0.01)
    mode = "tf32" if allowed else "ieee"
    assert (timing.matmul_fp32_precision, timing.conv_fp32_precision) == (mode, mode)
    assert timing.mkldnn_fp32_precision == "ieee"
    row = timing.as_row()
    assert (row["matmul_fp32_precision"], row["conv_fp32_precision"]) == (mode, mode)


def test_the_timed_calls_run_on_the_requested_threads():
    default = torch.get_num_threads()
    seen = []
    clock = FakeClock([1e-3])

    def work(x):
        seen.append(torch.get_num_threads())
        clock.work(x)

    for threads in (1, 2):
        seen.clear()
        timing = time_callable(work, (2,), timer=clock.read, min_run_time=0.01, warmup=0,
                               num_threads=threads)
        assert timing.num_threads == threads and set(seen) == {threads}
    assert torch.get_num_threads() == default  # restored
    events = ScriptedEventClock([1e-3])
    seen.clear()

    def work_on_events(x):
        seen.append(torch.get_num_threads())
        events.work(x)

    timing = time_callable(work_on_events, (2,), event_clock=events, min_run_time=0.01,
                           warmup=0, num_threads=1)
    assert timing.num_threads == 1 and set(seen) == {1}


@pytest.mark.parametrize("setting", [None, False, True])
def test_cudnn_benchmark_is_recorded_and_restored(setting):
    before = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = True  # a user's setting
        seen = []
        clock = FakeClock([1e-3])

        def work(x):
            seen.append(torch.backends.cudnn.benchmark)
            clock.work(x)

        timing = time_callable(work, (2,), timer=clock.read, min_run_time=0.01,
                               cudnn_benchmark=setting)
        expected = True if setting is None else setting  # None leaves the user's setting
        assert timing.cudnn_benchmark is expected and set(seen) == {expected}
        assert torch.backends.cudnn.benchmark is True
    finally:
        torch.backends.cudnn.benchmark = before


def test_default_min_run_time_is_a_fifth_of_a_second():
    clock = FakeClock([1e-3])
    timing = time_callable(clock.work, (2, 3), timer=clock.read)
    timed = sum(timing.times_s) * timing.calls_per_block  # seconds of timed calls
    assert 0.2 <= timed < 0.3


def test_describe_device_asks_the_cuda_driver_for_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: f"GPU of {device}")
    assert describe_device("cuda:1") == "GPU of cuda:1"
    assert describe_device(torch.device("cuda", 0)) == "GPU of cuda:0"


def test_default_warmup_seed_and_input():
    timing, clock = fake_timing([1e-3])
    assert clock.reads[0][1] == 3  # three warm-up calls by default
    assert torch.equal(clock.inputs[0], make_input((2, 3), seed=0))
    assert timing.input_shape == tuple(clock.inputs[0].shape)


def test_event_timing_without_flush_records_no_flush():
    clock = ScriptedEventClock([1e-3], flushes=False)
    timing = time_callable(clock.work, (2,), event_clock=clock, min_run_time=0.01,
                           flush_l2=False, warmup=0)
    assert timing.timer == "cuda_events" and timing.l2_flush is False
    assert timing.calls_per_block == 1 and timing.runs == timing.blocks == len(timing.times_s)


def test_as_row_has_every_field_but_the_raw_times():
    timing, _ = fake_timing([1e-3, 2e-3])
    row = timing.as_row()
    fields = set(Timing.__dataclass_fields__) - {"times_s", "round_blocks"}
    assert set(row) == fields | {"relative_iqr", "noisy"}
    assert row["input_shape"] == "2x3" and row["relative_iqr"] == timing.relative_iqr
    assert row["device_name"] == timing.device_name and row["noisy"] is timing.noisy


def test_noisy_means_strictly_above_five_percent():
    assert NOISE_THRESHOLD == 0.05
    timing, _ = fake_timing([1e-3])
    at = replace(timing, median_s=1.0, iqr_s=0.05)
    above = replace(timing, median_s=1.0, iqr_s=0.0501)
    assert at.relative_iqr == 0.05 and not at.noisy
    assert above.noisy
    assert replace(timing, median_s=2.0, iqr_s=0.5).relative_iqr == 0.25


def test_merged_fields():
    first, _ = fake_timing([1e-3], min_run_time=0.02, label="conv")
    second, _ = fake_timing([2e-3, 3e-3], min_run_time=0.02, label="conv")
    merged = merge_timings([first, second])
    assert merged.round_blocks == (first.blocks, second.blocks)
    assert merged.blocks == first.blocks + second.blocks == len(merged.times_s)
    assert merged.times_s == first.times_s + second.times_s
    assert merged.runs == first.runs + second.runs
    q25, q75 = np.percentile(merged.times_s, [25, 75])
    time = math.sqrt(np.median(first.times_s) * np.median(second.times_s))
    assert merged.median_s == pytest.approx(time, rel=1e-9)
    assert merged.iqr_s == pytest.approx(q75 - q25, rel=1e-9) and first.iqr_s == 0 < merged.iqr_s
    for name in ("label", "device", "device_name", "torch_version", "dtype", "num_threads",
                 "matmul_fp32_precision", "timer", "input_shape"):
        assert getattr(merged, name) == getattr(first, name), name
    same_blocks = replace(second, calls_per_block=first.calls_per_block)
    assert merge_timings([first, same_blocks]).calls_per_block == first.calls_per_block
    different = replace(second, calls_per_block=first.calls_per_block + 1)
    assert merge_timings([first, different]).calls_per_block == 0
    # merging a merged timing keeps its rounds
    again = merge_timings([merged, first])
    assert again.round_blocks == (first.blocks, second.blocks, first.blocks)
    assert again.rounds == (first.times_s, second.times_s, first.times_s)


@pytest.mark.parametrize(
    "change",
    [{"label": "other"}, {"device": "cuda:0"}, {"dtype": "float16"},
     {"memory_format": "channels_last"}, {"num_threads": 7}, {"input_shape": (9,)},
     {"matmul_fp32_precision": "tf32"}, {"conv_fp32_precision": "bf16"},
     {"mkldnn_fp32_precision": "bf16"}, {"timer": "cuda_graph"}],
    ids=lambda change: next(iter(change)),
)
def test_merging_refuses_each_difference_by_name(change):
    timing, _ = fake_timing([1e-3], min_run_time=0.02)
    name = next(iter(change))
    with pytest.raises(ValueError, match=rf"^cannot merge timings of different things: "
                                         rf"\['{name}'\] differ$"):
        merge_timings([timing, replace(timing, **change)])
    with pytest.raises(ValueError, match=r"^every timing needs its raw times_s to be merged$"):
        merge_timings([timing, replace(timing, times_s=())])
    with pytest.raises(ValueError, match=r"^nothing to merge: give at least one timing$"):
        merge_timings([])


def test_rounds_of_an_unmerged_timing_is_one_round():
    timing, _ = fake_timing([1e-3, 2e-3], min_run_time=0.02)
    assert timing.rounds == (timing.times_s,)


def test_format_and_parse_rounds_exactly():
    text = format_rounds([[1e-3, 2.5e-3], [3.14159e-3]])
    assert text == "0.001 0.0025|0.003142"
    assert parse_rounds(text) == ((0.001, 0.0025), (0.003142,))
    assert parse_rounds("  ") == () and format_rounds([]) == ""


def test_describe_device_of_other_devices_and_device_objects():
    assert describe_device(torch.device("cpu")) == cpu_model()
    assert describe_device("meta") == "meta"
    assert describe_device(torch.device("meta")) == "meta"


def test_make_input_validates_and_leaves_the_global_generator_alone():
    for shape, message in [((), "shape must have at least one size, got ()"),
                           ((2, 0), "shape[1] must be a positive integer, got 0"),
                           ((-1, 3), "shape[0] must be a positive integer, got -1")]:
        with pytest.raises(ValueError, match=rf"^{re.escape(message)}"):
            make_input(shape)
    with pytest.raises(ValueError, match=r"^channels_last needs a 4-D N x C x H x W shape"):
        make_input((2, 3, 4), memory_format=torch.channels_last)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    make_input((4, 4), seed=1)
    assert torch.equal(torch.rand(3), expected)
    half = make_input((8,), dtype=torch.float16, seed=2)
    assert half.dtype == torch.float16 and make_input([8]).shape == (8,)
    assert torch.equal(half, make_input((8,), seed=2).half())
    assert make_input((1, 2, 3, 4), memory_format=torch.contiguous_format).is_contiguous()
    with pytest.raises(ValueError, match=r"^memory_format: unsupported memory format "
                                         r"torch\.preserve_format; "
                                         r"use one of \[torch\.contiguous_format, "
                                         r"torch\.channels_last\]$"):
        memory_format_name(torch.preserve_format)


# --- The device paths, on a CPU: what a CUDA run would call is stood in for --------------------


class InputMade(Exception):
    """Raised by a stand-in for make_input, to stop a timing once its input is asked for."""


def test_a_module_and_its_input_go_to_the_requested_device(monkeypatch):
    import onebyone.perf.timing as timing_module

    asked = {}

    def make_input(shape, **options):
        asked.update(options)
        raise InputMade

    monkeypatch.setattr(timing_module, "make_input", make_input)
    copies = []
    deepcopy = timing_module.copy.deepcopy
    monkeypatch.setattr(timing_module.copy, "deepcopy",
                        lambda module: copies.append(deepcopy(module)) or copies[-1])
    conv = nn.Conv2d(3, 4, 1)
    with pytest.raises(InputMade):
        time_callable(conv, (1, 3, 4, 4), device="meta", dtype=torch.float16, seed=7)
    (timed,) = copies  # moved before the input; the caller's module stays where it was
    assert timed.weight.is_meta and timed.weight.dtype == torch.float16
    assert not conv.weight.is_meta and conv.weight.dtype == torch.float32
    assert asked == {"device": torch.device("meta"), "dtype": torch.float16,
                     "memory_format": torch.contiguous_format, "seed": 7}


@pytest.fixture
def simulated_cuda(monkeypatch):
    """A CUDA device as time_callable sees it, on a CPU: inputs are made on the CPU, the event
    clock is a scripted one, and graph capture and synchronisation are recorded, not run."""
    import onebyone.perf.timing as timing_module

    made = {"clock": ScriptedEventClock([1e-3, 3e-3]), "graphs": [], "synchronized": [],
            "inputs": []}

    def event_clock(device, flush_l2):
        made.update(device=device, flush_l2=flush_l2)
        made["clock"].flushes = flush_l2
        return made["clock"]

    def capture(fn, x):
        made["graphs"].append((fn, x))
        return fn

    real_make_input = timing_module.make_input
    monkeypatch.setattr(timing_module, "make_input",
                        lambda shape, device, **options: real_make_input(shape, **options))
    monkeypatch.setattr(timing_module, "CudaDevice", event_clock)
    monkeypatch.setattr(timing_module, "capture_cuda_graph", capture)
    monkeypatch.setattr(torch.cuda, "synchronize", made["synchronized"].append)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: f"GPU of {device}")
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91002)
    return made


def work_recording_inputs(made):
    def work(x):
        made["inputs"].append(x)
        made["clock"].work(x)

    return work


@pytest.mark.parametrize("flush_l2", [True, False])
def test_on_cuda_the_default_clock_is_cuda_events(simulated_cuda, flush_l2):
    timing = time_callable(work_recording_inputs(simulated_cuda), (2, 3), device="cuda:0",
                           min_run_time=0.02, flush_l2=flush_l2)
    assert simulated_cuda["device"] == torch.device("cuda:0")
    assert simulated_cuda["synchronized"] == [torch.device("cuda:0")]  # after the warm-up
    assert all(x.shape == (2, 3) for x in simulated_cuda["inputs"])  # the timed calls get x
    assert (timing.cuda_version, timing.cudnn_version) == ("12.8", "91002")
    assert simulated_cuda["flush_l2"] is flush_l2 and timing.l2_flush is flush_l2
    assert (timing.timer, timing.device, timing.device_name) == (
        "cuda_events", "cuda:0", "GPU of cuda:0")
    assert simulated_cuda["graphs"] == [] and timing.calls_per_block == 1
    assert sorted({round(t, 9) for t in timing.times_s}) == pytest.approx([1e-3, 3e-3])


def test_on_cuda_a_graph_is_captured_and_replayed(simulated_cuda):
    work = work_recording_inputs(simulated_cuda)
    timing = time_callable(work, (2, 3), device="cuda", min_run_time=0.02, cuda_graph=True,
                           seed=4)
    [(captured, x)] = simulated_cuda["graphs"]
    assert captured is work and torch.equal(x, make_input((2, 3), seed=4))
    assert timing.timer == "cuda_graph" and timing.calls_per_block == 1


def test_make_input_draws_in_float32_whatever_the_default_dtype():
    """The same seed gives the same input when a user has changed torch's default dtype."""
    expected = make_input((5,), dtype=torch.float64, seed=3)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert torch.equal(make_input((5,), dtype=torch.float64, seed=3), expected)
    finally:
        torch.set_default_dtype(before)
    assert torch.equal(expected, make_input((5,), seed=3).double())
    assert torch.equal(make_input((5,)), make_input((5,), seed=0))  # seed 0 by default


def test_make_input_names_a_bad_seed():
    with pytest.raises(ValueError, match=r"^seed must be a non-negative integer, got -1$"):
        make_input((2, 3), seed=-1)
    with pytest.raises(TypeError, match=r"^seed must be an integer, got 1\.5 \(float\)$"):
        make_input((2, 3), seed=1.5)
