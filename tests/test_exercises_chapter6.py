"""The Chapter 6 checks accept right answers and reject wrong ones with a useful hint."""

import pytest
import torch

from onebyone.exercises import chapter6
from onebyone.exercises.checks import ExerciseFailed

WEIGHTS = 256 * 64 + 9 * 64 * 64 + 64 * 256


def test_bottleneck_macs():
    assert chapter6.check_bottleneck_macs(56 * 56 * WEIGHTS) is None
    with pytest.raises(ExerciseFailed, match="count MACs, not FLOPs"):
        chapter6.check_bottleneck_macs(2 * 56 * 56 * WEIGHTS)
    with pytest.raises(ExerciseFailed, match="multiply by H x W"):
        chapter6.check_bottleneck_macs(WEIGHTS)
    with pytest.raises(ExerciseFailed, match="should be a Python int"):
        chapter6.check_bottleneck_macs(float(56 * 56 * WEIGHTS))


def test_separable_ratio():
    assert chapter6.check_separable_ratio(1 / 512 + 1 / 9) is None
    with pytest.raises(ExerciseFailed, match="upside down"):
        chapter6.check_separable_ratio(1 / (1 / 512 + 1 / 9))
    with pytest.raises(ExerciseFailed, match="not right"):
        chapter6.check_separable_ratio(1 / 9)


def test_folded_parameters():
    conv, bn = chapter6.fold_exercise_layers()
    with torch.no_grad():
        s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        weight = conv.weight * s[:, None, None, None]
        bias = s * (conv.bias - bn.running_mean) + bn.bias
        assert chapter6.check_folded_parameters(weight, bias) is None
        with pytest.raises(ExerciseFailed, match="own bias"):
            chapter6.check_folded_parameters(weight, bn.bias - s * bn.running_mean)
        with pytest.raises(ExerciseFailed, match="wrong values"):
            chapter6.check_folded_parameters(conv.weight, bias)
        with pytest.raises(ExerciseFailed, match=r"should be a torch\.Tensor"):
            chapter6.check_folded_parameters(weight.tolist(), bias)


def test_training_flops():
    macs = 8 * 56 * 56 * 256 * 64
    assert chapter6.check_training_flops(6 * macs) is None
    with pytest.raises(ExerciseFailed, match="in MACs"):
        chapter6.check_training_flops(3 * macs)
    with pytest.raises(ExerciseFailed, match="forward pass alone"):
        chapter6.check_training_flops(2 * macs)
    with pytest.raises(ExerciseFailed, match="dX as well as dW"):
        chapter6.check_training_flops(4 * macs)
