"""Chapter 3, Exercise 3 (a 3x3 convolution followed by a 1x1 convolution, collapsed into one
3x3 convolution): the chapter's solution is accepted, wrong answers are refused with hints."""

import pytest
import torch
from cheating_tensors import zeros_claiming_anything
from torch import nn

from onebyone.exercises import chapter3
from onebyone.exercises.checks import ExerciseFailed


def _collapsed(bias=True, weight_scale=1.0, kernel=3, padding=1):
    first, second = chapter3.exercise_conv_then_pointwise()
    W2 = second.weight[:, :, 0, 0]
    answer = nn.Conv2d(4, 2, kernel_size=kernel, padding=padding, dtype=torch.float64)
    with torch.no_grad():
        if kernel == 3:
            answer.weight.copy_(weight_scale * (W2 @ first.weight.reshape(3, -1)).view(2, 4, 3, 3))
        answer.bias.copy_(W2 @ first.bias + second.bias if bias else second.bias)
    return answer


@pytest.mark.parametrize("hidden_seed", [None, 3])
def test_the_chapter_s_solution_is_accepted(hidden_seed):
    assert chapter3.check_collapsed_conv_then_pointwise(_collapsed(), hidden_seed=hidden_seed) \
        is None


def test_a_float32_solution_is_accepted():
    assert chapter3.check_collapsed_conv_then_pointwise(_collapsed().float()) is None


@pytest.mark.parametrize(("answer", "hint"), [
    (_collapsed(bias=False), "bias passes through the 1x1 layer"),
    (_collapsed(weight_scale=2.0), "differs from second"),
    (_collapsed(kernel=1, padding=0), "still sees 3x3 patches"),
    (_collapsed(padding=0), "padding 1"),
    ("a tensor", "should be an nn.Conv2d"),
])
def test_wrong_answers_are_refused_with_a_hint(answer, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        chapter3.check_collapsed_conv_then_pointwise(answer)


class _CheatingConv(nn.Conv2d):
    """The right layer's shape, with an output of the right shape that claims any values."""

    def forward(self, x):
        shape = (x.shape[0], self.out_channels, *x.shape[2:])
        return zeros_claiming_anything(shape, x.dtype)


def test_an_output_that_answers_allclose_itself_is_refused():
    cheat = _CheatingConv(4, 2, kernel_size=3, padding=1, dtype=torch.float64)
    with pytest.raises(ExerciseFailed, match=r"plain torch\.Tensor"):
        chapter3.check_collapsed_conv_then_pointwise(cheat)
