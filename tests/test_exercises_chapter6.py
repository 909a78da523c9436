"""The Chapter 6 checks accept right answers and reject wrong ones with a useful hint."""

import pytest
import torch

from onebyone.exercises import chapter6
from onebyone.exercises.checks import ExerciseFailed

WEIGHTS = 256 * 64 + 9 * 64 * 64 + 64 * 256
SEPARABLE_RATIO = 1 / 512 + 1 / 9  # depthwise 9 N + pointwise N^2 over 9 N^2 MACs per pixel


def _said(capsys) -> str:
    """What a check printed, its wrapped lines joined back (checks.passed wraps at 78)."""
    return capsys.readouterr().out.replace("\n  ", " ")



def _hint(check, *answer) -> str:
    """The hint that ``check`` gives for a wrong ``answer``."""
    with pytest.raises(ExerciseFailed) as failure:
        check(*answer)
    return str(failure.value)


def test_bottleneck_macs():
    assert chapter6.check_bottleneck_macs(56 * 56 * WEIGHTS) is None
    with pytest.raises(ExerciseFailed, match="count MACs, not FLOPs"):
        chapter6.check_bottleneck_macs(2 * 56 * 56 * WEIGHTS)
    with pytest.raises(ExerciseFailed, match="multiply by H x W"):
        chapter6.check_bottleneck_macs(WEIGHTS)
    with pytest.raises(ExerciseFailed, match="should be a Python int"):
        chapter6.check_bottleneck_macs(float(56 * 56 * WEIGHTS))


