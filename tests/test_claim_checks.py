"""Every `assert` in a chapter's code must test a computed value, never literals against literals.

A claim-check that compares two constants (``assert 64 * 64 == 4096``), or a name that was only
ever given a literal (``EPOCHS = 15`` then ``assert EPOCHS == 15``), or an expression with
itself, cannot fail whatever the code computes. This test parses the code cells of every
chapter and flags such asserts; it is itself tested on planted bad examples below.
"""

from __future__ import annotations

import ast
import itertools

import jupytext
import pytest


def _code_cells(text: str) -> list[str]:
    """The code cells of a MyST chapter, with IPython magics and shell lines removed."""
    notebook = jupytext.reads(text, fmt="md:myst")
    cells = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        lines = [
            line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))
        ]
        cells.append("\n".join(lines))
    return cells


def _is_literal(node: ast.AST, literal_names: set[str]) -> bool:
    """Whether ``node`` is built from constants and literal names only (no call, no lookup)."""
    for child in ast.walk(node):
        if isinstance(
            child, (ast.Call, ast.Attribute, ast.Subscript, ast.Lambda, ast.comprehension)
        ):
            return False
        if isinstance(child, ast.Name) and child.id not in literal_names:
            return False
    return True


def _target_names(target: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def _bind(target: ast.AST, value: ast.AST | None, literal_names: set[str]) -> None:
    """Record whether each name bound by ``target = value`` holds a literal."""
    if isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)):
        if len(target.elts) == len(value.elts):
            for element, element_value in zip(target.elts, value.elts, strict=True):
                _bind(element, element_value, literal_names)
            return
    literal = value is not None and _is_literal(value, literal_names)
    for name in _target_names(target):
        if literal:
            literal_names.add(name)
        else:
            literal_names.discard(name)


def _assert_problem(test: ast.AST, literal_names: set[str]) -> str | None:
    """Why the assert's test cannot fail, or ``None`` when it refers to a computed value."""
    if isinstance(test, ast.BoolOp):
        for value in test.values:
            problem = _assert_problem(value, literal_names)
            if problem:
                return problem
        return None
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return _assert_problem(test.operand, literal_names)
    if isinstance(test, ast.Compare):
        operands = [test.left, *test.comparators]
        if all(_is_literal(o, literal_names) for o in operands):
            return "compares literals only"
        for left, right in itertools.pairwise(operands):
            if _is_literal(left, literal_names) and _is_literal(right, literal_names):
                return "a link of the chain compares literals only"
        dumps = [ast.dump(o) for o in operands]
        if len(set(dumps)) < len(dumps):
            return "compares an expression with itself"
        return None
    if _is_literal(test, literal_names):
        return "tests a literal"
    return None


def weak_asserts(text: str) -> list[str]:
    """The asserts of a chapter's code cells that do not test a computed value.

    Names are followed through the cells in order: a name bound (by ``=``, ``for`` or a tuple
    assignment) to an expression of constants and such names only counts as a literal.

    Returns:
        One ``"cell N, line L: <source>: <why>"`` per weak assert.
    """
    problems = []
    literal_names: set[str] = set()
    for number, source in enumerate(_code_cells(text), start=1):
        tree = ast.parse(source)
        for node in _in_order(tree):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    _bind(target, node.value, literal_names)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                value = node.value if isinstance(node, ast.AnnAssign) else None
                _bind(node.target, value, literal_names)
            elif isinstance(node, (ast.For, ast.comprehension)):
                iterable = node.iter
                elements = iterable.elts if isinstance(iterable, (ast.Tuple, ast.List)) else None
                literal = elements is not None and all(
                    _is_literal(e, literal_names) for e in elements
                )
                for name in _target_names(node.target):
                    (literal_names.add if literal else literal_names.discard)(name)
            elif isinstance(node, ast.Assert):
                problem = _assert_problem(node.test, literal_names)
                if problem:
                    problems.append(
                        f"cell {number}, line {node.lineno}: {ast.unparse(node.test)}: {problem}"
                    )
    return problems


def _in_order(tree: ast.AST):
    """The statements and comprehensions of ``tree``, depth first, in source order."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _chapter(code: str) -> str:
    return f"# A chapter\n\n```{{code-cell}} ipython3\n{code}\n```\n"


@pytest.mark.parametrize(
    "code",
    [
        "assert 64 * 64 == 4096",
        "EPOCHS = 15\nassert EPOCHS == 15",
        "a, b = 3, 4\nassert a * b == 12",
        "for c in [1, 2]:\n    assert c > 0",
        "x = compute()\nassert x == 1 and 2 > 1",
        "x = compute()\nassert x.shape == x.shape",
        "assert not (1 == 2)",
        "assert True",
        "size = 28\nmacs = size * size\nassert macs == 784",
        "x = compute()\nassert 4 < x < 5 < 9",
    ],
)
def test_planted_weak_asserts_are_found(code):
    assert len(weak_asserts(_chapter(code))) == 1, code


@pytest.mark.parametrize(
    "code",
    [
        "size = 28\nassert cost.model_macs(layer, size) == size * size",
        "x = compute()\nassert x > 0.5",
        "EPOCHS = 15\nhistory = train(EPOCHS)\nassert len(history) == EPOCHS",
        "for name, y in versions.items():\n    assert torch.equal(y, exact)",
        "a = 3\na = measure()\nassert a == 3",
        "%matplotlib inline\nassert torch.equal(f(x), g(x))",
        "x, y = compute()\nassert 4 < x < 5 <= y < 10",
    ],
)
def test_asserts_on_computed_values_pass(code):
    assert weak_asserts(_chapter(code)) == []


def test_magics_are_ignored_and_cells_are_followed_in_order():
    text = _chapter("%matplotlib inline\nN = 5") + _chapter("assert N == 5")
    assert weak_asserts(text) == ["cell 2, line 1: N == 5: compares literals only"]


def test_every_chapter_assert_tests_a_computed_value(notebooks_tool):
    found = {path.name: weak_asserts(path.read_text()) for path in notebooks_tool.chapters()}
    assert {name: problems for name, problems in found.items() if problems} == {}
    assert sum(path.read_text().count("assert ") for path in notebooks_tool.chapters()) > 50


def test_a_weak_assert_planted_in_a_real_chapter_is_found(notebooks_tool):
    chapter = notebooks_tool.chapters()[0]
    planted = chapter.read_text() + _chapter("WIDTH = 192\nassert WIDTH * 2 == 384")
    found = weak_asserts(planted)
    assert len(found) == 1 and "WIDTH * 2 == 384" in found[0]
