"""Tests of the roofline model, the 1x1 workload, the measured roof and the plot."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from onebyone.perf import peak
from onebyone.perf.peak import measure_copy_bandwidth, measure_matmul_rate, measure_roofline
from onebyone.perf.roofline import (
    Roofline,
    Workload,
    compute_bound_channels,
    fma_units_per_cycle,
    instruction_set_peak,
    layer_workloads,
    pointwise_conv_workload,
)
from onebyone.plotting import plot_roofline

positive = st.floats(min_value=1e-3, max_value=1e6)


@given(peak=positive, bandwidth=positive, intensity=positive)
def test_attainable_is_the_lower_of_the_two_roofs(peak, bandwidth, intensity):
    roof = Roofline(peak, bandwidth)
    attainable = roof.attainable(intensity)
    assert attainable <= peak * (1 + 1e-12) and attainable <= intensity * bandwidth * (1 + 1e-12)
    assert attainable == pytest.approx(min(peak, intensity * bandwidth))


def test_ridge_point_separates_memory_and_compute_bound():
    roof = Roofline(peak_flops_per_s=100e12, bandwidth_bytes_per_s=2e12)  # ridge: 50 FLOP/byte
    assert roof.ridge_intensity == 50
    assert roof.attainable(10) == 10 * 2e12  # memory-bound: on the slanted roof
    assert roof.attainable(200) == 100e12  # compute-bound: on the flat roof


def test_seconds_is_the_slower_of_compute_and_traffic():
    roof = Roofline(peak_flops_per_s=1e12, bandwidth_bytes_per_s=1e11)
    assert roof.seconds(flops=2e12, bytes_moved=1e10) == pytest.approx(2.0)  # 2 s vs 0.1 s
    assert roof.seconds(flops=1e9, bytes_moved=1e11) == pytest.approx(1.0)  # 1 ms vs 1 s


def test_a_kernel_without_arithmetic_or_without_traffic_has_a_time():
    roof = Roofline(peak_flops_per_s=1e12, bandwidth_bytes_per_s=1e11)
    assert roof.seconds(flops=0, bytes_moved=2e11) == pytest.approx(2.0)  # a copy: no FLOPs
    assert roof.seconds(flops=0.5e12, bytes_moved=0) == pytest.approx(0.5)  # nothing moved


@settings(max_examples=30, deadline=None)
@given(
    batch=st.integers(1, 3),
    in_channels=st.integers(1, 9),
    out_channels=st.integers(1, 9),
    height=st.integers(1, 6),
    width=st.integers(1, 6),
)
def test_pointwise_workload_matches_flop_counter_and_tensor_sizes(
    batch, in_channels, out_channels, height, width
):
    conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
    x = torch.randn(batch, in_channels, height, width)
    with FlopCounterMode(display=False) as counter:
        y = conv(x)
    work = pointwise_conv_workload(batch, in_channels, out_channels, height, width, 4)
    assert work.flops == counter.get_total_flops()
    tensors = (x, conv.weight, y)
    assert work.bytes_moved == sum(t.numel() * t.element_size() for t in tensors)


def test_intensity_of_a_wide_layer_tends_to_channels_over_bytes_per_element():
    # 10^6 pixels, 64 channels: weight bytes are negligible, I -> C / 4 in float32.
    work = pointwise_conv_workload(1, 64, 64, 1000, 1000, 4)
    assert work.intensity == pytest.approx(64 / 4, rel=1e-3)
    assert Workload(flops=10, bytes_moved=4).intensity == 2.5


def test_layer_workloads_by_hand_for_the_bottleneck():
    reduced = nn.Sequential(nn.Conv2d(192, 16, 1, bias=False),
                            nn.Conv2d(16, 32, 5, padding=2, bias=False))
    reduce, spatial = layer_workloads(reduced, (2, 192, 28, 28), bytes_per_element=2)
    pixels = 2 * 28 * 28
    assert reduce.flops == 2 * pixels * 192 * 16
    assert reduce.bytes_moved == 2 * (pixels * 192 + 16 * 192 + pixels * 16)
    assert spatial.flops == 2 * pixels * 32 * 16 * 25
    assert spatial.bytes_moved == 2 * (pixels * 16 + 32 * 16 * 25 + pixels * 32)
    x = torch.randn(2, 192, 28, 28)
    with FlopCounterMode(display=False) as counter:
        reduced(x)
    assert reduce.flops + spatial.flops == counter.get_total_flops()


def test_measured_rates_are_consistent_with_their_timings():
    rate, timing = measure_matmul_rate("cpu", size=64, min_run_time=0.02, num_threads=1)
    assert rate == pytest.approx(2 * 64**3 / timing.median_s)
    bandwidth, copy = measure_copy_bandwidth("cpu", megabytes=4, min_run_time=0.02, num_threads=1)
    assert bandwidth == pytest.approx(2 * 4 * 10**6 / copy.median_s)
    assert copy.input_shape == (10**6,)


def test_measure_roofline_on_cpu_is_positive_and_labelled():
    roof = measure_roofline("cpu", matmul_size=64, copy_megabytes=2, min_run_time=0.02)
    assert roof.peak_flops_per_s > 0 and roof.bandwidth_bytes_per_s > 0
    assert roof.label.startswith("measured on ") and roof.label.endswith("float32")


@pytest.mark.parametrize("threads", [None, 2])
def test_measure_roofline_passes_its_settings_to_both_measurements(monkeypatch, threads):
    calls = {}

    def matmul(*args):
        calls["matmul"] = args
        return 5e10, SimpleNamespace(device_name="Test CPU")

    def copy(*args):
        calls["copy"] = args
        return 2e10, None

    monkeypatch.setattr(peak, "measure_matmul_rate", matmul)
    monkeypatch.setattr(peak, "measure_copy_bandwidth", copy)
    options = {} if threads is None else {"num_threads": threads}
    roof = measure_roofline(dtype=torch.bfloat16, **options)
    # the defaults: a 4096 x 4096 GEMM, a 256 MB copy, 0.5 s of timed calls, on the CPU
    assert calls["matmul"] == ("cpu", torch.bfloat16, 4096, 0.5, threads)
    assert calls["copy"] == ("cpu", 256, 0.5, threads)
    assert (roof.peak_flops_per_s, roof.bandwidth_bytes_per_s) == (5e10, 2e10)
    assert roof.label == "measured on Test CPU, bfloat16"


def test_plot_roofline_draws_one_line_per_roof_and_the_points():
    roofs = [Roofline(1e11, 1e10, "a"), Roofline(1e12, 1e11, "b")]
    figure = plot_roofline(roofs, [1.0, 100.0], [5e9, 9e10], ["x", "y"])
    assert isinstance(figure, Figure)
    axes = figure.axes[0]
    assert len(axes.lines) == 3  # two roofs and the measured points
    assert axes.get_xscale() == "log" and axes.get_yscale() == "log"
    assert "FLOP/byte" in axes.get_xlabel() and "GFLOP/s" in axes.get_ylabel()
    assert [line.get_label() for line in axes.lines] == ["a", "b", "measured"]
    predicted = plot_roofline(roofs, [1.0], [1e9], points_label="predicted").axes[0]
    assert predicted.lines[-1].get_label() == "predicted"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: Roofline(0, 1), "peak_flops_per_s must be positive"),
        (lambda: Roofline(1, 1).attainable(0), "must be positive"),
        (lambda: Roofline(1, 1).seconds(-1, 0), "must be >= 0"),
        (lambda: pointwise_conv_workload(1, 0, 1, 1, 1), "in_channels must be a positive integer"),
        (lambda: measure_matmul_rate(size=0), "size must be a positive integer"),
        (lambda: layer_workloads(nn.Linear(2, 2), (1, 2), 0), "bytes_per_element must be"),
        (lambda: measure_copy_bandwidth(megabytes=0), "megabytes must be a positive integer"),
        (lambda: plot_roofline([]), "at least one roofline"),
        (lambda: plot_roofline([Roofline(1, 1)], [1.0], []), "1 intensities but 0 rates"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_compute_bound_channels_is_the_exact_threshold():
    roof = Roofline(67e12, 3350e9)  # the H100's float32 datasheet roof: ridge 20 FLOP/byte
    channels = compute_bound_channels(roof, 32, 28, 28, 4)
    assert channels == 81  # Chapter 5's exercise, by counting up
    assert pointwise_conv_workload(32, 81, 81, 28, 28, 4).intensity >= roof.ridge_intensity
    assert pointwise_conv_workload(32, 80, 80, 28, 28, 4).intensity < roof.ridge_intensity
    assert compute_bound_channels(Roofline(1e15, 1e9), 1, 2, 2, 4) is None  # never


@settings(max_examples=30, deadline=None)
@given(ridge=st.floats(0.5, 400), pixels=st.sampled_from([(1, 4, 4), (8, 28, 28), (32, 7, 7)]),
       element_bytes=st.sampled_from([2, 4]))
def test_compute_bound_channels_agrees_with_counting_up(ridge, pixels, element_bytes):
    roof = Roofline(ridge * 1e9, 1e9)
    found = compute_bound_channels(roof, *pixels, element_bytes)
    counted = next((c for c in range(1, 20000)
                    if pointwise_conv_workload(pixels[0], c, c, pixels[1], pixels[2],
                                               element_bytes).intensity >= ridge), None)
    assert found == counted


def test_instruction_set_peak():
    assert instruction_set_peak("AVX2 FMA AVX-512", 2000, 1, fma_units=2) == 2e9 * 16 * 4
    assert instruction_set_peak("AVX2 FMA", 2000, 2, fma_units=2) == pytest.approx(
        2e9 * 8 * 4 * 2)
    # Zen 4 at the reviewer's 2596 MHz: one 512-bit FMA per cycle, about 83 GFLOP/s
    assert instruction_set_peak("AVX2 FMA AVX-512", 2596, 1, fma_units=1) == pytest.approx(
        2596e6 * 16 * 2)
    assert instruction_set_peak("AVX2", None, 1, fma_units=2) is None
    assert instruction_set_peak("", 3000, 1, fma_units=2) is None
    assert instruction_set_peak("AVX2 FMA", 3000, 1, fma_units=None) is None
    with pytest.raises(ValueError):
        instruction_set_peak("AVX2", 3000, 1, fma_units=0)


def test_fma_units_per_microarchitecture():
    zen4 = "AMD EPYC (family 25, model 17)"
    assert fma_units_per_cycle(zen4, "AVX2 FMA AVX-512 AVX512-BF16") == 1
    assert fma_units_per_cycle("AMD EPYC 7763 (family 25, model 1)", "AVX2 FMA") == 2  # Zen 3
    assert fma_units_per_cycle("AMD EPYC 7742 (family 23, model 49)", "AVX2 FMA") == 2  # Zen 2
    assert fma_units_per_cycle("Intel(R) Xeon(R) Platinum 8480+ (family 6, model 143)",
                               "AVX2 FMA AVX-512 AMX") == 2
    assert fma_units_per_cycle("AMD EPYC (family 26, model 2)", "AVX2 FMA AVX-512") is None
    assert fma_units_per_cycle("unknown CPU", "AVX2 FMA") is None


@pytest.mark.parametrize(
    ("isa", "units"),
    [
        ("AVX2 FMA", 2),  # Haswell onwards: two 256-bit FMA units
        ("AVX-512", 2),  # AVX-512 alone is enough to name a server core
        ("AVX2", None),  # no FMA: not in the table
        ("", None),  # an Atom-class core without AVX
    ],
)
def test_fma_units_of_intel_cores_follow_their_instruction_sets(isa, units):
    assert fma_units_per_cycle("Intel(R) Xeon(R) CPU (family 6, model 63)", isa) == units


def test_point_labels_of_a_dense_sweep_do_not_overlap():
    roof = Roofline(67e12, 3350e9)
    channels = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
    works = [pointwise_conv_workload(32, c, c, 28, 28, 4) for c in channels]
    figure = plot_roofline([roof], [w.intensity for w in works],
                           [roof.attainable(w.intensity) for w in works],
                           point_labels=[f"C={c}" for c in channels])
    FigureCanvasAgg(figure).draw()
    renderer = figure.canvas.get_renderer()
    boxes = [text.get_window_extent(renderer) for text in figure.axes[0].texts]
    assert len(boxes) == len(channels)
    inside = figure.axes[0].get_window_extent(renderer)
    assert all(inside.y0 <= box.y0 and box.y1 <= inside.y1 for box in boxes)  # not on the title
    for index, box in enumerate(boxes):
        for other in boxes[index + 1:]:
            assert not box.overlaps(other)


def test_compute_bound_channels_at_the_edge_of_never():
    # one float32 pixel: the intensity 2C / (4 (2 + C)) rises towards 0.5 FLOP/byte; it reaches
    # a ridge of 0.375 exactly at C = 6 (12 / 32), where 2P - r b is only 0.5
    assert compute_bound_channels(Roofline(0.375, 1.0), 1, 1, 1, 4) == 6
    assert compute_bound_channels(Roofline(0.375, 1.0), 1, 1, 1) == 6  # float32 by default
    # a ridge of exactly 0.5 is reached by no width (2P - r b = 0): never, not a division by zero
    assert compute_bound_channels(Roofline(0.5, 1.0), 1, 1, 1, 4) is None


def test_compute_bound_channels_names_the_wrong_roof_type():
    with pytest.raises(TypeError, match=r"^roof must be a Roofline, got str$"):
        compute_bound_channels("H100", 1, 1, 1)


@pytest.mark.parametrize("intensity, error, match", [
    (float("nan"), ValueError, "intensity must be finite, got nan"),  # min() gave the peak
    (float("inf"), ValueError, "intensity must be finite, got inf"),
    (-1.0, ValueError, "intensity must be positive, got -1.0"),
    ("10", TypeError, "intensity must be a real number, got '10'"),
    (True, TypeError, "intensity must be a real number, got True"),
])
def test_attainable_refuses_what_is_not_an_intensity(intensity, error, match):
    with pytest.raises(error, match=match):
        Roofline(100e12, 2e12).attainable(intensity)


@pytest.mark.parametrize("flops, bytes_moved, error, match", [
    (float("nan"), 1, ValueError, "flops must be finite"),
    (1, float("inf"), ValueError, "bytes_moved must be finite"),
    (1, -1, ValueError, "bytes_moved must be >= 0, got -1"),
    ("1", 1, TypeError, "flops must be a real number"),
])
def test_seconds_refuses_what_is_not_a_count(flops, bytes_moved, error, match):
    with pytest.raises(error, match=match):
        Roofline(100e12, 2e12).seconds(flops, bytes_moved)
