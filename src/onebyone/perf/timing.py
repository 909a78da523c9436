"""A timing harness a performance engineer would trust, built on ``torch.utils.benchmark``.

Why not a stopwatch around a call: a GPU runs asynchronously, so the call returns before the
work is done; the first calls pay for lazy initialisation and autotuning; and a single run
says nothing about how much runs vary. ``torch.utils.benchmark.Timer`` synchronises the
device before every clock read, and its ``blocked_autorange`` repeats the statement in blocks
long enough to make the clock's own cost negligible. This module adds the rest:

- a fresh, seeded random input (never zeros: some kernels skip work on zeros, and a CPU can
  be slower on denormals);
- explicit warm-up calls before any clock is read;
- the **median** and the **interquartile range (IQR)** of the per-call times, which ignore
  the occasional interrupted block that would drag a mean;
- a record of what was measured: device, versions, dtype, memory format, ``cudnn.benchmark``,
  the float32 precision settings in force, threads and input shape, so a number is never
  separated from its conditions;
- a flag on noisy measurements: a relative IQR above :data:`NOISE_THRESHOLD` (5 %);
- on CUDA, one call at a time between CUDA events with the L2 cache flushed before each, in
  blocks queued behind a GPU sleep so that the host's launch cost is not timed, and optionally
  CUDA-graph replay (:mod:`onebyone.perf.gpu_timing`).

A measurement's time is defined once, in :func:`onebyone.perf.intervals.row_time`: the geometric
mean over rounds of each round's median (for one round, the median of its samples). ``median_s``
is that time; ``iqr_s`` is the spread of all samples pooled.

All times are in seconds, per call.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
from torch import nn
from torch.utils import benchmark
from torch.utils.benchmark.utils.common import set_torch_threads

from onebyone import validation
from onebyone.perf.gpu_timing import (
    CudaDevice,
    Device,
    capture_cuda_graph,
    time_with_events,
)
from onebyone.perf.intervals import row_time
from onebyone.perf.machine import cpu_model
from onebyone.perf.precision import precision_settings

NOISE_THRESHOLD = 0.05
"""A measurement whose IQR exceeds 5 % of its median is flagged ``noisy``."""


@dataclass(frozen=True)
class Timing:
    """One timed measurement and the conditions it was made under.

    Attributes:
        median_s: time of one call, seconds: the median of the samples, and after
            :func:`merge_timings` the geometric mean of the rounds' medians
            (:func:`onebyone.perf.intervals.row_time`, the one definition of a row's time).
        iqr_s: interquartile range (75th minus 25th percentile) of all per-call times, seconds.
        runs: calls timed in total (``blocks * calls_per_block``; warm-up calls excluded).
        blocks: timed blocks; each block is ``calls_per_block`` calls between two clock reads.
        calls_per_block: calls per block, chosen so that reading the clock costs < 0.01 %
            (0 after :func:`merge_timings` of timings that chose different block sizes).
        label: what was timed, in words.
        device: ``"cpu"`` or ``"cuda:0"``.
        device_name: the processor's model name (``"NVIDIA H100 80GB HBM3"``).
        torch_version, cuda_version, cudnn_version: software versions (``""`` when absent).
        dtype: the input's dtype, e.g. ``"float32"``.
        memory_format: ``"contiguous"`` (NCHW) or ``"channels_last"`` (NHWC in memory).
        cudnn_benchmark: whether cuDNN autotuned its algorithms (``torch.backends.cudnn``).
        matmul_fp32_precision, conv_fp32_precision, mkldnn_fp32_precision: the float32
            settings in force (``"ieee"``, ``"tf32"``, ``"bf16"``; see
            :func:`onebyone.perf.precision.precision_settings`).
        num_threads: CPU threads PyTorch used.
        input_shape: shape of the input tensor.
        times_s: per-call time of every block, in seconds (the raw data of the median/IQR).
        timer: ``"blocked_autorange"`` (blocks of calls, host clock), ``"cuda_events"`` (one
            call between two CUDA events) or ``"cuda_graph"`` (events around graph replays).
        l2_flush: whether the GPU's L2 cache was flushed before every timed call (``False``
            on CUDA: a warm cache).
        round_blocks: blocks per round after :func:`merge_timings` (``times_s`` in order).
        sleep_s: on CUDA, the GPU sleep queued before each block of calls, seconds (the
            largest over the rounds); 0 elsewhere.
        sm_clock_mhz: on CUDA, the median SM clock while the blocks ran (NVML), MHz; ``None``
            where it could not be read (no ``pynvml``) and on a CPU.
    """

    median_s: float
    iqr_s: float
    runs: int
    blocks: int
    calls_per_block: int
    label: str
    device: str
    device_name: str
    torch_version: str
    cuda_version: str
    cudnn_version: str
    dtype: str
    memory_format: str
    cudnn_benchmark: bool
    matmul_fp32_precision: str
    conv_fp32_precision: str
    mkldnn_fp32_precision: str
    num_threads: int
    input_shape: tuple[int, ...]
    times_s: tuple[float, ...] = field(default=(), repr=False)
    timer: str = "blocked_autorange"
    l2_flush: bool = False
    round_blocks: tuple[int, ...] = ()
    sleep_s: float = 0.0
    sm_clock_mhz: float | None = None

    @property
    def relative_iqr(self) -> float:
        """IQR divided by the median: 0.02 means the middle half of the calls lie within 2 %."""
        return self.iqr_s / self.median_s

    @property
    def noisy(self) -> bool:
        """Whether the relative IQR exceeds :data:`NOISE_THRESHOLD`: trust it less."""
        return self.relative_iqr > NOISE_THRESHOLD

    @property
    def rounds(self) -> tuple[tuple[float, ...], ...]:
        """``times_s`` split into its rounds (one round when it was never merged)."""
        sizes = self.round_blocks or (len(self.times_s),)
        starts = [sum(sizes[:index]) for index in range(len(sizes))]
        return tuple(self.times_s[start:start + size]
                     for start, size in zip(starts, sizes, strict=True))

    def as_row(self) -> dict[str, object]:
        """The record as a flat dict of plain values, ready for ``csv.DictWriter``.

        The shape becomes a string such as ``"8x64x28x28"``; ``relative_iqr`` and ``noisy`` are
        added; the raw ``times_s`` are left out (see :func:`format_rounds`).
        """
        row = asdict(self)
        del row["times_s"], row["round_blocks"]
        row["input_shape"] = "x".join(str(size) for size in self.input_shape)
        row["relative_iqr"] = self.relative_iqr
        row["noisy"] = self.noisy
        return row


def format_rounds(rounds: Sequence[Sequence[float]]) -> str:
    """Block times as text for a CSV cell: rounds separated by ``|``, times by spaces (seconds).

    Four significant digits: far finer than the noise of any timing.
    """
    return "|".join(" ".join(f"{time:.4g}" for time in times) for times in rounds)


def parse_rounds(text: str) -> tuple[tuple[float, ...], ...]:
    """The inverse of :func:`format_rounds`."""
    if not text.strip():
        return ()
    return tuple(tuple(float(time) for time in part.split()) for part in text.split("|"))


def describe_device(device: torch.device | str) -> str:
    """The model name of ``device``'s processor, for the record of a measurement.

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ...

    Returns:
        The GPU's name from the CUDA driver, or the CPU's model name with its family and model
        numbers (:func:`onebyone.perf.machine.cpu_model`).
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type != "cpu":
        return device.type
    return cpu_model()


