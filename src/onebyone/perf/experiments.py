"""Chapter 5's timing experiments: one command runs them all and writes one tidy CSV.

Why: a claim about speed is only as good as the measurement behind it, so every number in
Chapter 5 comes from this file, run by one command that anyone can repeat on their own device::

    python -m onebyone.perf.experiments --device cpu --out book/data/cpu.csv --rounds 5 \
        --threads 1
    python -m onebyone.perf.experiments --device cuda --out book/data/<gpu>.csv --rounds 5 \
        --size full

The experiments (all forward passes, timed with :func:`onebyone.perf.timing.time_callable`):

0. ``peak``: a large matrix product (FLOP/s) and a large copy (bytes/s); the roof Chapter 5
   draws is the best rate of *any* measured kernel
   (:func:`onebyone.perf.results.measured_roofline`).
1. ``same_math``: one 1x1 convolution computed four ways (``Conv2d``, ``Linear`` per pixel,
   a matrix product, an einsum), each on NCHW and on channels-last inputs.
2. ``bottleneck``: the 28 x 28 x 192 -> 5x5 -> 32 convolution, directly and through a 1x1
   reduction to 16 channels, across batch sizes, NCHW and channels-last (convolutions only:
   no bias, no ReLU, so the MACs counted are exactly the work timed).
3. ``roofline_sweep``: a 1x1 convolution with ``C_in = C_out`` from 16 upwards at a fixed
   number of pixels, to walk from memory-bound to compute-bound.
4. ``inception``: GoogLeNet's inception (3a) module, naive and with reductions, whole and per
   branch, NCHW and channels-last.
5. precision: experiments 0, 1 and 3 are run in float32, TF32 and bfloat16 (the ``precision``
   column). TF32 exists only on CUDA; on a CPU its rows are written with ``status`` "skipped"
   and no time, rather than timing float32 a second time under another name; bfloat16 is
   skipped likewise on a CPU without bfloat16 instructions.

Every measured row also records what ran and how sure we are: the profiler's top kernels
(:mod:`onebyone.perf.kernels`), the block times of every round (``times_s``, for the paired-round
intervals of :mod:`onebyone.perf.intervals`), the relative IQR and a ``noisy`` flag above 5 %, the
float32 precision settings in force, and the run's metadata (:mod:`onebyone.perf.machine`).

Rounds are interleaved within each experiment (round 1 of every measurement, then round 2 ...),
so two measurements compared with each other, A and B, alternate in time. The command writes
the rows of each finished experiment to a temporary file beside ``--out`` and renames it at the
end; interrupted (Ctrl-C), it saves what was measured to ``<out>.partial``, marked partial.

One row per measurement; ``macs`` (multiply-accumulates), ``flops`` (2 x MACs) and ``bytes``
(least memory traffic, see :func:`onebyone.perf.roofline.pointwise_conv_workload`) are counted with
:mod:`onebyone.cost`, times are seconds per call.
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn
from torch.utils.benchmark.utils.common import set_torch_threads
from tqdm import tqdm

from onebyone.cost import model_macs
from onebyone.inception import BRANCHES, Inception, NaiveInception, branch_costs
from onebyone.perf.kernels import top_kernels
from onebyone.perf.machine import run_metadata
from onebyone.perf.precision import PRECISIONS, precision_dtype, skip_reason, tf32_allowed
from onebyone.perf.roofline import layer_workloads, pointwise_conv_workload
from onebyone.perf.timing import Timing, format_rounds, make_input, merge_timings, time_callable
from onebyone.pointwise import (
    conv1x1_to_linear,
    linear_per_pixel,
    pointwise_as_einsum,
    pointwise_as_matmul,
)
from onebyone.runtime import seed_everything

EXPERIMENTS: tuple[str, ...] = ("peak", "same_math", "bottleneck", "roofline_sweep", "inception")
"""Experiment names, in the order they run (experiment 5, precision, is a column)."""

FIELDS: tuple[str, ...] = (
    "experiment", "variant", "precision", "status",
    "batch_size", "in_channels", "out_channels", "height", "width", "input_shape",
    "dtype", "memory_format", "macs", "flops", "bytes",
    "median_s", "iqr_s", "relative_iqr", "noisy", "runs", "blocks", "calls_per_block",
    "kernels", "timer", "l2_flush",
    "matmul_fp32_precision", "conv_fp32_precision", "mkldnn_fp32_precision",
    "tf32_matmul", "tf32_conv",
    "num_threads", "cudnn_benchmark", "device", "device_name", "isa", "clock_mhz",
    "torch_version", "cuda_version", "cudnn_version", "python_version",
    "size", "rounds", "date", "command", "partial", "note", "times_s",
)
"""Columns of the CSV, one row per measurement (``times_s``: block times by round, seconds)."""

FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


@dataclass(frozen=True)
class Sizes:
    """The problem sizes of one run of the suite.

    Attributes:
        matmul_size: ``n`` of the square GEMM that measures the peak rate.
        copy_megabytes: size of the copied buffer that measures bandwidth, MB.
        same_math_shapes: ``(N, C_in, C_out, H, W)`` of the 1x1 convolutions of experiment 1.
        bottleneck_batches: batch sizes of experiment 2 (28 x 28 x 192 input).
        sweep_channels: ``C_in = C_out`` values of experiment 3.
        sweep_pixels: ``(N, H, W)`` of experiment 3, fixed across the sweep.
        inception_batches: batch sizes of experiment 4 (28 x 28 x 192 input).
        min_run_time: seconds of timed calls per measurement.
    """

    matmul_size: int
    copy_megabytes: int
    same_math_shapes: tuple[tuple[int, int, int, int, int], ...]
    bottleneck_batches: tuple[int, ...]
    sweep_channels: tuple[int, ...]
    sweep_pixels: tuple[int, int, int]
    inception_batches: tuple[int, ...]
    min_run_time: float


SIZES: dict[str, Sizes] = {
    # One CPU core runs one round of this in about a minute (five rounds: about five minutes).
    "small": Sizes(
        matmul_size=1024,
        copy_megabytes=64,
        same_math_shapes=((8, 64, 64, 28, 28), (8, 256, 256, 14, 14)),
        bottleneck_batches=(1, 8, 32),
        sweep_channels=(16, 32, 64, 128, 256, 512),
        sweep_pixels=(8, 28, 28),
        inception_batches=(1, 8),
        min_run_time=0.25,
    ),
    # A datacenter GPU runs this in a few minutes.
    "full": Sizes(
        matmul_size=8192,
        copy_megabytes=1024,
        same_math_shapes=(
            (32, 64, 64, 56, 56),
            (32, 256, 256, 28, 28),
            (32, 1024, 1024, 14, 14),
        ),
        bottleneck_batches=(1, 8, 32, 128, 256),
        sweep_channels=(16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
        sweep_pixels=(32, 28, 28),
        inception_batches=(1, 32, 128),
        min_run_time=0.2,
    ),
}

# GoogLeNet's inception (3a): 28 x 28 x 192 in, Table 1 of Szegedy et al.
INCEPTION_3A = {"in_channels": 192, "ch1x1": 64, "ch3x3red": 96, "ch3x3": 128,
                "ch5x5red": 16, "ch5x5": 32, "pool_proj": 32}
BOTTLENECK = {"in_channels": 192, "reduced_channels": 16, "out_channels": 32, "kernel_size": 5}
IMAGE_SIZE = 28  # pixels, the input of inception (3a)


Row = dict[str, object]
Measured = tuple[Timing | None, Row]
"""What a task returns: its timing (``None`` when skipped) and its row, still without times."""


@dataclass(frozen=True)
class Task:
    """One measurement to make.

    Attributes:
        description: what it is, for the progress bar.
        run: makes the measurement; called with ``profile=True`` in the first round, when it
            also records the profiler's kernel names. See :data:`Measured`.
        experiment: the experiment it belongs to (rows are saved experiment by experiment).
    """

    description: str
    run: Callable[..., Measured]
    experiment: str = ""


@dataclass(frozen=True)
class Settings:
    """What every measurement of one run shares: device, sizes, threads, how it is timed.

    Attributes:
        device, size, num_threads: where, how large, on how many CPU threads.
        cuda_graph: time CUDA-graph replays instead of ordinary calls (CUDA only).
        metadata: columns every row shares (:func:`onebyone.perf.machine.run_metadata`).
    """

    device: torch.device
    size: str
    num_threads: int
    cuda_graph: bool = False
    metadata: dict[str, object] | None = None

    @property
    def sizes(self) -> Sizes:
        """The tensor sizes (channels, pixels, batch sizes) of this run's ``size`` preset."""
        return SIZES[self.size]


