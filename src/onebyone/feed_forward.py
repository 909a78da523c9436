"""The Transformer's position-wise feed-forward layer, and the 1x1 convolutions it is.

Why: Vaswani et al. (2017) apply the same two linear layers, with a ReLU between them, to every
position of a sequence, and note that this is "two convolutions with kernel size 1". ConvNeXt
(Liu et al., 2022) writes its pointwise layers the other way round, as ``nn.Linear`` on a
channels-last tensor. This module converts between the two readings with exact weight copies.
"""

from __future__ import annotations

import torch
from torch import nn

from onebyone import validation
from onebyone.pointwise import linear_to_conv1x1


class PositionwiseFeedForward(nn.Module):
    """``FFN(x) = max(0, x W_1 + b_1) W_2 + b_2`` at every position (dropout left out).

    Args:
        d_model: features per position in and out (512 in the paper's base model).
        d_ff: features of the inner layer (2048 there).

    Raises:
        TypeError, ValueError: a width that is not a positive integer; in the forward pass, an
            input whose last axis is not ``d_model``.
    """

    def __init__(self, d_model: int = 512, d_ff: int = 2048) -> None:
        super().__init__()
        d_model, d_ff = validation.check_positive_integers(d_model=d_model, d_ff=d_ff)
        self.d_model = d_model
        self.linear1 = nn.Linear(d_model, d_ff)
        self.relu = nn.ReLU()
        self.linear2 = nn.Linear(d_ff, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``... x d_model`` (positions x features) to the same shape."""
        validation.tensor_shape("x", x, ("...", "L", self.d_model),
                                owner="PositionwiseFeedForward")
        return self.linear2(self.relu(self.linear1(x)))  # N x L x d_model


def _linear_to_conv1d(linear: nn.Linear) -> nn.Conv1d:
    conv = nn.Conv1d(linear.in_features, linear.out_features, kernel_size=1,
                     bias=linear.bias is not None, device=linear.weight.device,
                     dtype=linear.weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(linear.weight.unsqueeze(-1))  # C_out x C_in x 1
        if linear.bias is not None:
            conv.bias.copy_(linear.bias)
    return conv


def feed_forward_as_conv1d(ffn: PositionwiseFeedForward) -> nn.Sequential:
    """The same function as two kernel-size-1 ``nn.Conv1d`` on ``N x d_model x L`` (weights
    copied exactly).

    Raises:
        TypeError: ``ffn`` is not a :class:`PositionwiseFeedForward`.
    """
    validation.module("ffn", ffn, PositionwiseFeedForward)
    return nn.Sequential(_linear_to_conv1d(ffn.linear1), nn.ReLU(), _linear_to_conv1d(ffn.linear2))


def feed_forward_as_conv2d(ffn: PositionwiseFeedForward) -> nn.Sequential:
    """The same function as two 1x1 ``nn.Conv2d`` on ``N x d_model x H x W`` (copied weights),
    via :func:`onebyone.pointwise.linear_to_conv1x1`.

    Raises:
        TypeError: ``ffn`` is not a :class:`PositionwiseFeedForward`.
    """
    validation.module("ffn", ffn, PositionwiseFeedForward)
    return nn.Sequential(linear_to_conv1x1(ffn.linear1), nn.ReLU(),
                         linear_to_conv1x1(ffn.linear2))
