"""tools/diagrams.py: the book's block diagrams are current, accessible, readable and correct.

The committed SVG files in book/figures/ must be exactly what the script draws from the current
package (a stale figure fails), must parse, carry a title and a description, stay narrow with
no text under 15 units, fetch nothing, and show the package's counts: every number written on
a diagram is one the package computes, and the counts each chapter quotes are recomputed here
by their own route and looked for in the committed file.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import diagrams
import pytest

from onebyone import (
    bottleneck,
    cost,
    googlenet,
    inception,
    mobilenet,
    nin,
    resnet_bottleneck,
    separable,
)

SVG = "{http://www.w3.org/2000/svg}"
# A number on a diagram: digits, with thousands commas and maybe decimals.
NUMBER = re.compile(r"(?<![\d.,])\d[\d,]*(?:\.\d+)?")
# Names that contain digits but are no count; removed before the numbers are read.
NAMES = ("ResNet-50", "3a")


@pytest.fixture(scope="module")
def drawn() -> dict[str, diagrams.Diagram]:
    return {diagram.name: diagram for diagram in diagrams.draw_all()}


def committed(name: str) -> str:
    return (diagrams.FIGURES / f"{name}.svg").read_text(encoding="utf-8")


def text_of(svg: str) -> str:
    """Everything a reader sees or hears: the labels, the title and the description."""
    root = ET.fromstring(svg.encode("utf-8"))
    parts = ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]
    parts += [root.findtext(f"{SVG}title", ""), root.findtext(f"{SVG}desc", "")]
    return "\n".join(parts)


def numbers_in(svg: str) -> list[str]:
    """Every number written in ``svg``'s text, names such as "ResNet-50" left out."""
    text = text_of(svg)
    for name in NAMES:
        text = text.replace(name, "")
    return NUMBER.findall(text)


def shown(value: float, token: str) -> bool:
    """Whether ``token`` ("1,056", "9.68") writes ``value`` at the precision it shows."""
    number = float(token.replace(",", ""))
    decimals = len(token.split(".")[1]) if "." in token else 0
    if decimals == 0:
        return isinstance(value, int) and value == number
    return abs(value - number) <= 0.5 * 10**-decimals + 1e-12


def test_the_committed_figures_are_what_the_script_draws(tmp_path: Path) -> None:
    written = diagrams.write_all(tmp_path)
    assert {path.name for path in written} == {
        path.name for path in diagrams.FIGURES.glob("*.svg")
    }, "book/figures/ holds an SVG the script does not draw, or lacks one it does"
    for path in written:
        assert path.read_bytes() == (diagrams.FIGURES / path.name).read_bytes(), (
            f"book/figures/{path.name} is stale: run `python tools/diagrams.py`"
        )


def test_drawing_twice_gives_the_same_bytes(drawn) -> None:
    again = {diagram.name: diagram.svg for diagram in diagrams.draw_all()}
    assert again == {name: diagram.svg for name, diagram in drawn.items()}


@pytest.mark.parametrize("name", [draw.__name__.removeprefix("draw_")
                                  for draw in diagrams.DIAGRAMS])
def test_each_figure_is_accessible_narrow_and_self_contained(name: str) -> None:
    svg = committed(name)
    root = ET.fromstring(svg.encode("utf-8"))
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title, desc = root.findtext(f"{SVG}title", ""), root.findtext(f"{SVG}desc", "")
    assert len(title) > 20 and len(desc) > 100, "a title and a description say what it shows"
    _, _, width, height = (float(v) for v in root.get("viewBox").split())
    assert 480 <= width <= 600 and height > 0, "narrow enough to read at 390 pixels"
    assert root.get("font-family").startswith("DejaVu Sans")
    sizes = [float(e.get("font-size")) for e in root.iter() if e.get("font-size")]
    assert sizes and min(sizes) >= diagrams.MIN_FONT
    assert not re.search(r"href|url\(|@import|<image|<script|<style", svg), "fetches nothing"
    assert not re.search(r"\d{4}-\d\d-\d\d|\bid=\"(?!" + name + r"-(title|desc)\")", svg), (
        "no dates, no ids but those of the title and the description"
    )


def test_every_number_on_a_diagram_comes_from_the_package(drawn) -> None:
    for name, diagram in drawn.items():
        values = [*diagram.numbers.values(), 1]  # 1 as in "1×1"
        for token in numbers_in(committed(name)):
            assert any(shown(value, token) for value in values), (
                f"{name}.svg shows {token}, which is none of its package-computed numbers "
                f"{diagram.numbers}"
            )


def test_every_package_number_is_on_its_diagram(drawn) -> None:
    for name, diagram in drawn.items():
        tokens = numbers_in(committed(name))
        for key, value in diagram.numbers.items():
            assert any(shown(value, token) for token in tokens), (
                f"{name}.svg does not show {key} = {value}"
            )


def labels(name: str) -> str:
    return text_of(committed(name))


def test_chapter_1_the_classic_1x1_layer() -> None:
    arguments = googlenet.inception_arguments("inception3a")
    size = googlenet.INCEPTION_INPUT_SIZE["inception3a"]
    c_in, c_out = arguments["in_channels"], arguments["ch5x5"]
    layer = bottleneck.same_conv(c_in, c_out, 1)
    text = labels("pointwise_filter")
    assert f"{size}×{size}×{c_in} → {size}×{size}×{c_out}" in text
    assert f"{cost.count_parameters(layer):,} parameters" in text
    assert f"{cost.model_macs(layer, (1, c_in, size, size)):,} MACs" in text