def _element_bytes(precision: str) -> int:
    return torch.finfo(precision_dtype(precision)).bits // 8


def _row(
    settings: Settings, experiment: str, variant: str, precision: str, **fields: object
) -> Row:
    row = dict.fromkeys(FIELDS, "")
    row.update({key: value for key, value in (settings.metadata or {}).items() if key in FIELDS})
    row.update(experiment=experiment, variant=variant, precision=precision, size=settings.size,
               device=str(settings.device), num_threads=settings.num_threads, partial=False)
    row.update(fields)
    return row


def _measure(
    settings: Settings,
    fn: Callable[[torch.Tensor], object],
    input_shape: Sequence[int],
    precision: str,
    memory_format: torch.memory_format = torch.contiguous_format,
    label: str = "",
    profile: bool = False,
) -> tuple[Timing, str]:
    """Time ``fn`` under ``precision``'s settings; with ``profile``, name its top kernels too.

    Returns ``(timing, kernels)``; ``kernels`` is ``"a;b"`` or ``""`` when not profiled.
    """
    cuda = settings.device.type == "cuda"
    dtype = precision_dtype(precision)
    with tf32_allowed(precision == "tf32"):
        timing = time_callable(
            fn,
            input_shape,
            device=settings.device,
            dtype=dtype,
            memory_format=memory_format,
            label=label,
            min_run_time=settings.sizes.min_run_time,
            num_threads=settings.num_threads,
            cudnn_benchmark=True if cuda else None,
            cuda_graph=settings.cuda_graph,
        )
        kernels = ""
        if profile:  # same input, same threads, same settings as the timing
            x = make_input(input_shape, device=settings.device, dtype=dtype,
                           memory_format=memory_format)
            with set_torch_threads(settings.num_threads):
                kernels = ";".join(top_kernels(fn, x))
    return timing, kernels


