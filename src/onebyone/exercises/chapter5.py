"""Checks for the exercises of Chapter 5 (timing, arithmetic intensity and the roofline).

Each expected value is computed here from the package's roofline model
(``onebyone.perf.roofline``) and datasheet table (``onebyone.perf.gpu_specs``), never typed in.
"""

from __future__ import annotations

from onebyone.bottleneck import compare_bottleneck
from onebyone.exercises.checks import (
    FLOPS_NOT_MACS,
    expect_close,
    expect_integer,
    passed,
)
from onebyone.perf.gpu_specs import load_gpu_specs
from onebyone.perf.roofline import compute_bound_channels, pointwise_conv_workload

# The layer of exercises 1 and 2: 256 -> 256 channels on 32 images of 28 x 28, float32.
LAYER = {"batch_size": 32, "in_channels": 256, "out_channels": 256, "height": 28, "width": 28}
REDUCTION = {**LAYER, "out_channels": 16}
"""Exercise 2's second layer: a 1x1 reduction of the same pixels from 256 to 16 channels, whose
intensity (about 7.5 FLOP/byte) is below the A100's float32 ridge point (about 9.6), so that it
waits on memory while ``LAYER`` waits on arithmetic: an answer must take each layer's larger
time, and neither the arithmetic nor the memory time alone gives the sum."""
FLOAT32_BYTES = 4


def check_pointwise_intensity(answer: object) -> None:
    """Exercise 1: arithmetic intensity (FLOP/byte) of the 1x1 layer of ``LAYER`` in float32."""
    work = pointwise_conv_workload(**LAYER, bytes_per_element=FLOAT32_BYTES)
    weight_bytes = FLOAT32_BYTES * LAYER["in_channels"] * LAYER["out_channels"]
    mistakes = [
        (work.intensity / 2, "that is MACs per byte: count FLOPs, two per multiply-accumulate"),
        (work.intensity * FLOAT32_BYTES, "that is FLOPs per number: a float32 number is 4 bytes"),
        (work.flops / (work.bytes_moved - weight_bytes),
         "the layer reads its weight too: count its bytes with the input's and the output's"),
    ]
    expect_close(answer, work.intensity, "the arithmetic intensity (FLOP/byte)", rel_tol=1e-3,
                 mistakes=mistakes)
    passed("FLOPs / (input + weight + output bytes)")


def check_a100_seconds(answer: object) -> None:
    """Exercise 2: the roofline's least time (seconds) on an A100 in float32 of the layer of
    ``LAYER`` plus that of :data:`REDUCTION`, each layer's time the larger of its arithmetic
    time and its memory time."""
    a100 = load_gpu_specs()["A100"]
    roof = a100.roofline("float32")
    works = [pointwise_conv_workload(**layer, bytes_per_element=FLOAT32_BYTES)
             for layer in (LAYER, REDUCTION)]
    expected = sum(a100.predict_seconds(work, "float32") for work in works)
    compute = [work.flops / roof.peak_flops_per_s for work in works]
    memory = [work.bytes_moved / roof.bandwidth_bytes_per_s for work in works]
    mistakes = [
        (sum(compute), "that is the arithmetic time alone: the reduction to 16 channels waits "
                       "on memory, so its time is its memory time"),
        (sum(memory), "that is the memory time alone: the 256-channel layer waits on "
                      "arithmetic, so its time is its arithmetic time"),
        (sum(compute) + sum(memory), "that adds each layer's arithmetic and memory times: "
                                     "the roofline takes the larger of the two, not their sum"),
        (max(compute[0], memory[0]), "that is the first layer alone: add the reduction's time"),
        (max(compute[1], memory[1]), "that is the reduction alone: add the first layer's time"),
    ]
    expect_close(answer, expected, "the predicted time (seconds)", rel_tol=1e-3,
                 mistakes=mistakes)
    passed("each layer takes max(FLOPs / peak, bytes / bandwidth): a prediction, a lower bound")


