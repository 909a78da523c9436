"""Checks for the exercises of Chapter 5 (timing, arithmetic intensity and the roofline).

Each expected value is computed here from the package's roofline model
(``onebyone.perf.roofline``) and datasheet table (``onebyone.perf.gpu_specs``), never typed in.
"""

from __future__ import annotations

import math

from onebyone.bottleneck import compare_bottleneck
from onebyone.exercises.checks import expect, expect_close, expect_integer, passed
from onebyone.perf.gpu_specs import load_gpu_specs
from onebyone.perf.roofline import compute_bound_channels, pointwise_conv_workload

# The layer of exercises 1 and 2: 256 -> 256 channels on 32 images of 28 x 28, float32.
LAYER = {"batch_size": 32, "in_channels": 256, "out_channels": 256, "height": 28, "width": 28}
FLOAT32_BYTES = 4


def check_pointwise_intensity(answer: object) -> None:
    """Exercise 1: arithmetic intensity (FLOP/byte) of the 1x1 layer of ``LAYER`` in float32."""
    work = pointwise_conv_workload(**LAYER, bytes_per_element=FLOAT32_BYTES)
    expect(isinstance(answer, (int, float)), f"the intensity should be a number, got {answer!r}")
    expect(
        not math.isclose(float(answer), work.intensity / 2, rel_tol=1e-3),
        "that is MACs per byte: count FLOPs, two per multiply-accumulate",
    )
    expect_close(answer, work.intensity, "the arithmetic intensity (FLOP/byte)", rel_tol=1e-3)
    passed("FLOPs / (input + weight + output bytes)")


def check_a100_seconds(answer: object) -> None:
    """Exercise 2: the roofline's predicted time (seconds) of the same layer on an A100, float32."""
    work = pointwise_conv_workload(**LAYER, bytes_per_element=FLOAT32_BYTES)
    a100 = load_gpu_specs()["A100"]
    expected = a100.predict_seconds(work, "float32")
    memory_time = work.bytes_moved / (a100.memory_bandwidth_gb_s * 1e9)
    expect(isinstance(answer, (int, float)), f"the time should be a number, got {answer!r}")
    expect(
        not math.isclose(float(answer), memory_time, rel_tol=1e-3),
        "that is the memory time alone: the layer needs the larger of the two times",
    )
    expect_close(answer, expected, "the predicted time (seconds)", rel_tol=1e-3)
    passed("max(FLOPs / peak, bytes / bandwidth): a prediction, a lower bound")


def check_compute_bound_channels(answer: object) -> None:
    """Exercise 3: the fewest channels ``C = C_in = C_out`` at which the 1x1 layer of ``LAYER``'s
    pixels is compute-bound on an H100 in float32 (intensity at least the datasheet ridge point).
    """
    h100 = load_gpu_specs()["H100"]
    channels = compute_bound_channels(h100.roofline("float32"), LAYER["batch_size"],
                                      LAYER["height"], LAYER["width"], FLOAT32_BYTES)
    expect_integer(answer, channels, "the channel count")
    passed(f"from {channels} channels on, the H100's float32 units are the limit")


# The layers of exercise 4: a "same" 3x3 convolution 256 -> 256 on one 14 x 14 image, directly
# or after a 1x1 reduction to 64 channels.
PREDICTION = {"in_channels": 256, "out_channels": 256, "kernel_size": 3, "height": 14,
              "width": 14, "reduced_channels": 64}


def check_speedup_prediction(
    direct_macs: object, bottleneck_macs: object, predicted_speedup: object
) -> None:
    """Exercise 4: the inputs of a speedup prediction, graded before anything is timed.

    The prediction is the MAC ratio of the layers of ``PREDICTION``: the direct convolution's
    MACs, the bottleneck path's MACs (both layers), and their quotient. The timing that follows
    in the notebook is not graded: it depends on the machine.
    """
    comparison = compare_bottleneck(**PREDICTION)
    expect_integer(direct_macs, comparison.direct.macs, "the direct 3x3 convolution's MACs")
    expect_integer(bottleneck_macs, comparison.bottleneck.macs,
                   "the bottleneck path's MACs (the 1x1 and the 3x3 layer together)")
    expect_close(predicted_speedup, comparison.mac_ratio,
                 "the predicted speedup (direct MACs / bottleneck MACs)", rel_tol=1e-6)
    passed(f"a {comparison.mac_ratio:.2f}-fold MAC saving: now see what the clock says")
