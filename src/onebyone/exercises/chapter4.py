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

INPUT_3A = (1, 192, 28, 28)
"""The input of inception (3a): one 28 x 28 image with 192 channels."""


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_naive_3a_macs(answer: object) -> None:
    """Exercise 1: MACs of a naive Inception module with 3a's widths (1x1: 64, 3x3: 128, 5x5: 32)
    on its 28 x 28 x 192 input; the max pool costs no MACs."""
    expected = model_macs(NaiveInception(192, 64, 128, 32), INPUT_3A)
    if _is_number(answer):
        expect(answer != 2 * expected, "that is twice the answer: count MACs, not FLOPs")
    expect_integer(answer, expected, "the naive module's multiply-accumulates (MACs)")
    passed("H * W * C_in * k * k * C_out for each of the three convolutions, summed")


def check_5x5_saving(answer: object) -> None:
    """Exercise 2: how many times fewer MACs 3a's 5x5 branch does with its 1x1 reduction
    (192 -> 16 channels) than without it (naive MACs divided by reduced MACs)."""
    naive = branch_costs(NaiveInception(192, 64, 128, 32), INPUT_3A)["branch3"]
    reduced = branch_costs(Inception(*INCEPTION_CHANNELS["inception3a"]), INPUT_3A)["branch3"]
    if _is_number(answer) and answer > 0:
        without_reduction_cost = naive / (reduced - 28 * 28 * 192 * 16)
        expect(
            abs(answer - without_reduction_cost) > 1e-3 * without_reduction_cost,
            "the 1x1 reduction itself costs MACs too: add them to the reduced branch",
        )
    expect_close(answer, naive / reduced, "the ratio naive MACs / reduced MACs", rel_tol=1e-3)
    passed("the 5x5 convolution now sees 16 channels instead of 192")


def check_inception_5a_macs(answer: object) -> None:
    """Exercise 3: MACs of inception (5a), from its channel columns in Table 1, at 7 x 7."""
    expected = model_macs(Inception(*INCEPTION_CHANNELS["inception5a"]), (1, 832, 7, 7))
    expect_integer(answer, expected, "inception (5a)'s multiply-accumulates (MACs)")
    published = next(row.ops_m for row in load_table1() if row.stage == "inception5a")
    passed(f"{expected / 1e6:.1f} M MACs, not the {published:.0f} M the table prints")
