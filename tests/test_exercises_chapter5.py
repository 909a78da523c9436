"""The Chapter 5 checks accept right answers and reject wrong ones, with a hint."""

from __future__ import annotations

import pytest

from onebyone.exercises import chapter5
from onebyone.exercises.checks import ExerciseFailed

# By hand: 32 * 28 * 28 = 25,088 pixels, 256 channels in and out, float32 (4 bytes).
PIXELS = 32 * 28 * 28
FLOPS = 2 * PIXELS * 256 * 256
BYTES = 4 * (PIXELS * 256 + 256 * 256 + PIXELS * 256)


def _said(capsys) -> str:
    """What a check printed, its wrapped lines joined back (checks.passed wraps at 78)."""
    return capsys.readouterr().out.replace("\n  ", " ")



def _hint(check, *answer) -> str:
    """The hint that ``check`` gives for a wrong ``answer``."""
    with pytest.raises(ExerciseFailed) as failure:
        check(*answer)
    return str(failure.value)


def test_intensity(capsys):
    assert chapter5.check_pointwise_intensity(FLOPS / BYTES) is None
    assert _said(capsys) == "Correct: FLOPs / (input + weight + output bytes)\n"
    with pytest.raises(ExerciseFailed, match="MACs per byte"):
        chapter5.check_pointwise_intensity(FLOPS / 2 / BYTES)
    with pytest.raises(ExerciseFailed, match="should be a number"):
        chapter5.check_pointwise_intensity("64")
    assert _hint(chapter5.check_pointwise_intensity, FLOPS / (BYTES - 4 * 256 * 256)) == (
        "the layer reads its weight too: count its bytes with the input's and the output's")
    assert _hint(chapter5.check_pointwise_intensity, 4 * FLOPS / BYTES) == (
        "that is FLOPs per number: a float32 number is 4 bytes")


def test_intensity_rounded_answers_within_a_thousandth():
    """63.675 FLOP/byte, given as 63.7, is right; 31.84 (rounded MACs per byte) is the MAC slip."""
    assert chapter5.check_pointwise_intensity(round(FLOPS / BYTES, 1)) is None
    assert _hint(chapter5.check_pointwise_intensity, round(FLOPS / 2 / BYTES, 2)) == (
        "that is MACs per byte: count FLOPs, two per multiply-accumulate")
    assert _hint(chapter5.check_pointwise_intensity, 60.0) == (
        "the arithmetic intensity (FLOP/byte) is 60.0, which is not right "
        "(relative tolerance 0.001)")
    # C / 4 = 64 exactly is the intensity without the weight's bytes
    assert _hint(chapter5.check_pointwise_intensity, 64.0).startswith(
        "the layer reads its weight too")


COMPUTE_SECONDS, MEMORY_SECONDS = FLOPS / 19.5e12, BYTES / 2039e9  # A100 datasheet, FP32
# the reduction of exercise 2: 256 -> 16 channels on the same pixels
REDUCTION_FLOPS = 2 * PIXELS * 256 * 16
REDUCTION_BYTES = 4 * (PIXELS * 256 + 256 * 16 + PIXELS * 16)
REDUCTION_COMPUTE, REDUCTION_MEMORY = REDUCTION_FLOPS / 19.5e12, REDUCTION_BYTES / 2039e9
RIGHT_SECONDS = max(COMPUTE_SECONDS, MEMORY_SECONDS) + max(REDUCTION_COMPUTE, REDUCTION_MEMORY)


def test_exercise_2_needs_the_roofline_reasoning():
    """The first layer waits on arithmetic and the reduction on memory, so neither time alone
    (nor their sum) is the answer."""
    assert COMPUTE_SECONDS > MEMORY_SECONDS and REDUCTION_MEMORY > REDUCTION_COMPUTE
    wrong = [COMPUTE_SECONDS + REDUCTION_COMPUTE, MEMORY_SECONDS + REDUCTION_MEMORY,
             COMPUTE_SECONDS + MEMORY_SECONDS + REDUCTION_COMPUTE + REDUCTION_MEMORY]
    assert all(abs(w / RIGHT_SECONDS - 1) > 0.01 for w in wrong)


