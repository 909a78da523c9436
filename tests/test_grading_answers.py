"""Answers travel between the grader's processes as checked data, and the environment record
sees every change: the pieces of ``onebyone.exercises.grader`` tested one by one, quickly."""

from __future__ import annotations

import json
import os
import textwrap

import pytest
import torch
from torch import nn

from onebyone.exercises import answers, grader


def _round_trip(value):
    return answers.rebuild(json.loads(json.dumps(answers.describe(value))))


def test_values_survive_by_value_and_exactly_their_type():
    for value in (12845056, -3, 2**80, 0.1, float("inf"), True, None, "text", (192, 64, 208),
                  [1, (2.5, "x")]):
        rebuilt = _round_trip(value)
        assert rebuilt == value or (value != value and rebuilt != rebuilt)
        assert type(rebuilt) is type(value)
    tensor = torch.randn(3, 4, 1, 1, dtype=torch.float64)
    assert torch.equal(_round_trip(tensor), tensor) and _round_trip(tensor).dtype == tensor.dtype
    conv = nn.Conv2d(4, 2, kernel_size=1, dtype=torch.float64)
    rebuilt = _round_trip(conv)
    assert isinstance(rebuilt, nn.Conv2d) and rebuilt.kernel_size == (1, 1)
    assert torch.equal(rebuilt.weight, conv.weight) and torch.equal(rebuilt.bias, conv.bias)


def test_an_int_subclass_and_the_stub_are_refused_with_a_reason():
    class Yes(int):
        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

    with pytest.raises(answers.Unreadable, match="Yes"):
        _round_trip(Yes(0))
    with pytest.raises(answers.Unreadable, match="stub"):
        _round_trip(...)
    with pytest.raises(answers.Unreadable):
        answers.rebuild({"type": "int", "value": "12 or True"})
    with pytest.raises(answers.Unreadable):
        answers.rebuild({"type": "tensor", "dtype": "float32", "shape": [2], "values": [1.0]})


CELLS = [
    "import torch\nfrom torch import nn\nimport torch.nn.functional as F",
    "F.conv2d = None  # a top-level patch: never re-run",
    textwrap.dedent("""
        SCALE = 2

        def helper(x):
            return x * SCALE

        def answer(x):
            return helper(x) + 1
    """),
]


def test_recreate_runs_only_the_definition_and_what_it_uses():
    function = answers.recreate(CELLS, "answer")
    assert function(torch.tensor(1)).item() == 3
    import torch.nn.functional as F

    assert F.conv2d is not None  # the patch of cell 2 did not run


@pytest.mark.parametrize("body", [
    "torch.allclose = lambda *a, **k: True",
    "alias = torch\n    alias.allclose = None",
    "from torch.utils._python_dispatch import _disable_current_modes",
    "with torch._C.DisableTorchFunction():\n        pass",
    "import os",
    "setattr(torch, 'allclose', None)",
    "return vars(torch)",
    "return x.__class__",
    "return eval('1')",
    "return open('/tmp/x', 'w')",
])
def test_screening_refuses_patches_and_private_paths(body):
    cells = [f"import torch\ndef answer(x):\n    {body}\n"]
    with pytest.raises(answers.Refused):
        answers.recreate(cells, "answer")


def test_screening_allows_what_solutions_write():
    cells = [textwrap.dedent("""
        import torch
        from torch import nn

        class Branches(nn.Module):
            def __init__(self, *branches):
                super().__init__()
                self.branches = nn.ModuleList(branches)

        def answer(conv):
            linear = nn.Linear(2, 3)
            with torch.no_grad():
                linear.weight.copy_(torch.ones(3, 2))
            linear.weight.requires_grad = False
            return Branches(linear)
    """)]
    assert isinstance(answers.recreate(cells, "answer")(None), nn.Module)


def test_the_environment_record_sees_a_rewrite_that_restores_its_times(tmp_path):
    module = tmp_path / "lib" / "torch_like.py"
    module.parent.mkdir()
    module.write_text("x = 1\n")
    (tmp_path / "lib" / "sitecustomize.py").write_text("")
    before = grader.snapshot([tmp_path / "lib"])
    info = module.stat()
    module.write_text("x = 2\n")
    os.utime(module, ns=(info.st_atime_ns, info.st_mtime_ns))  # mtime put back
    (tmp_path / "lib" / "sitecustomize.py").write_text("import evil")  # never loaded: ignored
    (tmp_path / "lib" / "new.py").write_text("")
    assert grader.changes(before, grader.snapshot([tmp_path / "lib"])) == [
        f"added {tmp_path / 'lib' / 'new.py'}", f"changed {module}"]


def test_grades_merge_by_label_and_refuse_another_assignments_table(tmp_path):
    names = ["q1", "q2"]
    first = {"a/x.ipynb": grader.Result("a/x.ipynb", {"q1": 1.0, "q2": 0.0}),
             "b/x.ipynb": grader.Result("b/x.ipynb", {"q1": 0.0, "q2": 0.0})}
    csv_path = grader.write_grades(tmp_path, names, first)
    grader.write_grades(tmp_path, names, {"b/x.ipynb": grader.Result("b/x.ipynb",
                                                                     {"q1": 1.0, "q2": 1.0})})
    rows = grader.read_grades(csv_path, names)
    assert set(rows) == {"a/x.ipynb", "b/x.ipynb"}
    assert (rows["a/x.ipynb"]["q1"], rows["b/x.ipynb"]["total_points_earned"]) == ("1", "2")
    assert sorted(path.name for path in tmp_path.glob("*.json")) == [
        "a%2Fx.ipynb.json", "b%2Fx.ipynb.json"]
    with pytest.raises(ValueError, match="line 1, column 1"):
        grader.read_grades(csv_path, ["other"])
