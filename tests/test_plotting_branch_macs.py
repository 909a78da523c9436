"""The "where the MACs go" chart draws the numbers it is given, with labelled axes."""

import pytest
from matplotlib.figure import Figure

from onebyone.inception import Inception, NaiveInception, branch_costs
from onebyone.plotting import plot_branch_macs

NAIVE = {"branch1": 3_000_000, "branch2": 40_000_000, "branch3": 25_000_000, "branch4": 0}
REDUCED = {"branch1": 3_000_000, "branch2": 9_000_000, "branch3": 1_000_000, "branch4": 2_000_000}


def test_bars_have_the_heights_given_in_millions():
    figure = plot_branch_macs(NAIVE, REDUCED, title="3a")
    assert isinstance(figure, Figure)
    (axes,) = figure.get_axes()
    naive_bars, reduced_bars = axes.containers
    assert [bar.get_height() for bar in naive_bars] == [3.0, 40.0, 25.0, 0.0]
    assert [bar.get_height() for bar in reduced_bars] == [3.0, 9.0, 1.0, 2.0]
    assert axes.get_title() == "3a"
    assert "millions" in axes.get_ylabel() and "branch" in axes.get_xlabel()
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend == ["naive (68 M MACs)", "with 1x1 reductions (15 M MACs)"]


def test_draws_real_module_costs():
    naive = branch_costs(NaiveInception(192, 64, 128, 32), (1, 192, 28, 28))
    reduced = branch_costs(Inception(192, 64, 96, 128, 16, 32, 32), (1, 192, 28, 28))
    (axes,) = plot_branch_macs(naive, reduced).get_axes()
    heights = [bar.get_height() for bar in axes.containers[1]]
    assert heights == pytest.approx([reduced[name] / 1e6 for name in reduced])


def test_refuses_wrong_branches_and_negative_counts():
    with pytest.raises(ValueError, match="naive_macs must have exactly the keys"):
        plot_branch_macs({"branch1": 1}, REDUCED)
    with pytest.raises(ValueError, match="reduced_macs has a negative MAC count"):
        plot_branch_macs(NAIVE, {**REDUCED, "branch4": -1})
