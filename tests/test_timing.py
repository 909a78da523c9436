"""Tests of the timing harness.

The statistics are checked exactly with a fake clock, as PyTorch tests its own ``Timer``: the
timed function advances the clock by scripted amounts, so the true per-call times are known and
the harness's median and IQR can be compared with NumPy's, computed independently from the
clock's own log. Real-clock tests only check types and sanity.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from onebyone.perf.gpu_timing import time_with_events
from onebyone.perf.precision import tf32_allowed, tf32_is_allowed
from onebyone.perf.timing import (
    NOISE_THRESHOLD,
    Timing,
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
    q25, median, q75 = np.percentile(pooled, [25, 50, 75])
    assert merged.median_s == pytest.approx(median, rel=1e-9)
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


def test_a_module_is_moved_to_the_dtype_and_memory_format_and_put_in_eval_mode():
    conv = nn.Conv2d(3, 4, 1).train()
    timing = time_callable(conv, (1, 3, 4, 4), dtype=torch.float64,
                           memory_format=torch.channels_last, min_run_time=1e-3)
    assert conv.weight.dtype == torch.float64 and not conv.training
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
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
        ({"fn": 3}, TypeError, "module or a function"),
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

    def __init__(self, costs):
        self.costs = itertools.cycle(costs)
        self.now = 0.0
        self.log: list[str] = []

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


def test_event_loop_stops_at_max_calls_and_checks_its_limits():
    clock = ScriptedEventClock([1.0])
    times = time_with_events(clock.work, torch.zeros(1), clock, min_run_time=1e9, max_calls=25)
    assert len(times) == 25
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
