"""The Chapter 4 checks accept right answers and reject wrong ones with a useful hint."""

import pytest
from torch import nn

from onebyone.exercises import chapter4
from onebyone.exercises.checks import ExerciseFailed
from onebyone.inception import Inception


def test_inception_5a_macs():
    weights = 832 * 256 + 832 * 160 + 9 * 160 * 320 + 832 * 32 + 25 * 32 * 128 + 832 * 128
    assert chapter4.check_inception_5a_macs(weights * 49) is None
    with pytest.raises(ExerciseFailed, match="not right"):
        chapter4.check_inception_5a_macs(54_000_000)  # the table's printed value


def _conv_relu(c_in, c_out, k):
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=k // 2), nn.ReLU())


class _Block(nn.Module):
    def __init__(self, c_in, row, pool_proj_kernel=1):
        super().__init__()
        self.branches = nn.ModuleList([
            _conv_relu(c_in, row.ch1x1, 1),
            nn.Sequential(_conv_relu(c_in, row.ch3x3red, 1),
                          _conv_relu(row.ch3x3red, row.ch3x3, 3)),
            nn.Sequential(_conv_relu(c_in, row.ch5x5red, 1),
                          _conv_relu(row.ch5x5red, row.ch5x5, 5)),
            nn.Sequential(nn.MaxPool2d(3, 1, 1), _conv_relu(c_in, row.pool_proj, pool_proj_kernel)),
        ])

    def forward(self, x):
        import torch

        return torch.cat([branch(x) for branch in self.branches], dim=1)


def test_inception_block():
    assert chapter4.check_inception_block(_Block) is None
    with pytest.raises(ExerciseFailed, match=r"uses onebyone\.inception\.Inception"):
        chapter4.check_inception_block(lambda c_in, row: Inception(c_in, *row.channels()))
    with pytest.raises(ExerciseFailed, match=r"parameters, expected .*\(too many"):
        chapter4.check_inception_block(lambda c_in, row: _Block(c_in, row, pool_proj_kernel=3))
    with pytest.raises(ExerciseFailed, match="raised AttributeError"):
        chapter4.check_inception_block(lambda c_in, row: row.missing)


def test_budget_design():
    assert chapter4.check_budget_design((192, 64, 208, 16, 48, 64)) is None
    with pytest.raises(ExerciseFailed, match="over the budget"):
        chapter4.check_budget_design((192, 96, 208, 16, 48, 64))  # inception (4a) itself
    with pytest.raises(ExerciseFailed, match="outputs 511 channels, expected 512"):
        chapter4.check_budget_design((191, 64, 208, 16, 48, 64))
    with pytest.raises(ExerciseFailed, match="below its minimum"):
        chapter4.check_budget_design((256, 64, 160, 16, 32, 64))
    with pytest.raises(ExerciseFailed, match="should be narrower"):
        chapter4.check_budget_design((128, 208, 208, 16, 48, 128))
    with pytest.raises(ExerciseFailed, match="tuple of 6 ints"):
        chapter4.check_budget_design(512)