def _timed_row(timing: Timing, row: Row) -> Row:
    row = dict(row)
    row.update({key: value for key, value in timing.as_row().items() if key in FIELDS})
    float32_cuda = timing.device.startswith("cuda") and timing.dtype == "float32"
    row["tf32_matmul"] = float32_cuda and timing.matmul_fp32_precision == "tf32"
    row["tf32_conv"] = float32_cuda and timing.conv_fp32_precision == "tf32"
    row["times_s"] = format_rounds(timing.rounds)
    row["rounds"] = len(timing.rounds)
    row["status"] = "measured"
    return row


def _task(settings: Settings, description: str, experiment: str, variant: str,
          precision: str, measure: Callable[[], Measured], **fields: object) -> Task:
    """A task that runs ``measure``, or a skipped one when ``precision`` cannot run here."""
    reason = skip_reason(precision, settings.device)
    if not reason:
        return Task(description, measure, experiment)
    row = _row(settings, experiment, variant, precision, status="skipped", note=reason,
               dtype=str(precision_dtype(precision)).removeprefix("torch."), **fields)
    return Task(f"{description} (skipped)", lambda profile=False: (None, row), experiment)


# Experiment 0: the measured roof.


def _peak_matmul(settings: Settings, precision: str, profile: bool = False) -> Measured:
    n = settings.sizes.matmul_size
    other = make_input((n, n), device=settings.device, dtype=precision_dtype(precision), seed=1)
    timing, kernels = _measure(settings, lambda x: torch.mm(x, other), (n, n), precision,
                               profile=profile)
    row = _row(settings, "peak", "matmul", precision, macs=n**3, flops=2 * n**3,
               bytes=3 * n * n * _element_bytes(precision), kernels=kernels)
    return timing, row


def _peak_copy(settings: Settings, profile: bool = False) -> Measured:
    elements = settings.sizes.copy_megabytes * 10**6 // 4  # float32
    destination = torch.empty(elements, device=settings.device)
    timing, kernels = _measure(settings, destination.copy_, (elements,), "float32",
                               profile=profile)
    row = _row(settings, "peak", "copy", "float32", macs=0, flops=0, bytes=2 * elements * 4,
               kernels=kernels)
    return timing, row


def peak_tasks(settings: Settings, precisions: Sequence[str]) -> list[Task]:
    """Experiment 0: the measured roof (a square GEMM per precision, one large copy)."""
    n = settings.sizes.matmul_size
    tasks = [
        _task(settings, f"peak matmul {n} {precision}", "peak", "matmul", precision,
              partial(_peak_matmul, settings, precision))
        for precision in precisions
    ]
    copy = partial(_peak_copy, settings)
    tasks.append(_task(settings, "peak copy", "peak", "copy", "float32", copy))
    return tasks