def test_a100_seconds(capsys):
    assert chapter5.check_a100_seconds(RIGHT_SECONDS) is None
    assert _said(capsys) == (
        "Correct: each layer takes max(FLOPs / peak, bytes / bandwidth): a prediction, a lower "
        "bound\n")
    assert _hint(chapter5.check_a100_seconds, COMPUTE_SECONDS + REDUCTION_COMPUTE) == (
        "that is the arithmetic time alone: the reduction to 16 channels waits on memory, so "
        "its time is its memory time")
    assert _hint(chapter5.check_a100_seconds, MEMORY_SECONDS + REDUCTION_MEMORY) == (
        "that is the memory time alone: the 256-channel layer waits on arithmetic, so its time "
        "is its arithmetic time")
    assert _hint(chapter5.check_a100_seconds, COMPUTE_SECONDS + MEMORY_SECONDS
                 + REDUCTION_COMPUTE + REDUCTION_MEMORY).startswith("that adds each layer's")
    assert _hint(chapter5.check_a100_seconds, COMPUTE_SECONDS) == (
        "that is the first layer alone: add the reduction's time")
    assert _hint(chapter5.check_a100_seconds, REDUCTION_MEMORY) == (
        "that is the reduction alone: add the first layer's time")
    with pytest.raises(ExerciseFailed, match="not right"):
        chapter5.check_a100_seconds(FLOPS / 156e12)  # the TF32 tensor-core rate


def test_a100_seconds_rounded_answers_and_hints():
    assert chapter5.check_a100_seconds(float(f"{RIGHT_SECONDS:.4g}")) is None
    assert _hint(chapter5.check_a100_seconds, 1e-4) == (
        "the predicted time (seconds) is 0.0001, which is not right (relative tolerance 0.001)")
    assert _hint(chapter5.check_a100_seconds, "1e-4") == (
        "the predicted time (seconds) should be a number, got str")
    assert "should be a number, got bool" in _hint(chapter5.check_a100_seconds, True)


def _ridge_channels() -> int:
    ridge = 67e12 / 3350e9  # H100 SXM datasheet: FP32 FLOP/s over bytes/s
    channels = 1
    while 2 * PIXELS * channels**2 / (4 * (2 * PIXELS * channels + channels**2)) < ridge:
        channels += 1
    return channels


def test_compute_bound_channels(capsys):
    channels = _ridge_channels()
    assert chapter5.check_compute_bound_channels(channels) is None
    assert _said(capsys) == (
        f"Correct: from {channels} channels on, the H100's float32 units are the limit\n")
    assert _hint(chapter5.check_compute_bound_channels, channels - 1) == (
        f"the channel count is {channels - 1}, which is not right: at that width the intensity "
        "is still below the ridge point")
    assert _hint(chapter5.check_compute_bound_channels, channels + 1).endswith("recount it")
    with pytest.raises(ExerciseFailed, match="not right"):
        chapter5.check_compute_bound_channels(channels - 1)
    with pytest.raises(ExerciseFailed, match="should be a Python int"):
        chapter5.check_compute_bound_channels(float(channels))


def test_speedup_prediction(capsys):
    direct = 14 * 14 * 256 * 9 * 256
    bottleneck = 14 * 14 * 64 * (256 + 9 * 256)
    assert chapter5.check_speedup_prediction(direct, bottleneck, direct / bottleneck) is None
    # 2,304 / 640 = 3.6 MACs per pixel ratio
    assert _said(capsys) == (
        "Correct: a 3.60-fold MAC saving: now see what the clock says\n")
    assert _hint(chapter5.check_speedup_prediction, direct // 9, bottleneck, 3.6) == (
        f"the direct 3x3 convolution's MACs is {direct // 9:,}, which is not right: a 3x3 "
        "convolution does k^2 = 9 multiply-accumulates per input and output channel: is k^2 "
        "there?")
    assert _hint(chapter5.check_speedup_prediction, 2 * direct, bottleneck, 3.6).endswith(
        "did you count FLOPs (two per multiply-accumulate)?")
    assert _hint(chapter5.check_speedup_prediction, direct, 14 * 14 * 64 * 9 * 256, 3.6).endswith(
        "add the 1x1 reduction's multiply-accumulates")
    assert _hint(chapter5.check_speedup_prediction, direct, bottleneck, bottleneck / direct) == (
        "upside down: the speedup is direct MACs over bottleneck MACs")
    assert _hint(chapter5.check_speedup_prediction, direct, bottleneck + 1, 3.6) == (
        f"the bottleneck path's MACs (the 1x1 and the 3x3 layer together) is {bottleneck + 1:,}, "
        "which is not right: recount it")
    assert _hint(chapter5.check_speedup_prediction, direct, bottleneck, 3.5) == (
        "the predicted speedup (direct MACs / bottleneck MACs) is 3.5, which is not right "
        "(relative tolerance 1e-06)")
    with pytest.raises(ExerciseFailed, match="bottleneck path's MACs"):
        chapter5.check_speedup_prediction(direct, 14 * 14 * 64 * 9 * 256, 10.0)  # 1x1 forgotten
    with pytest.raises(ExerciseFailed, match="predicted speedup"):
        chapter5.check_speedup_prediction(direct, bottleneck, 3.0)
