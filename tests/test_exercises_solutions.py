"""The worked solutions of every chapter's exercises pass their checks, with and without a
hidden seed: a stricter check must not refuse the answer the book gives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from onebyone.exercises import chapter1, chapter2, chapter3, chapter4, chapter5, chapter6

BOOK = Path(__file__).resolve().parent.parent / "book"
_CELL = re.compile(r"```\{code-cell\} ipython3\n(.*?)```", re.DOTALL)


def _section_cells(chapter: str) -> list[str]:
    """The code cells of ``chapter``'s exercise section, in order, without their options."""
    text = (BOOK / chapter).read_text(encoding="utf-8")
    section = text[text.index("\n## Exercises"):]
    end = section.find("\n## ", 1)
    cells = []
    for match in _CELL.finditer(section[:end] if end != -1 else section):
        lines = match.group(1).splitlines()
        options = [line for line in lines if line.startswith(":")]
        if any("nbval-ignore-output" in line for line in options):
            continue  # a measurement after the checks (Chapter 5's clock): not an answer
        cells.append("\n".join(line for line in lines if not line.startswith(":")))
    return cells


def solution_namespace(chapter: str) -> dict:
    """Run ``chapter``'s exercise section but its check cells; return the names it defined."""
    namespace: dict = {}
    for cell in _section_cells(chapter):
        if re.search(r"\bchapter\d\.check_", cell):
            continue
        exec(compile(cell, f"{chapter} (exercise section)", "exec"), namespace)
        namespace["glue"] = namespace["glue_all"] = lambda *args, **kwargs: None
    return namespace


@pytest.fixture(scope="module")
def solutions():
    chapters = ["01_pointwise.md", "02_depth_reduction.md", "03_network_in_network.md",
                "04_inception.md", "05_gpu_cost.md", "06_modern_networks.md"]
    return {chapter[:2]: solution_namespace(chapter) for chapter in chapters}


def test_every_check_cell_is_run_here(solutions):
    """Each check cell of the book calls a check this file calls below: a new exercise must
    be added here too."""
    called = set()
    for chapter in BOOK.glob("0*_*.md"):
        for cell in _section_cells(chapter.name):
            called.update(re.findall(r"\b(chapter\d\.check_\w+)", cell))
    assert called == CALLED


CALLED = {
    "chapter1.check_bottleneck_parameters", "chapter1.check_pointwise_macs",
    "chapter1.check_conv_to_linear", "chapter1.check_grouped_conv_to_linear",
    "chapter1.check_pointwise_function",
    "chapter1.check_changed_outputs", "chapter2.check_strided_saving",
    "chapter2.check_inception_3x3_branch_macs", "chapter2.check_break_even_width",
    "chapter2.check_resnet_bottleneck_parameters", "chapter2.check_bottleneck_macs_function",
    "chapter3.check_mlpconv_parameters", "chapter3.check_fully_connected_head_parameters",
    "chapter3.check_collapsed_conv_then_pointwise", "chapter3.check_mlpconv_block",
    "chapter3.check_flip_prediction", "chapter3.check_relabelled_experiment",
    "chapter4.check_inception_5a_macs", "chapter4.check_naive_5a_macs",
    "chapter4.check_inception_block",
    "chapter4.check_budget_design",
    "chapter4.check_narrow_prediction", "chapter4.check_narrow_experiment",
    "chapter5.check_reduction_intensity", "chapter5.check_a100_seconds",
    "chapter5.check_compute_bound_channels", "chapter5.check_speedup_prediction",
    "chapter6.check_pointwise_share", "chapter6.check_separable_ratio",
    "chapter6.check_folded_parameters", "chapter6.check_training_flops",
    "chapter6.check_widened_intensities",
}


def test_value_answers(solutions):
    one, two, three = solutions["01"], solutions["02"], solutions["03"]
    four, five, six = solutions["04"], solutions["05"], solutions["06"]
    chapter1.check_bottleneck_parameters(one["answer_parameters"])
    chapter1.check_pointwise_macs(one["answer_macs"])
    chapter2.check_inception_3x3_branch_macs(two["answer_branch_macs"])
    chapter2.check_break_even_width(two["answer_break_even"])
    chapter2.check_resnet_bottleneck_parameters(two["answer_block_parameters"])
    chapter2.check_strided_saving(two["answer_prediction"], two["answer_strided_saving"])
    chapter3.check_mlpconv_parameters(three["answer_mlpconv_parameters"])
    chapter3.check_fully_connected_head_parameters(three["answer_head_parameters"])
    predictions = [three[name] for name in ("predict_linear_cone", "predict_linear_diagonal",
                                            "predict_relu_cone")]
    chapter3.check_flip_prediction(three["flip_keeps_cone"], three["flip_keeps_diagonal"],
                                   *predictions)
    chapter3.check_relabelled_experiment(three["accuracy_linear_cone"],
                                         three["accuracy_linear_diagonal"],
                                         three["accuracy_relu_cone"], *predictions)
    chapter4.check_inception_5a_macs(four["answer_5a_macs"])
    chapter4.check_naive_5a_macs(four["answer_5a_naive_macs"])
    chapter4.check_budget_design(four["answer_design"])
    chapter4.check_narrow_prediction(four["answer_narrow_macs"], four["predict_drop_points"])
    chapter4.check_narrow_experiment(four["accuracy_unchanged"], four["accuracy_narrow"],
                                     four["predict_drop_points"])
    chapter5.check_reduction_intensity(five["answer_intensity"])
    chapter5.check_a100_seconds(five["answer_seconds"])
    chapter5.check_compute_bound_channels(five["answer_channels"])
    chapter5.check_speedup_prediction(five["answer_direct_macs"], five["answer_bottleneck_macs"],
                                      five["answer_predicted_speedup"])
    chapter6.check_pointwise_share(six["answer_prediction"], six["answer_first_share"],
                                   six["answer_last_share"])
    chapter6.check_separable_ratio(six["answer_separable_ratio"])
    chapter6.check_folded_parameters(six["answer_weight"], six["answer_bias"])
    chapter6.check_training_flops(six["answer_training_flops"])
    chapter6.check_widened_intensities(
        six["answer_depthwise_prediction"], six["answer_pointwise_prediction"],
        six["answer_depthwise_intensity"], six["answer_pointwise_intensity"])


@pytest.mark.parametrize("hidden_seed", [None, 1])
def test_function_and_module_answers(solutions, hidden_seed):
    one, two, three, four = solutions["01"], solutions["02"], solutions["03"], solutions["04"]
    chapter1.check_conv_to_linear(one["conv_to_linear"], hidden_seed=hidden_seed)
    chapter1.check_grouped_conv_to_linear(one["conv_to_linear"], hidden_seed=hidden_seed)
    chapter1.check_pointwise_function(one["pointwise"], hidden_seed=hidden_seed)
    chapter1.check_changed_outputs(one["predicted_1x1"], one["predicted_3x3"],
                                   one["count_changed"])
    chapter2.check_bottleneck_macs_function(two["bottleneck_macs"], hidden_seed=hidden_seed)
    chapter3.check_collapsed_conv_then_pointwise(three["answer_conv"], hidden_seed=hidden_seed)
    chapter3.check_mlpconv_block(three["mlpconv"], hidden_seed=hidden_seed)
    chapter4.check_inception_block(four["inception_block"], hidden_seed=hidden_seed)