def test_chapter_2_the_bottleneck_macs() -> None:
    arguments = googlenet.inception_arguments("inception3a")
    size = googlenet.INCEPTION_INPUT_SIZE["inception3a"]
    c_in, r, c_out = arguments["in_channels"], arguments["ch5x5red"], arguments["ch5x5"]
    direct = cost.conv2d_macs(c_in, c_out, 5, size)
    reduction = cost.conv2d_macs(c_in, r, 1, size)
    spatial = cost.conv2d_macs(r, c_out, 5, size)
    text = labels("depth_reduction")
    for macs in (direct, reduction, spatial, reduction + spatial):
        assert f"{macs:,} MACs" in text
    assert f"{direct / (reduction + spatial):.2f}× fewer" in text
    assert f"1×1 conv, {c_in} → {r}" in text and f"5×5 conv, {r} → {c_out}" in text


def test_chapter_3_the_mlpconv_parameters() -> None:
    block = nin.SmallNiN().mlpconv1
    text = labels("mlpconv")
    for layer in (block.conv, block.cccp1, block.cccp2):
        assert f"{cost.count_parameters(layer):,} parameters" in text
    both = cost.count_parameters(nin.per_pixel_mlp(block))
    assert f"the two 1×1 layers: {both:,} parameters" in text
    another = cost.conv2d_parameters(block.cccp1.in_channels, block.cccp1.out_channels,
                                     kernel_size=block.conv.kernel_size)
    assert f"{another:,} parameters" in text


def test_chapter_4_the_inception_macs() -> None:
    arguments = googlenet.inception_arguments("inception3a")
    size = googlenet.INCEPTION_INPUT_SIZE["inception3a"]
    shape = (1, arguments["in_channels"], size, size)
    naive = inception.NaiveInception(arguments["in_channels"], arguments["ch1x1"],
                                     arguments["ch3x3"], arguments["ch5x5"])
    reduced = inception.Inception(**arguments)
    text = labels("inception")
    for module in (naive, reduced):
        for layer in cost.count_model(module, shape):
            assert f"{layer.macs:,}" in text, layer.name
    naive_macs = sum(inception.branch_costs(naive, shape).values())
    reduced_macs = sum(inception.branch_costs(reduced, shape).values())
    assert f"{naive_macs:,} MACs" in text
    assert f"{reduced_macs:,} MACs: {naive_macs / reduced_macs:.1f}× fewer" in text
    assert f"concatenate: {size} × {size} × {naive.out_channels}" in text
    assert f"concatenate: {size} × {size} × {reduced.out_channels}" in text


def test_chapter_6_the_resnet_bottleneck() -> None:
    block = resnet_bottleneck.Bottleneck()
    size = resnet_bottleneck.FIRST_STAGE_SIZE
    shape = (1, block.channels, size, size)
    text = labels("resnet_bottleneck")
    for conv in (block.conv1, block.conv2, block.conv3):
        assert f"{conv.weight.numel():,} weights" in text
    weights = resnet_bottleneck.convolution_weights(block)
    macs = cost.model_macs(block, shape)
    assert f"block: {weights:,} weights, {macs:,} MACs" in text
    basic = cost.model_macs(resnet_bottleneck.BasicBlock(block.channels), shape)
    assert f"{basic / macs:.1f}× fewer MACs" in text


def test_chapter_6_the_depthwise_separable_layer() -> None:
    index = mobilenet.SEPARABLE_LAYERS.index((256, 256, 1))  # the chapter's layer
    m, n, _ = mobilenet.SEPARABLE_LAYERS[index]
    size = cost.conv2d_output_size(224, 3, stride=2, padding=1)[0]  # after the stem
    for _, _, stride in mobilenet.SEPARABLE_LAYERS[:index]:
        size = cost.conv2d_output_size(size, 3, stride=stride, padding=1)[0]
    layer = separable.DepthwiseSeparable(m, n)
    costs = {c.name: c for c in cost.count_model(layer, (1, m, size, size))}
    total = costs["depthwise"].macs + costs["pointwise"].macs
    text = labels("depthwise_separable")
    for part in costs.values():
        assert f"{part.macs:,} MACs" in text and f"{part.parameters:,} weights" in text
    assert f"{cost.conv2d_macs(m, n, 3, size):,} MACs" in text
    assert f"{total:,} MACs: {1 / separable.separable_cost_ratio(n, 3):.1f}× fewer" in text


def test_a_label_that_would_be_clipped_or_tiny_is_refused() -> None:
    drawing = diagrams.Drawing("probe", height=100, title="t", description="d")
    with pytest.raises(ValueError, match="leaves the"):
        drawing.text(diagrams.WIDTH - 10, 50, "a label far too long to fit")
    with pytest.raises(ValueError, match="below"):
        drawing.text(100, 50, "tiny", size=diagrams.MIN_FONT - 1)
    with pytest.raises(ValueError, match="does not fit"):
        drawing.box(10, 10, 60, 40, ["3×3 conv, 192 → 32"], diagrams.SPATIAL)