def test_bottleneck_macs_hints(capsys):
    """Each wrong answer gets its own hint, word for word; the right one its own praise."""
    right = 56 * 56 * WEIGHTS
    assert chapter6.check_bottleneck_macs(right) is None
    assert _said(capsys) == (
        "Correct: the MACs of a stride-1 block are its weights times H x W\n")
    assert _hint(chapter6.check_bottleneck_macs, 2 * right) == (
        "that is twice the answer: count MACs, not FLOPs")
    assert _hint(chapter6.check_bottleneck_macs, WEIGHTS) == (
        "that is the weight count: multiply by H x W")
    # the 3x3 convolution counted as a 1x1 one: 64 x 64 MACs per pixel instead of 9 x 64 x 64
    one_by_one = 56 * 56 * (256 * 64 + 64 * 64 + 64 * 256)
    assert _hint(chapter6.check_bottleneck_macs, one_by_one) == (
        f"the bottleneck's multiply-accumulates (MACs) is {one_by_one:,}, which is not right: "
        "the 3x3 convolution does k^2 = 9 multiply-accumulates per input and output channel: "
        "is k^2 there?")
    assert _hint(chapter6.check_bottleneck_macs, right + 1).endswith("recount it")
    assert "in millions" in _hint(chapter6.check_bottleneck_macs, right // 1_000_000)


def test_separable_ratio(capsys):
    assert chapter6.check_separable_ratio(1 / 512 + 1 / 9) is None
    assert _said(capsys) == (
        "Correct: 1/N + 1/k^2: about 1/9, the 1/N term is small at 512 channels\n")
    with pytest.raises(ExerciseFailed, match="upside down"):
        chapter6.check_separable_ratio(1 / (1 / 512 + 1 / 9))
    with pytest.raises(ExerciseFailed, match="not right"):
        chapter6.check_separable_ratio(1 / 9)


def test_separable_ratio_tolerance_is_a_ten_thousandth_either_side():
    for inside in (1 + 0.99e-4, 1 - 0.99e-4):
        assert chapter6.check_separable_ratio(SEPARABLE_RATIO * inside) is None
    outside = SEPARABLE_RATIO * (1 + 1.01e-4)
    assert _hint(chapter6.check_separable_ratio, outside) == (
        f"the ratio separable MACs / standard MACs is {outside}, which is not right "
        "(relative tolerance 0.0001)")


def test_separable_ratio_hints():
    assert _hint(chapter6.check_separable_ratio, 1 / SEPARABLE_RATIO) == (
        "upside down: separable over standard")
    # 1/k^2 alone, upside down, is not the inverse ratio (8.84): it is plain wrong
    assert _hint(chapter6.check_separable_ratio, 9.0).endswith("is 9.0, which is not right "
                                                               "(relative tolerance 0.0001)")
    assert _hint(chapter6.check_separable_ratio, "0.113") == (
        "the ratio separable MACs / standard MACs should be a number, got str")


def test_fold_exercise_layers_are_the_ones_the_book_describes():
    """A 1x1 convolution from 4 to 3 channels with a bias, a batch norm in eval mode whose
    running statistics are not the defaults; the same layers on every call."""
    conv, bn = chapter6.fold_exercise_layers()
    assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (4, 3, (1, 1))
    assert conv.bias is not None and not bn.training and bn.num_features == 3
    assert (bn.running_mean != 0).all() and (bn.running_var != 1).all()
    assert (bn.running_var > 0).all()
    again, bn_again = chapter6.fold_exercise_layers()
    assert torch.equal(conv.weight, again.weight) and torch.equal(bn.running_var,
                                                                  bn_again.running_var)


def test_folded_parameters(capsys):
    conv, bn = chapter6.fold_exercise_layers()
    with torch.no_grad():
        s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        weight = conv.weight * s[:, None, None, None]
        bias = s * (conv.bias - bn.running_mean) + bn.bias
        assert chapter6.check_folded_parameters(weight, bias) is None
        assert _said(capsys) == (
            "Correct: one convolution now does what the convolution and the batch norm did\n")
        assert _hint(chapter6.check_folded_parameters, weight + 1, bias).startswith(
            "the folded weight has the right shape but wrong values")
        assert _hint(chapter6.check_folded_parameters, weight, bias + 1).startswith(
            "the folded bias has the right shape but wrong values")
        assert _hint(chapter6.check_folded_parameters, weight, bias.tolist()) == (
            "the folded bias should be a torch.Tensor, got list")
        assert _hint(chapter6.check_folded_parameters, weight, bn.bias - s * bn.running_mean) == (
            "the convolution's own bias goes through the batch norm too: b' = s (b - mu) + beta")
        with pytest.raises(ExerciseFailed, match="own bias"):
            chapter6.check_folded_parameters(weight, bn.bias - s * bn.running_mean)
        with pytest.raises(ExerciseFailed, match="wrong values"):
            chapter6.check_folded_parameters(conv.weight.detach(), bias)
        with pytest.raises(ExerciseFailed, match=r"should be a torch\.Tensor"):
            chapter6.check_folded_parameters(weight.tolist(), bias)


def test_folded_bias_hint_covers_answers_within_a_hundred_thousandth():
    """The forgotten-conv-bias hint uses torch.allclose's tolerance, atol 1e-5 + rtol 1e-5 x |b|:
    just inside it on either side of an entry the hint shows; twice outside it does not."""
    conv, bn = chapter6.fold_exercise_layers()
    with torch.no_grad():
        s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        weight = conv.weight * s[:, None, None, None]
        no_conv_bias = bn.bias - s * bn.running_mean  # 3 entries
        tolerance = 1e-5 + 1e-5 * no_conv_bias.abs()
        # the entry where eps weighs most: s * mu / var is largest
        entry = (s * bn.running_mean / bn.running_var).abs().argmax()
        for sign in (1, -1):
            nudged = no_conv_bias.clone()
            nudged[entry] += sign * 0.95 * tolerance[entry]
            assert _hint(chapter6.check_folded_parameters, weight, nudged).startswith(
                "the convolution's own bias")
        nudged = no_conv_bias.clone()
        nudged[entry] += 2 * tolerance[entry]
        assert _hint(chapter6.check_folded_parameters, weight, nudged).startswith(
            "the folded bias has the right shape but wrong values")


def test_training_flops(capsys):
    macs = 8 * 56 * 56 * 256 * 64  # one product of the forward pass
    assert chapter6.check_training_flops(6 * macs) is None
    assert _said(capsys) == (
        "Correct: three matrix products of the same size: Y = W X, dX = W^T dY, dW = dY X^T\n")
    assert _hint(chapter6.check_training_flops, 3 * macs) == (
        "that is in MACs: FlopCounterMode counts 2 FLOPs per MAC")
    assert _hint(chapter6.check_training_flops, 2 * macs) == (
        "that is the forward pass alone: add the backward pass")
    assert _hint(chapter6.check_training_flops, 4 * macs) == (
        "the input needs a gradient too: count dX as well as dW")
    assert _hint(chapter6.check_training_flops, 5 * macs) == (
        f"the training step's FLOPs is {5 * macs:,}, which is not right: recount it")


def _by_hand(eps=True):
    conv, bn = chapter6.fold_exercise_layers()
    with torch.no_grad():
        s = bn.weight / torch.sqrt(bn.running_var + (bn.eps if eps else 0.0))
        return conv.weight * s[:, None, None, None], s * (conv.bias - bn.running_mean) + bn.bias


def test_folded_parameters_refuse_a_fold_without_eps():
    """The layers are float64 with running variances of 0.001 to 0.011, so leaving eps (1e-5)
    out is off by far more than the check's 1e-9 (and float64 rounding is far below it)."""
    right_weight, right_bias = _by_hand()
    weight, bias = _by_hand(eps=False)
    assert (weight - right_weight).abs().max() / right_weight.abs().max() > 1e-5
    assert _hint(chapter6.check_folded_parameters, weight, bias) == (
        "the folded weight leaves eps out: the batch norm divides by sqrt(var + eps)")
    assert _hint(chapter6.check_folded_parameters, right_weight, bias) == (
        "the folded bias leaves eps out: the batch norm divides by sqrt(var + eps)")
    assert chapter6.check_folded_parameters(right_weight, right_bias) is None


def test_folded_parameters_refuse_fold_batchnorms_parameters():
    from onebyone.batchnorm_fold import fold_batchnorm as fold  # aliased, as a cell might

    folded = fold(*chapter6.fold_exercise_layers())
    assert _hint(chapter6.check_folded_parameters, folded.weight, folded.bias) == (
        "the folded weight is an nn.Parameter, taken from a module: compute it from the layers' "
        "tensors, without fold_batchnorm")


def test_folded_parameters_a_float32_answer_gets_a_dtype_hint():
    weight, bias = _by_hand()
    assert _hint(chapter6.check_folded_parameters, weight.float(), bias) == (
        "the folded weight has dtype torch.float32, expected torch.float64: make it with (or "
        "convert it to) torch.float64")


def test_a_grader_refuses_fold_batchnorm_in_the_cell_that_makes_the_answer():
    """The check sees tensors only; the rule it names, run around the answer's cell, refuses
    fold_batchnorm however it was imported."""
    from onebyone.batchnorm_fold import fold_batchnorm as fold
    from onebyone.exercises.forbidden import ANSWER_RULES, refusing

    with refusing(ANSWER_RULES["chapter6.check_folded_parameters"]) as watch:
        with pytest.raises(Exception, match="fold_batchnorm is not allowed"):
            fold(*chapter6.fold_exercise_layers())
    assert watch.used == ["onebyone.batchnorm_fold.fold_batchnorm"]


class _AlwaysEqual(int):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = int.__hash__


def test_integer_answers_must_be_exactly_int():
    for check in (chapter6.check_bottleneck_macs, chapter6.check_training_flops):
        assert "should be a Python int, got _AlwaysEqual" in _hint(check, _AlwaysEqual(1))
