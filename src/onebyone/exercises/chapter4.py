"""Checks for the exercises of Chapter 4 (Inception, and GoogLeNet's Table 1).

Each expected value is computed here with the package (:mod:`onebyone.inception`,
:mod:`onebyone.cost`, :mod:`onebyone.table1`), never typed in, so a check cannot drift from
the book.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from onebyone.cost import count_parameters, model_macs
from onebyone.exercises.checks import expect, expect_integer, passed
from onebyone.googlenet import INCEPTION_CHANNELS
from onebyone.inception import Inception
from onebyone.table1 import PublishedRow, load_table1

DESIGN_INPUT = (1, 480, 14, 14)
"""The input of the design exercise: one 14 x 14 image with 480 channels (inception (4a)'s)."""
DESIGN_OUT_CHANNELS = 512
"""The design's output channels (``ch1x1 + ch3x3 + ch5x5 + pool_proj``), as inception (4a)."""
DESIGN_MAC_BUDGET = 60_000_000
"""The design's budget, in multiply-accumulates (MACs) for one image."""
DESIGN_MINIMUM = {"ch1x1": 128, "ch3x3red": 16, "ch3x3": 208, "ch5x5red": 16, "ch5x5": 48,
                  "pool_proj": 32}
"""The fewest channels each column of the design may have."""
DESIGN_COLUMNS = tuple(DESIGN_MINIMUM)


def check_inception_5a_macs(answer: object) -> None:
    """Exercise 1: MACs of inception (5a), from its channel columns in Table 1, at 7 x 7."""
    expected = model_macs(Inception(*INCEPTION_CHANNELS["inception5a"]), (1, 832, 7, 7))
    expect_integer(answer, expected, "inception (5a)'s multiply-accumulates (MACs)")
    published = next(row.ops_m for row in load_table1() if row.stage == "inception5a")
    passed(f"{expected / 1e6:.1f} M MACs, not the {published:.0f} M the table prints")


def check_inception_block(inception_block: Callable[[int, PublishedRow], nn.Module]) -> None:
    """Exercise 2: ``inception_block(in_channels, row)`` builds an Inception module from a row of
    Table 1 (:class:`~onebyone.table1.PublishedRow`) out of ``nn.Conv2d``, ``nn.ReLU`` and
    ``nn.MaxPool2d``, without :class:`onebyone.inception.Inception`.

    Tried on every Inception row of the table: output shape, and parameter count (weights and
    biases) equal to the package's module with the same columns.
    """
    generator = torch.Generator().manual_seed(7)
    rows = [row for row in load_table1() if row.type == "inception"]
    for row in rows:
        in_channels = INCEPTION_CHANNELS[row.stage][0]
        call = f"inception_block({in_channels}, row {row.stage})"
        try:
            block = inception_block(in_channels, row)
        except Exception as error:  # a student's bug: report it as a hint
            expect(False, f"{call} raised {type(error).__name__}: {error}")
        expect(isinstance(block, nn.Module), f"{call} should be an nn.Module, got {type(block)}")
        expect(
            not any(isinstance(module, Inception) for module in block.modules()),
            f"{call} uses onebyone.inception.Inception: build the branches yourself",
        )
        expected = count_parameters(Inception(*INCEPTION_CHANNELS[row.stage]))
        got = count_parameters(block)
        expect(
            got == expected,
            f"{call} has {got:,} parameters, expected {expected:,} "
            f"({'too many' if got > expected else 'too few'}: check each branch's widths "
            "and biases)",
        )
        x = torch.randn(1, in_channels, 5, 6, generator=generator)
        try:
            with torch.no_grad():
                output = block(x)
        except Exception as error:  # a student's bug: report it as a hint
            expect(False, f"{call}(x) raised {type(error).__name__}: {error}")
        wanted = (1, row.output_size[0], 5, 6)
        expect(
            isinstance(output, torch.Tensor) and tuple(output.shape) == wanted,
            f"{call}(x) for x of shape {tuple(x.shape)} has shape "
            f"{tuple(getattr(output, 'shape', ()))}, expected {wanted}",
        )
    passed(f"all {len(rows)} Inception rows of Table 1 rebuilt, parameters and shapes right")


def check_budget_design(answer: object) -> None:
    """Exercise 3: Inception widths ``(ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)`` for
    a ``DESIGN_INPUT`` input with ``DESIGN_OUT_CHANNELS`` outputs, each column at least its
    ``DESIGN_MINIMUM``, each reduction narrower than its convolution, and at most
    ``DESIGN_MAC_BUDGET`` MACs. Many designs pass; the check measures the one given.
    """
    expect(
        isinstance(answer, (tuple, list)) and len(answer) == len(DESIGN_COLUMNS),
        f"the design should be a tuple of {len(DESIGN_COLUMNS)} ints "
        f"{DESIGN_COLUMNS}, got {answer!r}",
    )
    for column, value in zip(DESIGN_COLUMNS, answer, strict=True):
        expect(isinstance(value, int) and not isinstance(value, bool),
               f"{column} should be an int, got {value!r}")
        expect(value >= DESIGN_MINIMUM[column],
               f"{column} is {value}, below its minimum of {DESIGN_MINIMUM[column]}")
    widths = dict(zip(DESIGN_COLUMNS, answer, strict=True))
    for reduce, conv in (("ch3x3red", "ch3x3"), ("ch5x5red", "ch5x5")):
        expect(widths[reduce] < widths[conv],
               f"{reduce} ({widths[reduce]}) should be narrower than {conv} ({widths[conv]})")
    out_channels = widths["ch1x1"] + widths["ch3x3"] + widths["ch5x5"] + widths["pool_proj"]
    expect(
        out_channels == DESIGN_OUT_CHANNELS,
        f"the module outputs {out_channels} channels, expected {DESIGN_OUT_CHANNELS}",
    )
    macs = model_macs(Inception(DESIGN_INPUT[1], *answer), DESIGN_INPUT)
    expect(
        macs <= DESIGN_MAC_BUDGET,
        f"the module costs {macs:,} MACs, {macs - DESIGN_MAC_BUDGET:,} over the budget of "
        f"{DESIGN_MAC_BUDGET:,}",
    )
    passed(f"{macs:,} MACs, within the budget of {DESIGN_MAC_BUDGET:,}")
