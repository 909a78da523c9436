"""Chapter 5's timing experiments: every measurement, run in interleaved rounds, as CSV rows.

Why: a claim about speed is only as good as the measurement behind it, so every number in
Chapter 5 comes from this suite; its command line is :mod:`onebyone.perf.experiments`, and the
chapter runs it too (:func:`run_experiments`), small, on the reader's own device. What it times
is defined in :mod:`onebyone.perf.workloads`.

The experiments (all forward passes, timed with :func:`onebyone.perf.timing.time_callable`):

0. ``peak``: a large matrix product per precision (FLOP/s) and a large copy (bytes/s): the
   roof (:func:`onebyone.perf.results.measured_roofline`). Every other rate is effective
   (counted MACs over time); a row above the roof is flagged, never made the roof.
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
(:mod:`onebyone.perf.kernels`), the block times of every round (``times_s``, for the
paired-round intervals of :mod:`onebyone.perf.intervals`; a file keeps them in its ``.npz``
sidecar, and their quantiles ``p05_s``, ``p50_s``, ``p95_s`` in the CSV), the relative IQR
and a ``noisy`` flag above 5 %, the float32 precision settings in force, and the run's metadata
(:mod:`onebyone.perf.machine`).

Rounds are interleaved within each experiment (round 1 of every measurement, then round 2 ...),
so two measurements compared with each other, A and B, alternate in time.

One row per measurement; ``macs`` (multiply-accumulates), ``flops`` (2 x MACs) and ``bytes``
(least memory traffic, see :func:`onebyone.perf.roofline.pointwise_conv_workload`) are counted with
:mod:`onebyone.cost`, times are seconds per call.
"""

from __future__ import annotations

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
from onebyone.inception import BRANCHES, branch_costs
from onebyone.perf import peak
from onebyone.perf.kernels import top_kernels
from onebyone.perf.machine import run_metadata
from onebyone.perf.precision import (
    PRECISIONS,
    element_bytes,
    precision_dtype,
    skip_reason,
    tf32_allowed,
)
from onebyone.perf.results import FIELDS, Row, split_times, time_quantiles
from onebyone.perf.roofline import layer_workloads, pointwise_conv_workload
from onebyone.perf.timing import (
    Timing,
    format_rounds,
    make_input,
    merge_timings,
    parse_rounds,
    time_callable,
)
from onebyone.perf.workloads import (
    BOTTLENECK,
    IMAGE_SIZE,
    INCEPTION_3A,
    SIZES,
    Sizes,
    bottleneck_modules,
    check_same_math,
    inception_modules,
    same_math_variants,
)
from onebyone.recording import Interrupted, write_csv_atomically
from onebyone.runtime import seed_everything

EXPERIMENTS: tuple[str, ...] = ("peak", "same_math", "bottleneck", "roofline_sweep", "inception")
"""Experiment names, in the order they run (experiment 5, precision, is a column)."""

FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}



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
    row.update(time_quantiles(parse_rounds(row["times_s"])))  # of the times the file keeps
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
    kernel = peak.matmul_kernel(settings.sizes.matmul_size, settings.device,
                                precision_dtype(precision))
    timing, kernels = _measure(settings, kernel.function, kernel.input_shape, precision,
                               profile=profile)
    work = kernel.workload
    row = _row(settings, "peak", "matmul", precision, macs=work.flops // 2, flops=work.flops,
               bytes=work.bytes_moved, kernels=kernels)
    return timing, row


def _peak_copy(settings: Settings, profile: bool = False) -> Measured:
    kernel = peak.copy_kernel(settings.sizes.copy_megabytes, settings.device)
    timing, kernels = _measure(settings, kernel.function, kernel.input_shape, "float32",
                               profile=profile)
    work = kernel.workload
    row = _row(settings, "peak", "copy", "float32", macs=0, flops=work.flops,
               bytes=work.bytes_moved, kernels=kernels)
    return timing, row


def peak_tasks(settings: Settings, precisions: Sequence[str]) -> list[Task]:
    """Experiment 0: the measured roof (a square GEMM per precision, one large copy): the
    kernels of :mod:`onebyone.perf.peak`, timed under each precision's settings."""
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
    work = pointwise_conv_workload(n, c_in, c_out, h, w, element_bytes(precision))
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
    work = pointwise_conv_workload(n, channels, channels, h, w, element_bytes(precision))
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


def check_run(device: torch.device, size: str, rounds: int, threads: int,
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
    check_run(device, size, rounds, threads, cuda_graph)
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
    """Write ``rows`` to ``path`` as CSV with the columns :data:`FIELDS`, making its folders;
    return the path. See :func:`write_rows`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_rows(rows, path)


def write_rows(rows: Sequence[dict[str, object]], path: str | Path) -> Path:
    """Write ``rows`` to ``path`` (columns :data:`FIELDS`, UTF-8) and their block times to its
    sidecar ``<path>.npz`` (:func:`onebyone.perf.results.split_times`), whole or not at all,
    with the writer of every results file (:func:`onebyone.recording.write_csv_atomically`);
    its folder must exist. Returns the path."""
    return write_csv_atomically(path, rows, FIELDS, split=split_times)