def check_compute_bound_channels(answer: object) -> None:
    """Exercise 3: the fewest channels ``C = C_in = C_out`` at which the 1x1 layer of ``LAYER``'s
    pixels is compute-bound on an H100 in float32 (intensity at least the datasheet ridge point).
    """
    h100 = load_gpu_specs()["H100"]
    channels = compute_bound_channels(h100.roofline("float32"), LAYER["batch_size"],
                                      LAYER["height"], LAYER["width"], FLOAT32_BYTES)
    mistakes = [(channels - 1, "at that width the intensity is still below the ridge point")]
    expect_integer(answer, channels, "the channel count", mistakes)
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
    direct, bottleneck = comparison.direct.macs, comparison.bottleneck.macs
    pixels = PREDICTION["height"] * PREDICTION["width"]
    c_in, c_out = PREDICTION["in_channels"], PREDICTION["out_channels"]
    reduced, k_squared = PREDICTION["reduced_channels"], PREDICTION["kernel_size"] ** 2
    no_k_squared = ("a 3x3 convolution does k^2 = 9 multiply-accumulates per input and output "
                    "channel: is k^2 there?")
    expect_integer(direct_macs, direct, "the direct 3x3 convolution's MACs",
                   [(2 * direct, FLOPS_NOT_MACS), (direct // k_squared, no_k_squared)])
    expect_integer(bottleneck_macs, bottleneck,
                   "the bottleneck path's MACs (the 1x1 and the 3x3 layer together)",
                   [(2 * bottleneck, FLOPS_NOT_MACS),
                    (pixels * reduced * (c_in + c_out), no_k_squared),
                    (pixels * reduced * k_squared * c_out,
                     "add the 1x1 reduction's multiply-accumulates")])
    expect_close(predicted_speedup, comparison.mac_ratio,
                 "the predicted speedup (direct MACs / bottleneck MACs)", rel_tol=1e-6,
                 mistakes=[(1 / comparison.mac_ratio,
                            "upside down: the speedup is direct MACs over bottleneck MACs")])
    passed(f"a {comparison.mac_ratio:.2f}-fold MAC saving: now see what the clock says")


def check_reduction_intensity(answer: object) -> None:
    """Exercise 1 (as the chapter now asks it): the arithmetic intensity (FLOP/byte) of the 1x1
    reduction :data:`REDUCTION`, 256 -> 16 channels on the pixels of ``LAYER``, in float32.

    Why this layer and not ``LAYER`` itself: the chapter's channel sweep prints the intensity of
    a 256-channel 1x1 convolution on these pixels, so that answer would be read, not computed;
    the reduction's, about 7.5 FLOP/byte, is printed nowhere, and it is the layer that waits on
    memory in exercise 2. (Leaving out the weight's bytes is no slip here: 16 KB against 27 MB
    of input and output, inside the tolerance of a thousandth.)
    """
    work = pointwise_conv_workload(**REDUCTION, bytes_per_element=FLOAT32_BYTES)
    square = pointwise_conv_workload(**LAYER, bytes_per_element=FLOAT32_BYTES)
    mistakes = [
        (work.intensity / 2, "that is MACs per byte: count FLOPs, two per multiply-accumulate"),
        (work.intensity * FLOAT32_BYTES, "that is FLOPs per number: a float32 number is 4 bytes"),
        (square.intensity, "that is the 256 -> 256 layer: the reduction writes 16 channels"),
        (REDUCTION["out_channels"] / FLOAT32_BYTES,
         "C / b holds only when C_in = C_out: count the input's 256 channels and the output's 16"),
    ]
    expect_close(answer, work.intensity, "the reduction's arithmetic intensity (FLOP/byte)",
                 rel_tol=1e-3, mistakes=mistakes)
    passed("FLOPs / (input + weight + output bytes): few FLOPs per byte, so it waits on memory")
