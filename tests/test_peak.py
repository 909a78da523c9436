"""Tests of the two kernels of the measured roof and what their measurements hand to the harness.

The rates are checked on a fake clock: the real harness (:func:`time_callable`) times the
kernel, but each call advances a scripted clock by a fixed cost, so the median is known and the
rate must be the kernel's FLOPs (or bytes) over it. No test reads a real clock.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from onebyone.perf import peak
from onebyone.perf.peak import (
    PeakKernel,
    copy_kernel,
    matmul_kernel,
    measure_copy_bandwidth,
    measure_matmul_rate,
)
from onebyone.perf.roofline import Workload
from onebyone.perf.timing import make_input, time_callable

COST_S = 2e-3  # the fake clock's seconds per call


def time_on_a_fake_clock(monkeypatch) -> list[object]:
    """Let the real harness time every kernel on a clock that moves COST_S per call.

    Returns the list of devices the harness was asked to time on.
    """
    clock = SimpleNamespace(now=0.0)
    devices = []

    def harness(fn, input_shape, **options):
        devices.append(options.get("device"))

        def call(x):
            fn(x)
            clock.now += COST_S

        return time_callable(call, input_shape, timer=lambda: clock.now, **options)

    monkeypatch.setattr(peak, "time_callable", harness)
    return devices


def test_the_matmul_kernel_is_2_n_cubed_flops_and_three_n_by_n_matrices():
    kernel = matmul_kernel(3)  # on the CPU by default, float32
    assert kernel.input_shape == (3, 3)
    assert kernel.workload == Workload(flops=2 * 3**3, bytes_moved=3 * 3 * 3 * 4)
    assert kernel.label == "matmul 3x3 @ 3x3"
    double = matmul_kernel(2, "cpu", torch.float64)
    assert double.workload == Workload(flops=2 * 2**3, bytes_moved=3 * 2 * 2 * 8)


def test_the_matmul_kernel_multiplies_by_a_second_matrix_not_by_the_timed_input():
    """The other factor is the harness's input of seed 1; the timed input is its seed 0."""
    x = make_input((4, 4))  # what time_callable times: seed 0
    product = matmul_kernel(4).function(x)
    assert torch.equal(product, torch.mm(x, make_input((4, 4), seed=1)))
    assert not torch.allclose(product, x @ x)


def test_the_copy_kernel_moves_each_float32_byte_twice():
    kernel = copy_kernel(1)  # 1 MB = 10^6 bytes = 250,000 float32, on the CPU by default
    source = torch.arange(250_000, dtype=torch.float32)
    assert torch.equal(kernel.function(source), source)  # destination.copy_(source)
    assert kernel.input_shape == (250_000,)
    assert kernel.workload == Workload(flops=0, bytes_moved=2 * 10**6)
    assert kernel.label == "copy 1 MB"


def test_the_kernels_are_made_on_the_device_asked(monkeypatch):
    """The meta device stands in for a GPU for the copy; the matmul's factor is recorded."""
    made = []

    def make_here(shape, **options):
        made.append(options["device"])
        return make_input(shape, **{**options, "device": "cpu"})

    monkeypatch.setattr(peak, "make_input", make_here)
    matmul_kernel(2, torch.device("cuda"))
    assert made == [torch.device("cuda")]
    assert copy_kernel(1, "meta").function.__self__.device.type == "meta"  # destination.copy_


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_matmul_rate_is_its_flops_over_the_median_call(monkeypatch, dtype):
    devices = time_on_a_fake_clock(monkeypatch)
    threads = torch.get_num_threads() + 1  # not the default, so it must be passed on
    rate, timing = measure_matmul_rate("cpu", dtype, size=4, min_run_time=0.01,
                                       num_threads=threads)
    assert timing.median_s == pytest.approx(COST_S)
    assert rate == pytest.approx(2 * 4**3 / COST_S)  # 2 n^3 FLOPs per call
    assert (timing.label, timing.input_shape) == ("matmul 4x4 @ 4x4", (4, 4))
    assert timing.dtype == str(dtype).removeprefix("torch.")
    assert (timing.num_threads, devices) == (threads, ["cpu"])


def test_the_copy_bandwidth_is_its_bytes_over_the_median_call(monkeypatch):
    devices = time_on_a_fake_clock(monkeypatch)
    threads = torch.get_num_threads() + 1
    bandwidth, timing = measure_copy_bandwidth("cpu", megabytes=1, min_run_time=0.01,
                                               num_threads=threads)
    assert bandwidth == pytest.approx(2 * 10**6 / COST_S)  # read once, written once
    assert (timing.label, timing.input_shape, timing.dtype) == ("copy 1 MB", (250_000,), "float32")
    assert (timing.num_threads, devices) == (threads, ["cpu"])


def test_the_copy_is_timed_on_the_device_measured(monkeypatch):
    asked = []  # the meta device stands in for a GPU: tensors without memory
    monkeypatch.setattr(peak, "time_callable",
                        lambda fn, shape, **kw: asked.append((fn, kw["device"])) or
                        SimpleNamespace(median_s=0.5))
    bandwidth, _ = measure_copy_bandwidth("meta", megabytes=1, min_run_time=0.01, num_threads=1)
    assert bandwidth == 2 * 10**6 / 0.5
    ((copy, device),) = asked
    assert device == "meta" and copy.__self__.device.type == "meta"  # destination.copy_


def test_the_measurements_default_to_a_4096_gemm_and_a_256_mb_copy_for_half_a_second(monkeypatch):
    made, timed = [], []

    def kernel(*args):
        made.append(args)
        return PeakKernel(lambda x: None, (1,), Workload(flops=8, bytes_moved=4), "k")

    monkeypatch.setattr(peak, "matmul_kernel", kernel)
    monkeypatch.setattr(peak, "copy_kernel", kernel)
    monkeypatch.setattr(peak, "_time", lambda *args: timed.append(args[1:]) or
                        SimpleNamespace(median_s=2.0))
    assert measure_matmul_rate()[0] == 8 / 2.0
    assert measure_copy_bandwidth()[0] == 4 / 2.0
    assert made == [(4096, "cpu", torch.float32), (256, "cpu")]
    assert timed == [("cpu", torch.float32, 0.5, None)] * 2