def memory_format_name(memory_format: torch.memory_format) -> str:
    """``"contiguous"`` or ``"channels_last"``: the short name used in records and CSV files."""
    names = {torch.contiguous_format: "contiguous", torch.channels_last: "channels_last"}
    if memory_format not in names:
        raise ValueError(f"memory_format: unsupported memory format {memory_format}; "
                         f"use one of {list(names)}")
    return names[memory_format]


def make_input(
    shape: Sequence[int],
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    memory_format: torch.memory_format = torch.contiguous_format,
    seed: int = 0,
) -> torch.Tensor:
    """A fresh input of standard-normal random numbers, the same for the same seed and device.

    Why: timing ``torch.zeros`` can flatter a kernel (zeros compress, skip, never denormalise),
    and ``torch.empty`` holds whatever was in memory. Random numbers are what a layer sees.

    Args:
        shape: tensor shape; a 4-D ``N x C x H x W`` shape may be stored channels-last.
        device: where to create it (a ``torch.device`` or a string such as ``"cuda:0"``).
        dtype: a floating-point ``torch.dtype`` (``torch.float32``, not ``"float32"``).
        memory_format: ``torch.contiguous_format`` or ``torch.channels_last`` (4-D only).
        seed: seed of the generator used for this tensor alone (global state is untouched), in
            ``[0, 2**32 - 1]``.

    Raises:
        TypeError: a shape, seed, device or dtype of the wrong type.
        ValueError: a size below 1, a seed out of range, an unknown device, a dtype that is not
            floating-point, a memory format other than the two, channels-last on a non-4-D shape.
    """
    shape = validation.shape("shape", shape)
    seed = validation.seed("seed", seed)
    device = validation.device("device", device)
    _check_floating("dtype", dtype)
    memory_format_name(memory_format)  # validates it
    if memory_format == torch.channels_last and len(shape) != 4:
        raise ValueError(f"channels_last needs a 4-D N x C x H x W shape, got {shape}")
    generator = torch.Generator(device=device).manual_seed(seed)
    values = torch.randn(shape, generator=generator, device=device, dtype=torch.float32)
    return values.to(dtype).contiguous(memory_format=memory_format)


