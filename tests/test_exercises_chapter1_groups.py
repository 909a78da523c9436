"""Chapter 1, Exercise 3's second check (a grouped 1x1 convolution as one linear layer): the
chapter's solution is accepted, the ungrouped reshape and other wrong answers are refused."""

import pytest
import torch
from cheating_tensors import zeros_claiming_anything
from torch import nn

from onebyone.exercises import chapter1
from onebyone.exercises.checks import ExerciseFailed


def _linear(conv, weight):
    linear = nn.Linear(conv.in_channels, conv.out_channels, bias=conv.bias is not None,
                       dtype=conv.weight.dtype)
    with torch.no_grad():
        linear.weight.copy_(weight)
        if conv.bias is not None:
            linear.bias.copy_(conv.bias)
    return linear


def _block_diagonal(conv):
    """The chapter's solution."""
    g = conv.groups
    blocks = conv.weight[:, :, 0, 0].reshape(g, conv.out_channels // g, -1)
    return _linear(conv, torch.block_diag(*blocks))


def _reshape_only(conv):
    """The ungrouped conversion the chapter spells out: wrong as soon as groups > 1."""
    return _linear(conv, conv.weight[:, :, 0, 0])


def _wrong_blocks(conv):
    """Blocks placed on the anti-diagonal: the right shape, the wrong function."""
    g = conv.groups
    blocks = conv.weight[:, :, 0, 0].reshape(g, conv.out_channels // g, -1)
    return _linear(conv, torch.block_diag(*blocks).flip(0))


def _shared(conv):
    """No copy: the linear layer's weight is a view of the convolution's."""
    linear = _block_diagonal(conv)
    if conv.groups == 1:
        linear.weight = nn.Parameter(conv.weight[:, :, 0, 0])
    return linear


@pytest.mark.parametrize("hidden_seed", [None, 7])
def test_the_chapter_s_solution_is_accepted(hidden_seed):
    assert chapter1.check_grouped_conv_to_linear(_block_diagonal, hidden_seed=hidden_seed) is None
    assert chapter1.check_conv_to_linear(_block_diagonal, hidden_seed=hidden_seed) is None


@pytest.mark.parametrize(("answer", "hint"), [
    (_reshape_only, "block on the diagonal"),
    (_wrong_blocks, "wrong values .*block on the diagonal"),
    (_shared, "copy the weights"),
])
def test_wrong_answers_are_refused_with_a_hint(answer, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        chapter1.check_grouped_conv_to_linear(answer)


class _CheatingLinear(nn.Linear):
    def forward(self, x):
        # the right shape and dtype, the wrong values
        shape = (*x.shape[:-1], self.out_features)
        return zeros_claiming_anything(shape, x.dtype)


def _cheat(conv):
    """A linear layer whose output claims to be close to anything."""
    return _CheatingLinear(conv.in_channels, conv.out_channels, bias=conv.bias is not None,
                           dtype=conv.weight.dtype)


@pytest.mark.parametrize("check", [chapter1.check_conv_to_linear,
                                   chapter1.check_grouped_conv_to_linear])
def test_an_output_that_answers_allclose_itself_is_refused(check):
    with pytest.raises(ExerciseFailed, match=r"plain torch\.Tensor"):
        check(_cheat)


class _Float32Linear(nn.Linear):
    def forward(self, x):
        return super().forward(x).float()


def _float32_output(conv):
    """The right matrix, but an output in float32 where the input was float64."""
    linear = _block_diagonal(conv)
    answer = _Float32Linear(linear.in_features, linear.out_features,
                            bias=linear.bias is not None, dtype=linear.weight.dtype)
    answer.load_state_dict(linear.state_dict())
    return answer


def test_the_block_diagonal_hint_follows_wrong_values_only():
    with pytest.raises(ExerciseFailed) as refused:
        chapter1.check_grouped_conv_to_linear(_float32_output)
    assert "has dtype torch.float32" in str(refused.value)
    assert "block on the diagonal" not in str(refused.value)
