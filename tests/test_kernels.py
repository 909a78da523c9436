"""Tests of the kernel names read from the profiler: dispatch that depends on batch and layout."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.profiler import ProfilerActivity

from onebyone.perf import kernels
from onebyone.perf.kernels import convolution_kernel, quiet_profile, top_kernels


def test_a_matrix_product_is_named_as_such():
    other = torch.randn(64, 64)
    assert top_kernels(lambda x: torch.mm(x, other), torch.randn(64, 64)) == ("aten::mm",)


def test_max_pooling_names_its_kernel():
    names = top_kernels(nn.MaxPool2d(3, 1, 1), torch.randn(1, 8, 16, 16))
    assert names[0].startswith("aten::max_pool2d")


def test_the_same_convolution_dispatches_by_batch_size():
    torch.manual_seed(0)
    conv = nn.Conv2d(32, 16, 1, bias=False).eval()
    small = top_kernels(conv, torch.randn(1, 32, 14, 14))
    large = top_kernels(conv, torch.randn(32, 32, 14, 14))
    assert small and large
    assert all("conv" in name for name in small[:1] + large[:1])  # a convolution kernel first


def test_nothing_is_printed_by_the_profiler(capfd):
    top_kernels(lambda x: x + 1, torch.randn(8))
    assert capfd.readouterr().err == ""


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="calls must be a positive integer"):
        top_kernels(lambda x: x, torch.randn(2), calls=0)


def test_quiet_profile_profiles_and_prints_nothing(capfd):
    with quiet_profile(record_shapes=True) as profiled:
        torch.mm(torch.randn(4, 5), torch.randn(5, 6))
    shapes = [event.input_shapes for event in profiled.key_averages(group_by_input_shape=True)
              if event.key == "aten::mm"]
    assert shapes == [[[4, 5], [5, 6]]]
    assert capfd.readouterr().err == ""


def test_the_convolution_kernel_is_picked_out_of_wrappers_and_pooling():
    names = ("aten::max_pool2d_with_indices", "aten::_convolution", "aten::_slow_conv2d_forward")
    assert convolution_kernel(names) == "aten::_slow_conv2d_forward"
    assert convolution_kernel(("aten::max_pool2d_with_indices",)) is None


def script_profile(monkeypatch, self_times, events=None):
    """Replace the profiler by one that reports scripted self times (microseconds) per kernel.

    Returns the list of the options each profile was opened with.
    """
    if events is None:
        events = [SimpleNamespace(key=key, self_cpu_time_total=us)
                  for key, us in self_times.items()]
    opened = []

    @contextlib.contextmanager
    def scripted(**options):
        opened.append(options)
        yield SimpleNamespace(key_averages=lambda: events)

    monkeypatch.setattr(kernels, "quiet_profile", scripted)
    return opened


@pytest.mark.parametrize(
    ("self_times", "named"),
    [
        ({"a": 20, "b": 20, "c": 20, "d": 20, "e": 20}, ("a", "b", "c")),  # at most three
        ({"a": 90, "b": 10}, ("a", "b")),  # exactly the 10 % share still counts
        ({"a": 1}, ("a",)),  # one microsecond is measurable time
        ({"a": 0}, ()),  # nothing took time
    ],
)
def test_kernels_are_named_by_share_of_the_profiled_time(monkeypatch, self_times, named):
    script_profile(monkeypatch, self_times)
    assert top_kernels(lambda x: x, torch.zeros(1)) == named


def test_one_untimed_call_then_three_profiled_by_default(monkeypatch):
    script_profile(monkeypatch, {"a": 1})
    calls = []
    top_kernels(calls.append, torch.zeros(1))
    assert len(calls) == 1 + 3


class OnGpu(torch.Tensor):
    """A CPU tensor that says it lives on a GPU: the CUDA branch without a GPU."""

    @property
    def device(self):
        return torch.device("cuda")


def test_on_a_cpu_only_the_cpu_is_profiled_and_nothing_synchronised(monkeypatch):
    synchronised = []
    monkeypatch.setattr(torch.cuda, "synchronize", synchronised.append)
    opened = script_profile(monkeypatch, {"a": 1})
    assert top_kernels(lambda x: x, torch.zeros(1)) == ("a",)
    assert opened == [{"activities": [ProfilerActivity.CPU]}]
    assert synchronised == []


def test_on_a_gpu_the_kernels_are_ranked_by_their_device_time(monkeypatch):
    """The CPU-side operators launch the kernels; only the GPU's own events are ranked."""
    synchronised = []
    monkeypatch.setattr(torch.cuda, "synchronize", synchronised.append)
    cpu, gpu = torch.autograd.DeviceType.CPU, torch.autograd.DeviceType.CUDA
    events = [
        SimpleNamespace(key="aten::mm", device_type=cpu, self_cpu_time_total=500,
                        self_device_time_total=100),  # the launch, on the host
        SimpleNamespace(key="sgemm_128x64", device_type=gpu, self_cpu_time_total=0,
                        self_device_time_total=90),
        SimpleNamespace(key="add_kernel", device_type=gpu, self_cpu_time_total=0,
                        self_device_time_total=10),
    ]
    opened = script_profile(monkeypatch, None, events)
    x = torch.zeros(1).as_subclass(OnGpu)
    assert top_kernels(lambda x: x, x) == ("sgemm_128x64", "add_kernel")
    assert opened == [{"activities": [ProfilerActivity.CPU, ProfilerActivity.CUDA]}]
    # after the untimed call and after the profiled ones: the GPU's queued work is waited for
    assert synchronised == [torch.device("cuda")] * 2
