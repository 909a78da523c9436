import pytest
import torch
from matplotlib.figure import Figure

from onebyone.plotting import show_channels


def test_show_channels_draws_one_image_per_channel():
    figure = show_channels([torch.rand(3, 4, 4), torch.rand(2, 4, 4)], ["in", "out"])
    assert isinstance(figure, Figure)
    axes = figure.get_axes()
    assert len(axes) == 6  # 2 rows x 3 columns
    drawn = [ax for ax in axes if ax.get_images()]
    assert len(drawn) == 5  # the unused sixth cell is blank
    assert axes[0].get_ylabel() == "in" and axes[3].get_ylabel() == "out"


def test_show_channels_names_channels():
    figure = show_channels([torch.rand(2, 3, 3)], ["x"], [["a", "b"]])
    assert [ax.get_title() for ax in figure.get_axes()] == ["a", "b"]


def test_show_channels_refuses_bad_rows():
    with pytest.raises(ValueError, match="C x H x W"):
        show_channels([torch.rand(4, 4)], ["x"])
    with pytest.raises(ValueError, match="2 rows but 1 row titles"):
        show_channels([torch.rand(1, 2, 2), torch.rand(1, 2, 2)], ["x"])