# Experiment 1: same math, same time?


def same_math_variants(weight: torch.Tensor) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """One 1x1 convolution four ways, all with the same ``C_out x C_in`` weight (no bias).

    Why: they are the same function, so any difference in their times is implementation:
    which library kernel runs, and which copies the memory layout forces.

    Args:
        weight: ``C_out x C_in``, on the device and in the dtype to time.

    Returns:
        ``{"conv2d": ..., "linear": ..., "matmul": ..., "einsum": ...}``, each a function of
        an ``N x C_in x H x W`` tensor returning ``N x C_out x H x W`` (``conv2d`` is an
        ``nn.Conv2d`` module, so the harness can convert it to the input's memory format).
    """
    out_channels, in_channels = weight.shape
    conv = nn.Conv2d(in_channels, out_channels, 1, bias=False,
                     device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(weight.reshape(out_channels, in_channels, 1, 1))
    linear = conv1x1_to_linear(conv)
    return {
        "conv2d": conv,
        "linear": lambda x: linear_per_pixel(linear, x),  # N x C_out x H x W (a view)
        "matmul": lambda x: pointwise_as_matmul(x, weight),  # N x C_out x H x W
        "einsum": lambda x: pointwise_as_einsum(x, weight),  # N x C_out x H x W
    }


TOLERANCE = {"float32": 1e-4, "tf32": 1e-2, "bfloat16": 5e-2}
"""Largest difference allowed between a variant and the float64 reference, by precision.

The weights are scaled by ``1 / sqrt(C_in)``, so the outputs are of order 1.
"""


def check_same_math(
    variants: dict[str, Callable[[torch.Tensor], torch.Tensor]],
    x: torch.Tensor,
    weight: torch.Tensor,
    precision: str,
) -> None:
    """Raise ``AssertionError`` unless every variant computes the 1x1 convolution of ``x``.

    Why: timing four functions is only a fair race if they compute the same thing, so the
    experiment checks each against a float64 reference before it starts a clock.

    Args:
        variants: name -> function of ``x`` (see :func:`same_math_variants`).
        x: the input, ``N x C_in x H x W``.
        weight: the ``C_out x C_in`` weight they all use.
        precision: sets TF32 and the tolerance (:data:`TOLERANCE`).
    """
    reference = torch.einsum("oc,nchw->nohw", weight.double(), x.double())  # N x C_out x H x W
    with tf32_allowed(precision == "tf32"), torch.inference_mode():
        for name, variant in variants.items():
            difference = (variant(x).double() - reference).abs().max().item()
            if difference > TOLERANCE[precision]:
                raise AssertionError(
                    f"{name} differs from the reference by {difference:.3g} in {precision}"
                )


def _same_math(settings: Settings, shape: tuple[int, ...], variant: str, precision: str,
               memory_format: torch.memory_format, fields: Row,
               profile: bool = False) -> Measured:
    n, c_in, c_out, h, w = shape
    dtype = precision_dtype(precision)
    weight = make_input((c_out, c_in), device=settings.device, dtype=dtype, seed=1) / c_in**0.5
    function = same_math_variants(weight)[variant]
    x = make_input((n, c_in, h, w), device=settings.device, dtype=dtype,
                   memory_format=memory_format)  # the harness's input: same seed, same numbers
    check_same_math({variant: function}, x, weight, precision)
    timing, kernels = _measure(settings, function, (n, c_in, h, w), precision, memory_format,
                               variant, profile)
    work = pointwise_conv_workload(n, c_in, c_out, h, w, _element_bytes(precision))
    row = _row(settings, "same_math", variant, precision, **fields,
               macs=work.flops // 2, flops=work.flops, bytes=work.bytes_moved, kernels=kernels)
    return timing, row


def same_math_tasks(settings: Settings, precisions: Sequence[str]) -> list[Task]:
    """Experiment 1: Conv2d, Linear, matmul and einsum, NCHW and channels-last, across sizes."""
    tasks = []
    for shape in settings.sizes.same_math_shapes:
        n, c_in, c_out, h, w = shape
        for precision in precisions:
            for format_name, memory_format in FORMATS.items():
                fields = {"batch_size": n, "in_channels": c_in, "out_channels": c_out,
                          "height": h, "width": w, "memory_format": format_name}
                for variant in ("conv2d", "linear", "matmul", "einsum"):
                    measure = partial(_same_math, settings, shape, variant, precision,
                                      memory_format, fields)
                    description = f"same_math {variant} {shape} {format_name} {precision}"
                    tasks.append(_task(settings, description, "same_math", variant, precision,
                                       measure, **fields))
    return tasks


# Experiment 2: the bottleneck.


def bottleneck_modules() -> dict[str, nn.Module]:
    """The 28 x 28 x 192 -> 5x5 -> 32 convolution, ``direct`` and ``reduced`` through 16 channels.

    Why: the classic example of the bottleneck (Chapter 2). Convolutions only, without bias or
    ReLU, so that the time measured is the time of exactly the MACs counted.
    """
    in_channels = BOTTLENECK["in_channels"]
    reduced, out_channels = BOTTLENECK["reduced_channels"], BOTTLENECK["out_channels"]
    k = BOTTLENECK["kernel_size"]
    return {
        "direct": nn.Conv2d(in_channels, out_channels, k, padding=k // 2, bias=False),
        "reduced": nn.Sequential(
            nn.Conv2d(in_channels, reduced, 1, bias=False),  # N x 16 x 28 x 28
            nn.Conv2d(reduced, out_channels, k, padding=k // 2, bias=False),  # N x 32 x 28 x 28
        ),
    }


def _bottleneck(settings: Settings, variant: str, shape: tuple[int, int, int, int],
                format_name: str, profile: bool = False) -> Measured:
    seed_everything(0)
    module = bottleneck_modules()[variant]
    macs = model_macs(module, shape)
    moved = sum(work.bytes_moved for work in layer_workloads(module, shape))
    timing, kernels = _measure(settings, module, shape, "float32", FORMATS[format_name],
                               label=variant, profile=profile)
    row = _row(settings, "bottleneck", variant, "float32", batch_size=shape[0],
               in_channels=shape[1], out_channels=BOTTLENECK["out_channels"], height=shape[2],
               width=shape[3], macs=macs, flops=2 * macs, bytes=moved, kernels=kernels,
               memory_format=format_name)
    return timing, row


def bottleneck_tasks(settings: Settings) -> list[Task]:
    """Experiment 2: the direct 5x5 convolution against the 1x1-reduced one, across batches,
    on NCHW and on channels-last inputs."""
    tasks = []
    for batch in settings.sizes.bottleneck_batches:
        shape = (batch, BOTTLENECK["in_channels"], IMAGE_SIZE, IMAGE_SIZE)
        for format_name in FORMATS:
            for variant in ("direct", "reduced"):
                measure = partial(_bottleneck, settings, variant, shape, format_name)
                tasks.append(_task(settings, f"bottleneck {variant} batch {batch} {format_name}",
                                   "bottleneck", variant, "float32", measure,
                                   memory_format=format_name))
    return tasks


# Experiment 3: the roofline sweep.


def _sweep_point(settings: Settings, channels: int, precision: str, fields: Row,
                 profile: bool = False) -> Measured:
    n, h, w = settings.sizes.sweep_pixels
    seed_everything(0)
    conv = nn.Conv2d(channels, channels, 1, bias=False)
    timing, kernels = _measure(settings, conv, (n, channels, h, w), precision,
                               torch.channels_last, label=f"conv1x1 {channels}", profile=profile)
    work = pointwise_conv_workload(n, channels, channels, h, w, _element_bytes(precision))
    row = _row(settings, "roofline_sweep", "conv1x1", precision, **fields,
               macs=work.flops // 2, flops=work.flops, bytes=work.bytes_moved, kernels=kernels)
    return timing, row


def roofline_sweep_tasks(settings: Settings, precisions: Sequence[str]) -> list[Task]:
    """Experiment 3: a 1x1 convolution, ``C_in = C_out`` swept, at a fixed number of pixels.

    Channels-last, the layout in which a 1x1 convolution is one plain matrix product.
    """
    tasks = []
    n, h, w = settings.sizes.sweep_pixels
    for precision in precisions:
        for channels in settings.sizes.sweep_channels:
            fields = {"batch_size": n, "in_channels": channels, "out_channels": channels,
                      "height": h, "width": w, "memory_format": "channels_last"}
            measure = partial(_sweep_point, settings, channels, precision, fields)
            tasks.append(_task(settings, f"roofline_sweep C={channels} {precision}",
                               "roofline_sweep", "conv1x1", precision, measure, **fields))
    return tasks


# Experiment 4: Inception.


def inception_modules() -> dict[str, nn.Module]:
    """GoogLeNet's inception (3a), ``naive`` (no reductions) and ``reduced`` (with 1x1s)."""
    spec = INCEPTION_3A
    return {
        "naive": NaiveInception(spec["in_channels"], spec["ch1x1"], spec["ch3x3"], spec["ch5x5"]),
        "reduced": Inception(**spec),
    }


def _inception_part(settings: Settings, module_name: str, part: str,
                    shape: tuple[int, int, int, int], format_name: str,
                    profile: bool = False) -> Measured:
    seed_everything(0)
    module = inception_modules()[module_name]
    branch_macs = branch_costs(module, shape)
    if part == "module":
        target, macs = module, sum(branch_macs.values())
    else:
        target, macs = getattr(module, part), branch_macs[part]
    timing, kernels = _measure(settings, target, shape, "float32", FORMATS[format_name],
                               label=f"{module_name} {part}", profile=profile)
    row = _row(settings, "inception", f"{module_name}/{part}", "float32", batch_size=shape[0],
               in_channels=shape[1], height=shape[2], width=shape[3],
               out_channels=module.out_channels, macs=macs, flops=2 * macs, kernels=kernels,
               memory_format=format_name)
    return timing, row


def inception_tasks(settings: Settings) -> list[Task]:
    """Experiment 4: naive against reduced inception (3a), the module and each branch, on NCHW
    and on channels-last inputs."""
    tasks = []
    for batch in settings.sizes.inception_batches:
        shape = (batch, INCEPTION_3A["in_channels"], IMAGE_SIZE, IMAGE_SIZE)
        for format_name in FORMATS:
            for module_name in ("naive", "reduced"):
                for part in ("module", *BRANCHES):
                    measure = partial(_inception_part, settings, module_name, part, shape,
                                      format_name)
                    tasks.append(_task(
                        settings, f"inception {module_name} {part} batch {batch} {format_name}",
                        "inception", f"{module_name}/{part}", "float32", measure,
                        memory_format=format_name))
    return tasks


def build_tasks(
    settings: Settings,
    experiments: Sequence[str] = EXPERIMENTS,
    precisions: Sequence[str] = PRECISIONS,
) -> list[Task]:
    """Every measurement of the chosen experiments, in order, without running any.

    Args:
        settings: device, size and threads.
        experiments: a subset of :data:`EXPERIMENTS`.
        precisions: a subset of :data:`onebyone.perf.precision.PRECISIONS`, for experiments 0, 1, 3.
    """
    unknown = set(experiments) - set(EXPERIMENTS)
    if unknown:
        raise ValueError(f"unknown experiments {sorted(unknown)}; choose from {EXPERIMENTS}")
    for precision in precisions:
        precision_dtype(precision)  # validates it
    builders = {
        "peak": lambda: peak_tasks(settings, precisions),
        "same_math": lambda: same_math_tasks(settings, precisions),
        "bottleneck": lambda: bottleneck_tasks(settings),
        "roofline_sweep": lambda: roofline_sweep_tasks(settings, precisions),
        "inception": lambda: inception_tasks(settings),
    }
    return [task for name in EXPERIMENTS if name in experiments for task in builders[name]()]


class Interrupted(Exception):
    """The run was stopped (Ctrl-C); ``rows`` holds what was measured, marked partial."""

    def __init__(self, rows: list[Row]) -> None:
        super().__init__(f"interrupted after {len(rows)} measurements")
        self.rows = rows


def _check_run(device: torch.device, size: str, rounds: int, threads: int,
               cuda_graph: bool) -> None:
    """Raise ``ValueError`` on settings that cannot run, before anything is measured."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose from {sorted(SIZES)}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads!r}")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {str(device)!r}; use cpu, cuda or cuda:N")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for, but PyTorch sees no CUDA device")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"there is no {device}: PyTorch sees "
                             f"{torch.cuda.device_count()} CUDA device(s)")
    if cuda_graph and device.type != "cuda":
        raise ValueError("CUDA-graph replay needs --device cuda")


def parse_device(text: str | torch.device) -> torch.device:
    """``torch.device(text)``, with a ``ValueError`` naming the choices for a bad name."""
    try:
        return torch.device(text)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"unknown device {str(text)!r}; use cpu, cuda or cuda:N") from error


def run_experiments(
    device: torch.device | str = "cpu",
    size: str = "small",
    experiments: Sequence[str] = EXPERIMENTS,
    precisions: Sequence[str] = PRECISIONS,
    num_threads: int | None = None,
    rounds: int = 1,
    progress: bool = True,
    *,
    profile: bool = True,
    cuda_graph: bool = False,
    command: str = "",
    on_experiment: Callable[[list[Row]], None] | None = None,
) -> list[dict[str, object]]:
    """Run the suite and return its rows (one dict per measurement, keys :data:`FIELDS`).

    Args:
        device: where to time (``"cpu"``, ``"cuda"``).
        size: ``"small"`` (a CPU, a few minutes) or ``"full"`` (a GPU, a few minutes).
        experiments, precisions: subsets to run (see :func:`build_tasks`).
        num_threads: CPU threads; default ``torch.get_num_threads()``.
        rounds: how many times to time every measurement, interleaved within each experiment
            (round 1 of all its measurements, then round 2 ...); each measurement pools its
            blocks over the rounds (:func:`onebyone.perf.timing.merge_timings`), so that a burst of
            other work on a shared machine hits one round of it, not all of it.
        progress: show a progress bar (tqdm, on stderr).
        profile: record the profiler's top kernels of every measurement (in its first round).
        cuda_graph: time CUDA-graph replays (CUDA only).
        command: the command line, kept in every row.
        on_experiment: called with all finished rows each time an experiment finishes.

    Raises:
        ValueError: on settings that cannot run, before anything is measured.
        Interrupted: on Ctrl-C, carrying the rows measured so far (marked partial).
    """
    device = parse_device(device)
    threads = torch.get_num_threads() if num_threads is None else num_threads
    _check_run(device, size, rounds, threads, cuda_graph)
    settings = Settings(device=device, size=size, num_threads=threads, cuda_graph=cuda_graph,
                        metadata=run_metadata(device, rounds, command))
    tasks = build_tasks(settings, experiments, precisions)
    timings: list[list[Timing]] = [[] for _ in tasks]
    rows: list[Row | None] = [None for _ in tasks]
    finished: list[Row] = []
    finished_indices: list[int] = []
    order = list(dict.fromkeys(task.experiment for task in tasks))
    with tqdm(total=len(tasks) * rounds, unit="timing", disable=not progress,
              file=sys.stderr) as bar:
        try:
            for experiment in order:
                indices = [i for i, task in enumerate(tasks) if task.experiment == experiment]
                for round_index in range(rounds):
                    for index in indices:
                        bar.set_description(tasks[index].description[:50])
                        timing, row = tasks[index].run(profile=profile and round_index == 0)
                        rows[index] = rows[index] or row
                        if timing is not None:
                            timings[index].append(timing)
                        bar.update()
                finished.extend(_final_row(timings[i], rows[i], rounds) for i in indices)
                finished_indices.extend(indices)
                if on_experiment is not None:
                    on_experiment(list(finished))
        except KeyboardInterrupt:
            done = set(finished_indices)
            measured = finished + [_final_row(timings[i], rows[i], rounds)
                                   for i in range(len(tasks)) if i not in done and timings[i]]
            raise Interrupted([dict(row, partial=True) for row in measured]) from None
    return finished


def _final_row(measured: list[Timing], row: Row, rounds: int) -> Row:
    """The row of a task: its timings pooled, marked partial if it has fewer rounds than asked."""
    if not measured:
        return row
    final = _timed_row(merge_timings(measured), row)
    final["partial"] = len(measured) < rounds
    return final


def write_csv(rows: Sequence[dict[str, object]], path: str | Path) -> Path:
    """Write ``rows`` to ``path`` as CSV with the columns :data:`FIELDS`; return the path.

    The file is written beside ``path`` under a temporary name and renamed over ``path`` at the
    end, so that ``path`` is never half written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_path(path)
    _write_rows(rows, temporary)
    os.replace(temporary, path)
    return path


def _temporary_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _write_rows(rows: Sequence[dict[str, object]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (and exit status 2), without the usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_integer(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _Parser(
        prog="python -m onebyone.perf.experiments",
        description="Time the 1x1 convolution experiments of Chapter 5 and write a CSV.",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--out", required=True, help="CSV file to write (its folder must exist)")
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--threads", type=_positive_integer, default=None,
                        help="CPU threads (default: PyTorch's, torch.get_num_threads())")
    parser.add_argument("--experiments", default=",".join(EXPERIMENTS),
                        help=f"comma-separated subset of {','.join(EXPERIMENTS)}")
    parser.add_argument("--precisions", default=",".join(PRECISIONS),
                        help=f"comma-separated subset of {','.join(PRECISIONS)}")
    parser.add_argument("--rounds", type=_positive_integer, default=1,
                        help="time every measurement this many times, interleaved, and pool")
    parser.add_argument("--cuda-graph", action="store_true",
                        help="time CUDA-graph replays (separates launch overhead; CUDA only)")
    parser.add_argument("--no-profile", action="store_true",
                        help="do not record the profiler's kernel names")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser.parse_args(argv)


def check_output_path(out: str | Path) -> Path:
    """The ``--out`` path, checked before anything is measured: a ``.csv`` file name in an
    existing, writable folder. Raises ``ValueError`` naming the problem."""
    path = Path(out)
    if path.suffix != ".csv":
        raise ValueError(f"--out must name a .csv file, got {str(out)!r}")
    if path.is_dir():
        raise ValueError(f"--out {str(out)!r} is a directory; name a .csv file in it")
    if not path.parent.is_dir():
        raise ValueError(f"--out: the folder {str(path.parent)!r} does not exist")
    probe = _temporary_path(path)
    try:
        probe.touch()
        probe.unlink()
    except OSError as error:
        folder = str(path.parent)
        raise ValueError(f"--out: cannot write in {folder!r} ({error.strerror})") from None
    return path


def _validated(arguments: argparse.Namespace) -> dict[str, object]:
    """Every option checked and typed, before anything is measured (``ValueError`` if not)."""
    experiments = [name for name in arguments.experiments.split(",") if name]
    precisions = [name for name in arguments.precisions.split(",") if name]
    unknown = sorted(set(experiments) - set(EXPERIMENTS))
    if unknown or not experiments:
        raise ValueError(f"unknown experiments {unknown}; choose from {','.join(EXPERIMENTS)}")
    unknown = sorted(set(precisions) - set(PRECISIONS))
    if unknown or not precisions:
        raise ValueError(f"unknown precisions {unknown}; choose from {','.join(PRECISIONS)}")
    device = parse_device(arguments.device)
    threads = torch.get_num_threads() if arguments.threads is None else arguments.threads
    _check_run(device, arguments.size, arguments.rounds, threads, arguments.cuda_graph)
    return {
        "device": device, "size": arguments.size, "experiments": experiments,
        "precisions": precisions, "num_threads": threads, "rounds": arguments.rounds,
        "cuda_graph": arguments.cuda_graph, "profile": not arguments.no_profile,
        "progress": not arguments.no_progress, "out": check_output_path(arguments.out),
    }


def partial_path(out: Path) -> Path:
    """Where an interrupted run saves what it measured: ``cpu.csv`` -> ``cpu.csv.partial``."""
    return out.with_name(out.name + ".partial")


def main(argv: Sequence[str] | None = None) -> Path:
    """The command line: check every option, run the suite, write the CSV, say what was done.

    Exit status 2 with a one-line message on a user error (before anything is measured);
    130 after Ctrl-C, with what was measured saved to :func:`partial_path` and ``--out``
    left as it was.
    """
    arguments = _parse_arguments(argv)
    prog = "python -m onebyone.perf.experiments"
    try:
        options = _validated(arguments)
    except ValueError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    out = options.pop("out")
    command = shlex.join(["python", "-m", "onebyone.perf.experiments",
                          *(sys.argv[1:] if argv is None else argv)])
    temporary = _temporary_path(out)

    def save(rows: list[Row]) -> None:
        _write_rows(rows, temporary)

    try:
        rows = run_experiments(command=command, on_experiment=save, **options)
    except Interrupted as stop:
        saved = partial_path(out)
        _write_rows(stop.rows, saved)
        temporary.unlink(missing_ok=True)
        print(f"interrupted: {len(stop.rows)} measurements saved to {saved} (marked partial); "
              f"{out} was left unchanged", file=sys.stderr)
        raise SystemExit(130) from None
    _write_rows(rows, temporary)
    os.replace(temporary, out)
    measured = sum(row["status"] == "measured" for row in rows)
    print(f"{measured} measurements, {len(rows) - measured} skipped, written to {out}")
    print(f"command: {command}")
    return out


if __name__ == "__main__":
    main()
