"""Depthwise-separable convolution: cost ratio, FLOPs against PyTorch, workloads."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from onebyone.cost import model_macs
from onebyone.perf.roofline import pointwise_conv_workload
from onebyone.separable import DepthwiseSeparable, depthwise_conv_workload, separable_cost_ratio


@pytest.mark.parametrize(("channels", "kernel"), [(64, 3), (256, 3), (32, 5)])
def test_cost_ratio_matches_the_modules(channels, kernel):
    shape = (1, channels, 16, 16)
    separable = DepthwiseSeparable(channels, channels, kernel_size=kernel)
    standard = nn.Conv2d(channels, channels, kernel, padding=kernel // 2, bias=False)
    ratio = model_macs(separable, shape) / model_macs(standard, shape)
    assert ratio == pytest.approx(separable_cost_ratio(channels, kernel), rel=1e-12)
    weights = sum(p.numel() for m in separable.modules() if isinstance(m, nn.Conv2d)
                  for p in m.parameters())
    assert weights / standard.weight.numel() == pytest.approx(ratio, rel=1e-12)


def test_flops_agree_with_flop_counter_and_stride_halves_the_size():
    layer = DepthwiseSeparable(32, 64, stride=2)
    x = torch.randn(1, 32, 16, 16)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = layer(x)
    assert out.shape == (1, 64, 8, 8)
    assert counter.get_total_flops() == 2 * model_macs(layer, tuple(x.shape))
    assert layer.depthwise.groups == 32 and layer.pointwise.kernel_size == (1, 1)


def test_depthwise_intensity_is_bounded_by_the_kernel():
    narrow = depthwise_conv_workload(1, 16, 28, 28)
    wide = depthwise_conv_workload(1, 1024, 28, 28)
    assert narrow.intensity < 9 / 4 and wide.intensity < 9 / 4
    assert wide.intensity == pytest.approx(narrow.intensity, rel=0.01)
    assert pointwise_conv_workload(1, 1024, 1024, 28, 28).intensity > 50 * wide.intensity
    assert narrow.flops == 2 * model_macs(
        nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False), (1, 16, 28, 28))


@pytest.mark.parametrize(
    ("kernel", "dtype", "workload_kwargs"),
    [(3, torch.float32, {}), (5, torch.bfloat16, {"kernel_size": 5, "bytes_per_element": 2})],
    ids=["defaults-3x3-float32", "5x5-bfloat16"],
)
def test_depthwise_bytes_are_input_weight_and_output_each_once(kernel, dtype, workload_kwargs):
    """The least traffic: every element of x, of the weight and of y read or written once."""
    with torch.device("meta"):  # sizes only
        conv = nn.Conv2d(6, 6, kernel, padding=kernel // 2, groups=6, bias=False, dtype=dtype)
        x = torch.empty(2, 6, 7, 5, dtype=dtype)
        y = conv(x)  # 2 x 6 x 7 x 5
    expected = sum(t.numel() * t.element_size() for t in (x, conv.weight, y))
    assert depthwise_conv_workload(2, 6, 7, 5, **workload_kwargs).bytes_moved == expected


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="odd"):
        DepthwiseSeparable(8, 8, kernel_size=2)
    with pytest.raises(ValueError, match="positive"):
        separable_cost_ratio(0, 3)
    with pytest.raises(ValueError, match="positive"):
        depthwise_conv_workload(1, 0, 4, 4)
    with pytest.raises(
        ValueError, match=r"^DepthwiseSeparable: x must be N x 8 x H x W, got 1 x 4 x 5 x 5$"
    ):
        DepthwiseSeparable(8, 8)(torch.randn(1, 4, 5, 5))
