"""The Chapter 3 checks accept right answers (worked out by hand here) and reject wrong ones."""

import pytest
import torch
from torch import nn

from onebyone.exercises import chapter3
from onebyone.exercises.checks import ExerciseFailed


def by_hand(bias: bool = True, forget_first_bias: bool = False) -> nn.Conv2d:
    first, second = chapter3.exercise_pointwise_pair()
    w1, w2 = first.weight[:, :, 0, 0], second.weight[:, :, 0, 0]  # 3 x 4, 2 x 3
    conv = nn.Conv2d(4, 2, 1, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        conv.weight.copy_((w2 @ w1).reshape(2, 4, 1, 1))
        if bias:
            carried = torch.zeros(2) if forget_first_bias else w2 @ first.bias
            conv.bias.copy_(carried + second.bias)
    return conv


def test_exercise_layers_are_seeded():
    a, b = chapter3.exercise_pointwise_pair(0), chapter3.exercise_pointwise_pair(0)
    assert torch.equal(a[0].weight, b[0].weight) and torch.equal(a[1].bias, b[1].bias)
    assert not torch.equal(a[0].weight, chapter3.exercise_pointwise_pair(1)[0].weight)


def test_collapsed_conv():
    assert chapter3.check_collapsed_conv(by_hand()) is None
    with pytest.raises(ExerciseFailed, match="no bias"):
        chapter3.check_collapsed_conv(by_hand(bias=False))
    with pytest.raises(ExerciseFailed, match="wrong values"):
        chapter3.check_collapsed_conv(by_hand(forget_first_bias=True))
    with pytest.raises(ExerciseFailed, match="1x1 convolution"):
        chapter3.check_collapsed_conv(nn.Conv2d(4, 2, 3))
    with pytest.raises(ExerciseFailed, match="maps 4 to 3 channels"):
        chapter3.check_collapsed_conv(nn.Conv2d(4, 3, 1))
    with pytest.raises(ExerciseFailed, match=r"should be an nn\.Conv2d"):
        chapter3.check_collapsed_conv(nn.Linear(4, 2))


def test_collapsed_conv_leaves_the_answer_as_it_was():
    answer = by_hand().float()  # a float32 answer is accepted...
    before = answer.weight.detach().clone()
    assert chapter3.check_collapsed_conv(answer) is None
    # ...and the check does not convert the student's own module to float64
    assert answer.weight.dtype == torch.float32 and answer.bias.dtype == torch.float32
    assert torch.equal(answer.weight, before)
    with pytest.raises(ExerciseFailed, match="wrong values"):  # float32, but wrong
        chapter3.check_collapsed_conv(by_hand(forget_first_bias=True).float())


def _hint(check, answer) -> str:
    """The hint that ``check`` gives for a wrong ``answer``."""
    with pytest.raises(ExerciseFailed) as failure:
        check(answer)
    return str(failure.value)


def test_mlpconv_parameters(capsys):
    right = (5 * 5 * 3 * 192 + 192) + (192 * 160 + 160) + (160 * 96 + 96)
    assert chapter3.check_mlpconv_parameters(right) is None
    assert capsys.readouterr().out == (
        "Correct: k^2 C_in C_hidden + C_hidden C_hidden' + C_hidden' C_out, plus the biases\n")
    no_biases = right - 192 - 160 - 96
    assert _hint(chapter3.check_mlpconv_parameters, no_biases) == (
        f"the mlpconv layer's parameters (weights and biases) is {no_biases:,}, which is not "
        "right: recount it")


def test_fully_connected_head_parameters(capsys):
    right = (9216 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    assert chapter3.check_fully_connected_head_parameters(right) is None
    assert capsys.readouterr().out == (
        "Correct: a global average pooling head would have none of these\n")
    no_biases = 9216 * 4096 + 4096 * 4096 + 4096 * 1000
    assert _hint(chapter3.check_fully_connected_head_parameters, no_biases) == (
        f"the head's parameters (weights and biases) is {no_biases:,}, which is not right: "
        "recount it")


def _mlpconv(c_in, hidden, c_out, k, relus=(True, True, True), padding=None):
    padding = k // 2 if padding is None else padding
    layers = [nn.Conv2d(c_in, hidden, k, padding=padding), nn.Conv2d(hidden, hidden, 1),
              nn.Conv2d(hidden, c_out, 1)]
    modules = []
    for layer, relu in zip(layers, relus, strict=True):
        modules += [layer, nn.ReLU()] if relu else [layer]
    return nn.Sequential(*modules)


def test_mlpconv_block():
    assert chapter3.check_mlpconv_block(_mlpconv) is None
    with pytest.raises(ExerciseFailed, match="wrong values"):
        chapter3.check_mlpconv_block(lambda *a: _mlpconv(*a, relus=(True, False, True)))
    with pytest.raises(ExerciseFailed, match=r"has shape \(2, 4, 2, 3\), expected \(2, 4, 6, 7\)"):
        chapter3.check_mlpconv_block(lambda *a: _mlpconv(*a, padding=0))
    with pytest.raises(ExerciseFailed, match=r"convolution 2 .* expected 8 to 8"):
        chapter3.check_mlpconv_block(
            lambda c_in, hidden, c_out, k: nn.Sequential(
                nn.Conv2d(c_in, hidden, k, padding=k // 2), nn.Conv2d(hidden, c_out, 1),
                nn.Conv2d(c_out, c_out, 1)))
