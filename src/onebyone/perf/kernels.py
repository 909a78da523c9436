"""Which kernel ran: the profiler's names for the work behind one call.

Why: the same mathematics goes to different library kernels depending on the memory layout,
the batch size, the dtype and the device. On one CPU thread, PyTorch 2.13 computes a 1x1
convolution on a small NCHW batch with ``aten::_slow_conv2d_forward`` (an im2col and a BLAS
matrix product) but a 5x5 one with ``aten::mkldnn_convolution`` (oneDNN). A rate measured on
one kernel says nothing about another, so every measurement of Chapter 5 records the kernels
that took its time, read with ``torch.profiler``.

On a CPU the names are PyTorch operators (``aten::...``), ranked by their *self* time (time not
spent in an operator they call); on CUDA they are the GPU kernels themselves, ranked by device
time.
"""

from __future__ import annotations

import contextlib
import copy
import os
import sys
from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from onebyone import validation

SHARE = 0.1
"""A kernel is named when it takes at least this share of the profiled time (10 %)."""

ALLOCATION = frozenset({"aten::empty", "aten::empty_strided", "aten::resize_"})
"""Operators that only allocate memory: never named as the kernel that did the work."""


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence the profiler's native log lines ("profiler_start") on file descriptor 2.

    Why: PyTorch's profiler library writes them from C++, where Python cannot catch them; in a
    notebook they would appear as stderr output of the cell.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (an embedded interpreter)
        yield
        return
    try:
        with open(os.devnull, "w", encoding="utf-8") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


WRAPPERS = frozenset({"aten::conv2d", "aten::convolution", "aten::_convolution"})
"""Dispatcher operators that call a convolution kernel but do none of its work."""


def convolution_kernel(names: tuple[str, ...]) -> str | None:
    """The first of ``names`` that is a convolution kernel (not a dispatcher wrapper), or ``None``.

    ``("aten::max_pool2d_with_indices", "aten::_slow_conv2d_forward")`` gives
    ``"aten::_slow_conv2d_forward"``: the convolution inside a pooling branch.
    """
    return next((name for name in names if "conv" in name and name not in WRAPPERS), None)


@contextlib.contextmanager
def quiet_profile(**options: object) -> Iterator[profile]:
    """``torch.profiler.profile(**options)``, without the profiler's native log lines.

    Example::

        with quiet_profile(record_shapes=True) as profiled:
            layer(x)
        profiled.key_averages(group_by_input_shape=True)
    """
    with _quiet_native_stderr(), profile(**options) as profiler:
        yield profiler


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    """``torch.channels_last`` for a 4-D tensor stored so (and not also contiguous)."""
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(
            memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def top_kernels(
    fn: Callable[[torch.Tensor], object],
    x: torch.Tensor,
    *,
    calls: int = 3,
    most: int = 3,
) -> tuple[str, ...]:
    """The kernels that took the time of ``fn(x)``, largest share first.

    Args:
        fn: the function timed (already warmed up, or the first call's set-up is profiled too),
            or a module: then, as :func:`onebyone.perf.timing.time_callable` does, a copy of it
            on ``x``'s device, in ``x``'s dtype and memory format, in eval mode, is profiled
            (the module itself is not changed).
        x: its input, on the device to profile.
        calls: calls profiled (after one untimed call).
        most: at most this many names; each took at least :data:`SHARE` of the time.

    Returns:
        Names such as ``("aten::mkldnn_convolution",)`` on a CPU or the CUDA kernel names on a
        GPU; ``()`` when nothing took measurable time.
    """
    calls, most = validation.check_positive_integers(calls=calls, most=most)
    validation.tensor("x", x)
    if isinstance(fn, nn.Module):
        fn = copy.deepcopy(fn).to(device=x.device, dtype=x.dtype,
                                  memory_format=_memory_format(x)).eval()
    cuda = x.device.type == "cuda"
    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]
    with torch.inference_mode():
        fn(x)
        if cuda:
            torch.cuda.synchronize(x.device)
        with quiet_profile(activities=activities) as profiler:
            for _ in range(calls):
                fn(x)
            if cuda:
                torch.cuda.synchronize(x.device)
    events = profiler.key_averages()
    if cuda:
        times = {event.key: event.self_device_time_total for event in events
                 if event.device_type == torch.autograd.DeviceType.CUDA}
    else:
        times = {event.key: event.self_cpu_time_total for event in events}
    total = sum(times.values())
    if total <= 0:
        return ()
    ranked = sorted(((name, time) for name, time in times.items() if name not in ALLOCATION),
                    key=lambda item: item[1], reverse=True)
    return tuple(name for name, time in ranked[:most] if time >= SHARE * total)
