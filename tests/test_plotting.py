import matplotlib
import pytest
import torch
from matplotlib.figure import Figure

from onebyone.plotting import (
    FIGURE_WIDTH_INCHES,
    READABLE_PIXELS,
    STYLE,
    book_style,
    show_channels,
    smallest_text_pixels,
)


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


def test_book_style_draws_in_the_style_and_narrows_wide_figures():
    @book_style
    def wide() -> Figure:
        figure = Figure(figsize=(10, 4))
        axes = figure.subplots()
        axes.plot([0, 1], [0, 1], label="a line")
        axes.set_xlabel("x")
        axes.legend()
        return figure

    figure = wide()
    assert figure.get_size_inches()[0] == FIGURE_WIDTH_INCHES
    axes = figure.get_axes()[0]
    assert axes.xaxis.label.get_fontsize() == STYLE["axes.labelsize"]
    assert axes.get_legend().get_texts()[0].get_fontsize() == STYLE["legend.fontsize"]
    assert figure.get_layout_engine() is not None
    assert smallest_text_pixels(figure) >= READABLE_PIXELS
    # The style holds only inside the decorated function.
    assert matplotlib.rcParams["axes.labelsize"] != STYLE["axes.labelsize"]


def test_smallest_text_pixels_catches_small_text():
    figure = Figure(figsize=(10, 4))
    figure.subplots().set_xlabel("tiny", fontsize=8)
    # 8 points on a 10-inch figure shown 358 pixels wide: 8 / 72 * 35.8 = 4 pixels.
    assert abs(smallest_text_pixels(figure) - 8 / 72 * 35.8) < 1e-9
    with pytest.raises(ValueError, match="no text"):
        smallest_text_pixels(Figure())


def test_show_channels_is_readable_on_a_phone():
    figure = show_channels([torch.rand(3, 4, 4), torch.rand(2, 4, 4)], ["in", "out"],
                           [["r", "g", "b"], ["a", "b"]])
    assert smallest_text_pixels(figure) >= READABLE_PIXELS


def test_book_style_is_the_one_layout_rule():
    """Every figure is laid out by book_style (constrained layout); a figure function that
    chooses its own layout is refused, so two layout rules cannot creep back in."""

    @book_style
    def own_layout() -> Figure:
        figure = Figure(figsize=(4, 3), layout="tight")
        figure.subplots().set_xlabel("x")
        return figure

    with pytest.raises(ValueError, match="chose a layout"):
        own_layout()
    figure = show_channels([torch.rand(1, 2, 2)], ["x"])
    assert type(figure.get_layout_engine()).__name__ == "ConstrainedLayoutEngine"


def _overlapping_texts(figure: Figure) -> list[tuple[str, str]]:
    """Pairs of non-empty titles, axis labels and legends whose drawn boxes overlap, and those
    that cross the figure's edge (paired with "the figure's edge")."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    boxes = []
    for axes in figure.axes:
        for text in (axes.title, axes.xaxis.label, axes.yaxis.label):
            if text.get_text():
                boxes.append((text.get_text(), text.get_window_extent(renderer)))
    for legend in [*figure.legends, *(ax.get_legend() for ax in figure.axes)]:
        if legend is not None:
            boxes.append(("legend", legend.get_window_extent(renderer)))
    if figure._suptitle is not None:
        boxes.append((figure._suptitle.get_text(), figure._suptitle.get_window_extent(renderer)))
    inside = figure.bbox
    clipped = [
        (name, "the figure's edge")
        for name, box in boxes
        if box.x0 < inside.x0 - 1 or box.x1 > inside.x1 + 1
        or box.y0 < inside.y0 - 1 or box.y1 > inside.y1 + 1
    ]
    return clipped + [
        (first, second)
        for index, (first, box) in enumerate(boxes)
        for second, other in boxes[index + 1:]
        if box.overlaps(other)
    ]


@pytest.mark.parametrize(
    "draw",
    [
        lambda plots, rows: plots.plot_same_math(rows),
        lambda plots, rows: plots.plot_bottleneck(rows),
        lambda plots, rows: plots.plot_roofline_sweep(rows),
        lambda plots, rows: plots.plot_inception(rows, batch_size=1),
        lambda plots, rows: plots.plot_precision(rows),
    ],
    ids=["same_math", "bottleneck", "roofline_sweep", "inception", "precision"],
)
def test_chapter5_figures_have_no_overlapping_titles_labels_or_legends(draw):
    # Chapter 5's figures drawn from the recorded file, as the book draws them. The same-math
    # figure's two panels sit side by side in a narrow column: its one-line titles ran into
    # each other until they were split and its legends moved below the panels.
    from pathlib import Path

    from onebyone import plotting
    from onebyone.perf import results

    rows = results.read_results(Path(__file__).parent.parent / "book" / "data" / "cpu.csv")
    assert _overlapping_texts(draw(plotting, rows)) == []


def _two_panel_figures() -> dict[str, Figure]:
    from onebyone import bottleneck, plotting
    from onebyone.training import TrainingHistory

    sweep = bottleneck.bottleneck_sweep(192, 32, 5, 28, 28, list(range(1, 257, 8)))
    history = TrainingHistory(
        train_loss=[2.3, 1.0, 0.5], test_accuracy=[0.2, 0.6, 0.9],
        validation_accuracy=[0.2, 0.6, 0.9],
    )
    names = ["NiN, GAP head", "plain CNN, FC head", "NiN, ReLU on class maps"]
    return {
        "bottleneck_sweep": plotting.plot_bottleneck_sweep(sweep),
        "histories": plotting.plot_histories({name: history for name in names}),
    }


@pytest.mark.parametrize("name", ["bottleneck_sweep", "histories"])
def test_two_panel_figures_keep_their_legend_below_and_their_text_apart(name):
    # Chapters 2 and 3: each panel is half the column wide, so a legend inside a panel covered
    # its lines and one-line axis labels ran off the figure.
    figure = _two_panel_figures()[name]
    assert _overlapping_texts(figure) == []
    assert len(figure.legends) == 1 and all(ax.get_legend() is None for ax in figure.axes)


def test_training_histories_put_ticks_on_whole_epochs_only():
    # Chapter 3's history plot showed ticks at 2.5, 7.5 and 12.5 epochs, which no run measured.
    figure = _two_panel_figures()["histories"]
    figure.canvas.draw()
    for axes in figure.axes:
        ticks = [tick for tick in axes.get_xticks() if axes.get_xlim()[0] <= tick
                 <= axes.get_xlim()[1]]
        assert ticks and all(float(tick).is_integer() for tick in ticks), ticks
