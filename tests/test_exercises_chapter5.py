"""The Chapter 5 checks accept right answers and reject wrong ones, with a hint."""

from __future__ import annotations

import pytest

from onebyone.exercises import chapter5
from onebyone.exercises.checks import ExerciseFailed

# By hand: 32 * 28 * 28 = 25,088 pixels, 256 channels in and out, float32 (4 bytes).
PIXELS = 32 * 28 * 28
FLOPS = 2 * PIXELS * 256 * 256
BYTES = 4 * (PIXELS * 256 + 256 * 256 + PIXELS * 256)


def test_intensity():
    assert chapter5.check_pointwise_intensity(FLOPS / BYTES) is None
    with pytest.raises(ExerciseFailed, match="MACs per byte"):
        chapter5.check_pointwise_intensity(FLOPS / 2 / BYTES)
    with pytest.raises(ExerciseFailed, match="not right"):
        chapter5.check_pointwise_intensity(FLOPS / (BYTES - 4 * 256 * 256))  # weight forgotten
    with pytest.raises(ExerciseFailed, match="should be a number"):
        chapter5.check_pointwise_intensity("64")


def test_a100_seconds():
    compute, memory = FLOPS / 19.5e12, BYTES / 2039e9  # A100 datasheet: FP32 and bandwidth
    assert chapter5.check_a100_seconds(max(compute, memory)) is None
    with pytest.raises(ExerciseFailed, match="memory time alone"):
        chapter5.check_a100_seconds(memory)
    with pytest.raises(ExerciseFailed, match="not right"):
        chapter5.check_a100_seconds(FLOPS / 156e12)  # the TF32 tensor-core rate


def _ridge_channels() -> int:
    ridge = 67e12 / 3350e9  # H100 SXM datasheet: FP32 FLOP/s over bytes/s
    channels = 1
    while 2 * PIXELS * channels**2 / (4 * (2 * PIXELS * channels + channels**2)) < ridge:
        channels += 1
    return channels


def test_compute_bound_channels():
    channels = _ridge_channels()
    assert chapter5.check_compute_bound_channels(channels) is None
    with pytest.raises(ExerciseFailed, match="not right"):
        chapter5.check_compute_bound_channels(channels - 1)
    with pytest.raises(ExerciseFailed, match="should be a Python int"):
        chapter5.check_compute_bound_channels(float(channels))


def test_speedup_prediction():
    direct = 14 * 14 * 256 * 9 * 256
    bottleneck = 14 * 14 * 64 * (256 + 9 * 256)
    assert chapter5.check_speedup_prediction(direct, bottleneck, direct / bottleneck) is None
    with pytest.raises(ExerciseFailed, match="bottleneck path's MACs"):
        chapter5.check_speedup_prediction(direct, 14 * 14 * 64 * 9 * 256, 10.0)  # 1x1 forgotten
    with pytest.raises(ExerciseFailed, match="predicted speedup"):
        chapter5.check_speedup_prediction(direct, bottleneck, bottleneck / direct)