def _check_floating(name: str, dtype: object) -> torch.dtype:
    """``dtype`` if it is a floating-point ``torch.dtype``; the error names ``name``."""
    validation.dtype(name, dtype)
    if not dtype.is_floating_point:  # type: ignore[union-attr]
        raise ValueError(f"{name} must be a floating-point dtype such as torch.float32, "
                         f"got {dtype}")
    return dtype  # type: ignore[return-value]


@contextlib.contextmanager
def _cudnn_benchmark(enabled: bool | None) -> Iterator[None]:
    before = torch.backends.cudnn.benchmark
    if enabled is not None:
        torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def _version_or_blank(version: object) -> str:
    return "" if version is None else str(version)


def time_callable(
    fn: Callable[[torch.Tensor], object],
    input_shape: Sequence[int],
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    memory_format: torch.memory_format = torch.contiguous_format,
    seed: int = 0,
    label: str = "",
    min_run_time: float = 0.2,
    warmup: int = 3,
    num_threads: int | None = None,
    cudnn_benchmark: bool | None = None,
    timer: Callable[[], float] | None = None,
    flush_l2: bool = True,
    cuda_graph: bool = False,
    event_clock: Device | None = None,
) -> Timing:
    """Time ``fn(x)`` on a fresh random ``x`` and return the median, the IQR and the conditions.

    Why: this is the one way the book measures time. It warms up, lets
    ``Timer.blocked_autorange`` choose a block size and repeat blocks for ``min_run_time``
    seconds, synchronising CUDA at every clock read, and runs under ``torch.inference_mode``
    (forward passes only, no autograd bookkeeping).

    Args:
        fn: a module or a function of one tensor. A module is not changed: a copy of it is
            moved to ``device``, ``dtype`` and ``memory_format``, put in eval mode, and timed
            (the same weights, so the same time); a function must hold its own weights on the
            right device and dtype.
        input_shape: shape of ``x``.
        device, dtype, memory_format, seed: how ``x`` is made (see :func:`make_input`).
        label: what is being timed, in words, kept in the record.
        min_run_time: seconds of timed blocks to collect, at least (warm-up not included).
        warmup: untimed calls before the clock is first read (>= 0).
        num_threads: CPU threads (1 to ``2**31 - 1``); default ``torch.get_num_threads()`` (the
            user's setting, whereas ``Timer`` alone would use 1).
        cudnn_benchmark: set ``torch.backends.cudnn.benchmark`` for the timing (and restore it);
            ``None`` leaves it as it is.
        timer: the clock of the blocked timing, in seconds. Default: ``torch.utils.benchmark``'s,
            which synchronises the device before reading ``time.perf_counter``. Tests pass a
            fake clock.
        flush_l2: on CUDA, flush the L2 cache before every timed call (see
            :mod:`onebyone.perf.gpu_timing`).
        cuda_graph: on CUDA, time replays of a captured CUDA graph of ``fn(x)`` instead of
            ordinary calls (their difference is the launch overhead).
        event_clock: time one call at a time with this device (default on CUDA:
            :class:`onebyone.perf.gpu_timing.CudaDevice`); tests pass a scripted one on a CPU.

    Returns:
        A :class:`Timing`, per-call times in seconds.

    Raises:
        TypeError: ``fn`` not callable; a ``dtype`` that is not a ``torch.dtype``; another
            argument of the wrong type.
        ValueError: a non-positive or non-finite ``min_run_time``, a negative ``warmup``, bad
            sizes, an unknown device, ``cuda_graph`` off CUDA, a thread count out of range.
    """
    if not callable(fn):
        raise TypeError(f"fn must be a module or a function, got {type(fn).__name__}")
    if isinstance(min_run_time, bool) or not (
            isinstance(min_run_time, (int, float)) and math.isfinite(min_run_time)
            and min_run_time > 0):
        raise ValueError(f"min_run_time must be a positive, finite number of seconds, "
                         f"got {min_run_time!r}")
    warmup = validation.non_negative_integer("warmup", warmup)
    input_shape = validation.shape("input_shape", input_shape)
    device = validation.device("device", device)
    _check_floating("dtype", dtype)
    threads = torch.get_num_threads() if num_threads is None else num_threads
    threads = validation.threads("num_threads", threads)
    if cuda_graph and device.type != "cuda":
        raise ValueError(f"cuda_graph needs a CUDA device, got {device}")
    if isinstance(fn, nn.Module):  # time a copy: the caller's module keeps its place and mode
        fn = copy.deepcopy(fn).to(device=device, dtype=dtype, memory_format=memory_format).eval()
    x = make_input(input_shape, device=device, dtype=dtype, memory_format=memory_format, seed=seed)
    timer_options = {} if timer is None else {"timer": timer}
    stopwatch = benchmark.Timer(
        stmt="fn(x)", globals={"fn": fn, "x": x}, num_threads=threads, **timer_options
    )
    if event_clock is None and device.type == "cuda":
        event_clock = CudaDevice(device, flush_l2=flush_l2)
    with _cudnn_benchmark(cudnn_benchmark), torch.inference_mode():
        benchmarked = torch.backends.cudnn.benchmark
        for _ in range(warmup):
            fn(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        sleep, clock, flushed = 0.0, None, False
        if event_clock is None:
            measurement = stopwatch.blocked_autorange(min_run_time=min_run_time)
            times = tuple(measurement.times)
            calls_per_block, method = measurement.number_per_run, "blocked_autorange"
        else:
            timed = capture_cuda_graph(fn, x) if cuda_graph else fn
            with set_torch_threads(threads):
                measured = time_with_events(timed, x, event_clock, min_run_time)
            times, sleep, flushed = measured.times_s, measured.sleep_s, measured.flushed
            clock = measured.median_sm_clock_mhz
            calls_per_block, method = 1, "cuda_graph" if cuda_graph else "cuda_events"
    median, iqr = _median_and_iqr(times)
    settings = precision_settings()
    return Timing(
        median_s=median,
        iqr_s=iqr,
        runs=len(times) * calls_per_block,
        blocks=len(times),
        calls_per_block=calls_per_block,
        label=label,
        device=str(device),
        device_name=describe_device(device),
        torch_version=torch.__version__,
        cuda_version=_version_or_blank(torch.version.cuda),
        cudnn_version=_version_or_blank(torch.backends.cudnn.version()),
        dtype=str(dtype).removeprefix("torch."),
        memory_format=memory_format_name(memory_format),
        cudnn_benchmark=bool(benchmarked),
        matmul_fp32_precision=settings["matmul_fp32_precision"],
        conv_fp32_precision=settings["conv_fp32_precision"],
        mkldnn_fp32_precision=settings["mkldnn_fp32_precision"],
        num_threads=threads,
        input_shape=tuple(x.shape),
        times_s=times,
        timer=method,
        l2_flush=flushed,
        sleep_s=sleep,
        sm_clock_mhz=clock,
    )


def _median_and_iqr(times: Sequence[float]) -> tuple[float, float]:
    """Median and interquartile range, interpolated as ``torch.utils.benchmark`` does."""
    values = torch.tensor(sorted(times), dtype=torch.float64)
    q25, median, q75 = (values.quantile(q).item() for q in (0.25, 0.5, 0.75))
    return median, q75 - q25


def merge_timings(timings: Sequence[Timing]) -> Timing:
    """Pool the blocks of several timings of the same thing into one record.

    Why: on a shared machine a burst of someone else's work can slow every block of one
    measurement. Timing the same thing in several rounds, interleaved with other work, and
    pooling the blocks spreads it over time, so one burst moves the median much less.

    Args:
        timings: records of the same measurement (same label, device, dtype, memory format,
            threads and input shape), each with its raw ``times_s``.

    Returns:
        One :class:`Timing` whose ``median_s`` is :func:`onebyone.perf.intervals.row_time` of
        the rounds (the geometric mean of their medians) and whose IQR is that of all blocks
        together; ``sleep_s`` is the rounds' largest, ``sm_clock_mhz`` their median; ``runs``
        and ``blocks`` are summed, ``calls_per_block`` is kept if all agree and 0 otherwise,
        and ``round_blocks`` remembers which blocks came from which round.
    """
    if not timings:
        raise ValueError("nothing to merge: give at least one timing")
    first = timings[0]
    same = ("label", "device", "dtype", "memory_format", "num_threads", "input_shape",
            "matmul_fp32_precision", "conv_fp32_precision", "mkldnn_fp32_precision", "timer")
    for timing in timings[1:]:
        different = [name for name in same if getattr(timing, name) != getattr(first, name)]
        if different:
            raise ValueError(f"cannot merge timings of different things: {different} differ")
    if any(not timing.times_s for timing in timings):
        raise ValueError("every timing needs its raw times_s to be merged")
    times = tuple(time for timing in timings for time in timing.times_s)
    _, iqr = _median_and_iqr(times)
    round_blocks = tuple(size for timing in timings
                         for size in (timing.round_blocks or (len(timing.times_s),)))
    block_sizes = {timing.calls_per_block for timing in timings}
    clocks = [timing.sm_clock_mhz for timing in timings if timing.sm_clock_mhz is not None]
    return replace(
        first,
        median_s=row_time(replace(first, times_s=times, round_blocks=round_blocks).rounds),
        sleep_s=max(timing.sleep_s for timing in timings),
        sm_clock_mhz=float(np.median(clocks)) if clocks else None,
        iqr_s=iqr,
        runs=sum(timing.runs for timing in timings),
        blocks=len(times),
        calls_per_block=block_sizes.pop() if len(block_sizes) == 1 else 0,
        times_s=times,
        round_blocks=round_blocks,
    )
