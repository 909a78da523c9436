"""An edition without worked solutions: the web book's transform and the twins' stubs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest
from docutils import nodes
from docutils.frontend import get_default_settings
from docutils.parsers.rst import Parser
from docutils.utils import new_document

ROOT = Path(__file__).resolve().parent.parent


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def extension():
    return _load("without_solutions_ext", ROOT / "_ext" / "without_solutions.py")


@pytest.fixture(scope="module")
def tool(notebooks_tool):
    sys.modules.setdefault("notebooks", notebooks_tool)
    module = _load("without_solutions_tool", ROOT / "tools" / "without_solutions.py")
    module.notebooks = notebooks_tool  # the module the tests use, whatever was imported first
    return module


def test_the_web_book_transform_replaces_every_solution(extension):
    from sphinx_exercise.nodes import exercise_node, solution_node

    document = new_document("page", get_default_settings(Parser))
    exercise = exercise_node()
    exercise += nodes.paragraph(text="Count the MACs.")
    document += exercise
    for _ in range(2):
        solution = solution_node()
        solution += nodes.paragraph(text="4,816,896")
        solution += nodes.literal_block(text="answer = 28 * 28 * 192 * 32")
        document += solution
    assert extension.remove_solutions(document) == 2
    text = document.astext()
    assert "4,816,896" not in text and "answer =" not in text
    assert "Count the MACs." in text and text.count(extension.WITHHELD) == 2
    assert extension.remove_solutions(document) == 0


def test_stubs_keep_each_answer_name_and_signature_and_nothing_else(tool):
    source = (
        "import torch\n"
        "scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)\n"
        "with torch.no_grad():\n"
        "    answer_weight = conv.weight * scale[:, None, None, None]\n"
        "    answer_bias = bn.bias - scale * bn.running_mean\n"
        "def pointwise(x, weight, bias=None):\n"
        '    """A docstring."""\n'
        "    return x\n"
    )
    stub = tool.stub(source, {"answer_weight", "answer_bias", "pointwise"})
    assert stub.splitlines() == [
        "# Your answer:", "answer_weight = ...", "answer_bias = ...",
        "def pointwise(x, weight, bias=None):", "    ...",
    ]
    assert "running_var" not in stub and "scale" not in stub
    compile(stub, "stub", "exec")  # a student can run it as it is
    assert tool.checked_names("chapter6.check_folded_parameters(answer_weight, answer_bias)\n"
                              "print(answer_weight)") == {"answer_weight", "answer_bias"}


def test_every_twin_loses_its_solutions_and_keeps_its_exercises_and_checks(tool, notebooks_tool):
    for chapter in notebooks_tool.chapters():
        twin = nbformat.read(notebooks_tool.twin_path(chapter), as_version=4)
        solutions = [cell for cell in twin.cells if cell.cell_type == "code"
                     and cell.source.startswith(notebooks_tool.SOLUTION_TITLE)]
        exercises = sum(cell.source.count("#### Exercise") for cell in twin.cells
                        if cell.cell_type == "markdown")
        if not exercises:  # an appendix
            assert not solutions, chapter.name
            continue
        assert solutions, f"{chapter.name}: no collapsed solution found (regenerate the twins)"
        stripped = tool.strip(twin)
        markdown = "\n".join(c.source for c in stripped.cells if c.cell_type == "markdown")
        code = [c.source for c in stripped.cells if c.cell_type == "code"]
        assert "Solution to Exercise" not in markdown, chapter.name
        assert markdown.count(tool.WITHHELD) == markdown.count("#### Exercise"), chapter.name
        assert not any(source.startswith(notebooks_tool.SOLUTION_TITLE) for source in code)
        stubs = [source for source in code if source.startswith("# Your answer:")]
        assert len(stubs) == len(solutions), chapter.name
        for source in stubs:
            compile(source, chapter.name, "exec")
        checks_before = sum(bool(tool.CHECK_CALL.search(c.source)) for c in twin.cells
                            if c.cell_type == "code")
        assert sum(bool(tool.CHECK_CALL.search(source)) for source in code) == checks_before
        assert twin.cells[1].source == stripped.cells[1].source  # the original is untouched
