"""Checks for the exercises of Chapter 4 (Inception, and GoogLeNet's Table 1).

Each expected value is computed here with the package (:mod:`onebyone.inception`,
:mod:`onebyone.cost`), never typed in, so a check cannot drift from the book.
"""

from __future__ import annotations

from onebyone.cost import model_macs
from onebyone.exercises.checks import expect, expect_close, expect_integer, passed
from onebyone.googlenet import INCEPTION_CHANNELS
from onebyone.inception import Inception, NaiveInception, branch_costs
from onebyone.table1 import load_table1

INPUT_4A = (1, 480, 14, 14)
"""The input of inception (4a): one 14 x 14 image with 480 channels."""

INPUT_5B = (1, 832, 7, 7)
"""The input of inception (5b): one 7 x 7 image with 832 channels."""


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_inception_4a_3x3_branch_macs(answer: object) -> None:
    """Exercise 1: MACs of inception (4a)'s 3x3 branch on its 14 x 14 x 480 input: a 1x1
    reduction from 480 to 96 channels, then a "same" 3x3 convolution from 96 to 208."""
    expected = branch_costs(Inception(*INCEPTION_CHANNELS["inception4a"]), INPUT_4A)["branch2"]
    if _is_number(answer):
        expect(answer != 2 * expected, "that is twice the answer: count MACs, not FLOPs")
        expect(
            answer != 14 * 14 * 208 * 9 * 96,
            "that is the 3x3 convolution alone: the 1x1 reduction in front of it costs MACs too",
        )
    expect_integer(answer, expected, "the branch's multiply-accumulates (MACs)")
    passed("H * W * (C_in * r + 9 * r * C_out): the 1x1 reduction, then the 3x3 on r channels")


def check_5b_5x5_saving(answer: object) -> None:
    """Exercise 2: how many times fewer MACs inception (5b)'s 5x5 branch does with its 1x1
    reduction (832 -> 48 channels) than a 5x5 convolution with 128 filters on all 832 channels
    (direct MACs divided by reduced MACs)."""
    in_channels, _, _, _, reduced, out_channels, _ = INCEPTION_CHANNELS["inception5b"]
    direct = branch_costs(NaiveInception(in_channels, 1, 1, out_channels), INPUT_5B)["branch3"]
    branch = branch_costs(Inception(*INCEPTION_CHANNELS["inception5b"]), INPUT_5B)["branch3"]
    if _is_number(answer) and answer > 0:
        reduction = 7 * 7 * in_channels * reduced
        without_reduction_cost = direct / (branch - reduction)
        expect(
            abs(answer - without_reduction_cost) > 1e-3 * without_reduction_cost,
            "the 1x1 reduction itself costs MACs too: add them to the reduced branch",
        )
    expect_close(answer, direct / branch, "the ratio direct MACs / reduced MACs", rel_tol=1e-3)
    passed(f"the 5x5 convolution now sees {reduced} channels instead of {in_channels}")


def check_inception_5a_macs(answer: object) -> None:
    """Exercise 3: MACs of inception (5a), from its channel columns in Table 1, at 7 x 7."""
    expected = model_macs(Inception(*INCEPTION_CHANNELS["inception5a"]), INPUT_5B)
    expect_integer(answer, expected, "inception (5a)'s multiply-accumulates (MACs)")
    published = next(row.ops_m for row in load_table1() if row.stage == "inception5a")
    passed(f"{expected / 1e6:.1f} M MACs, not the {published:.0f} M the table prints")
