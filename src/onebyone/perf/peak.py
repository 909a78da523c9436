"""The measured roof: the two kernels that measure a device's peak rate and bandwidth.

Why: the roof of :mod:`onebyone.perf.roofline` must be what this device really reaches with the
same libraries (cuBLAS, oneDNN/MKL) the convolutions use, not its datasheet's figures. A large
square matrix product measures the arithmetic rate ``P`` (FLOP/s), a large device-to-device
copy the memory bandwidth ``B`` (bytes/s). The kernels are defined once, here: the functions
below time them with :func:`onebyone.perf.timing.time_callable`, and the experiments of
Chapter 5 (:mod:`onebyone.perf.experiments`, experiment 0) time the same kernels under each
precision's settings and record their rows. Units: FLOPs (2 per MAC), bytes, seconds.

Kept apart from :mod:`onebyone.perf.roofline` so that the model (and the datasheet table of
:mod:`onebyone.perf.gpu_specs`) needs no timing harness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from onebyone import validation
from onebyone.perf.roofline import Roofline, Workload
from onebyone.perf.timing import Timing, make_input, time_callable


@dataclass(frozen=True)
class PeakKernel:
    """One kernel that measures a side of the roof, ready to time.

    Attributes:
        function: what to call on the timed input (its result is discarded).
        input_shape: the shape of the input the timing harness makes for it.
        workload: its FLOPs and least bytes moved per call.
        label: what it is, for the timing's record (``"matmul 4096x4096 @ 4096x4096"``).
    """

    function: Callable[[torch.Tensor], object]
    input_shape: tuple[int, ...]
    workload: Workload
    label: str


def matmul_kernel(
    size: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> PeakKernel:
    """The ``n x n`` by ``n x n`` matrix product: ``2 n^3`` FLOPs, ``3 n^2`` numbers moved.

    Args:
        size: ``n``, in elements.
        device, dtype: where and in which format (TF32 follows the global switch, see
            :func:`onebyone.perf.precision.tf32_allowed`).
    """
    size = validation.positive_integer("size", size)
    other = make_input((size, size), device=device, dtype=dtype, seed=1)
    element_bytes = torch.finfo(dtype).bits // 8
    return PeakKernel(
        function=lambda x: torch.mm(x, other),
        input_shape=(size, size),
        workload=Workload(flops=2 * size**3, bytes_moved=3 * size * size * element_bytes),
        label=f"matmul {size}x{size} @ {size}x{size}",
    )


def copy_kernel(megabytes: int, device: torch.device | str = "cpu") -> PeakKernel:
    """A copy of ``megabytes`` MB (10^6 bytes) of float32: no FLOPs, ``2 x size`` bytes moved.

    Why: a copy does no arithmetic, so its speed is the memory system's. It reads every byte
    once and writes it once. Make the buffer much larger than the caches (an H100's L2 holds
    50 MB) or the cache is measured.
    """
    megabytes = validation.positive_integer("megabytes", megabytes)
    elements = megabytes * 10**6 // 4  # float32
    destination = torch.empty(elements, device=device)
    return PeakKernel(
        function=destination.copy_,
        input_shape=(elements,),
        workload=Workload(flops=0, bytes_moved=2 * elements * 4),
        label=f"copy {megabytes} MB",
    )


def _time(kernel: PeakKernel, device: torch.device | str, dtype: torch.dtype,
          min_run_time: float, num_threads: int | None) -> Timing:
    return time_callable(kernel.function, kernel.input_shape, device=device, dtype=dtype,
                         label=kernel.label, min_run_time=min_run_time, num_threads=num_threads)


def measure_matmul_rate(
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    size: int = 4096,
    min_run_time: float = 0.5,
    num_threads: int | None = None,
) -> tuple[float, Timing]:
    """The device's achievable matrix-multiply rate: a large square GEMM, timed.

    Why: the roof of the roofline must be what this device really reaches with the same
    library (cuBLAS, oneDNN/MKL) the convolutions use, not the datasheet's peak.

    Args:
        device, dtype: where and in which format (TF32 follows the global switch, see
            :func:`onebyone.perf.precision.tf32_allowed`).
        size: ``n`` of the ``n x n`` by ``n x n`` product (``2 n^3`` FLOPs).
        min_run_time: seconds of timed calls.
        num_threads: CPU threads (see :func:`onebyone.perf.timing.time_callable`).

    Returns:
        ``(FLOP/s, timing)``.
    """
    kernel = matmul_kernel(size, device, dtype)
    timing = _time(kernel, device, dtype, min_run_time, num_threads)
    return kernel.workload.flops / timing.median_s, timing


def measure_copy_bandwidth(
    device: torch.device | str = "cpu",
    megabytes: int = 256,
    min_run_time: float = 0.5,
    num_threads: int | None = None,
) -> tuple[float, Timing]:
    """The device's achievable memory bandwidth: a large device-to-device copy, timed.

    Why: see :func:`copy_kernel` (256 MB by default, much larger than the caches).

    Args:
        device: where to copy.
        megabytes: size of the source buffer, in MB (10^6 bytes).
        min_run_time: seconds of timed calls.
        num_threads: CPU threads (see :func:`onebyone.perf.timing.time_callable`).

    Returns:
        ``(bytes/s, timing)``.
    """
    kernel = copy_kernel(megabytes, device)
    timing = _time(kernel, device, torch.float32, min_run_time, num_threads)
    return kernel.workload.bytes_moved / timing.median_s, timing


def measure_roofline(
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    matmul_size: int = 4096,
    copy_megabytes: int = 256,
    min_run_time: float = 0.5,
    num_threads: int | None = None,
) -> Roofline:
    """Measure this device's roof: :func:`measure_matmul_rate` and :func:`measure_copy_bandwidth`.

    Args:
        device, dtype: where, and in which format the matrix product runs.
        matmul_size: ``n`` of the square GEMM.
        copy_megabytes: size of the copied buffer, in MB.
        min_run_time: seconds of timed calls for each of the two measurements.
        num_threads: CPU threads.

    Raises:
        TypeError, ValueError: a size that is not a positive integer, or a bad ``min_run_time``
            (checked before anything is measured).
    """
    matmul_size, copy_megabytes = validation.check_positive_integers(
        matmul_size=matmul_size, copy_megabytes=copy_megabytes)
    validation.positive_number("min_run_time", min_run_time)
    peak, matmul = measure_matmul_rate(device, dtype, matmul_size, min_run_time, num_threads)
    bandwidth, _ = measure_copy_bandwidth(device, copy_megabytes, min_run_time, num_threads)
    dtype_name = str(dtype).removeprefix("torch.")
    return Roofline(peak, bandwidth, label=f"measured on {matmul.device_name}, {dtype_name}")
