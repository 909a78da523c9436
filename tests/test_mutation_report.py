"""The mutation score report (tools/mutation_report.py) and the list of equivalent mutants."""

from __future__ import annotations

import importlib
import json

import mutation_report
import pytest


def _write_meta(mutants, module_path, codes):
    meta = mutants / "src" / f"{module_path}.py.meta"
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"exit_code_by_key": codes}))


def test_read_equivalents_needs_a_reason_on_every_line(tmp_path):
    path = tmp_path / "equivalent.txt"
    path.write_text("# a comment\n\nonebyone.a.x_f__mutmut_1: the same value\n")
    assert mutation_report.read_equivalents(path) == {"onebyone.a.x_f__mutmut_1": "the same value"}
    path.write_text("onebyone.a.x_f__mutmut_1:   \n")
    with pytest.raises(ValueError, match=r"equivalent\.txt:1"):
        mutation_report.read_equivalents(path)


def test_tally_sorts_mutants_into_killed_equivalent_survived_and_not_run(tmp_path):
    mutants = tmp_path / "mutants"
    codes = {"onebyone.perf.a.x_f__mutmut_1": 1,     # a failing test
             "onebyone.perf.a.x_f__mutmut_2": 36,    # a timeout
             "onebyone.perf.a.x_f__mutmut_3": 0,     # survived, explained
             "onebyone.perf.a.x_f__mutmut_4": 0,     # survived, unexplained
             "onebyone.perf.a.x_f__mutmut_5": 33,    # no test reaches it
             "onebyone.perf.a.x_f__mutmut_6": None}  # not run yet
    _write_meta(mutants, "onebyone/perf/a", codes)
    _write_meta(mutants, "onebyone/b", {"onebyone.b.x_g__mutmut_1": None})
    equivalents = {"onebyone.perf.a.x_f__mutmut_3": "why", "onebyone.b.x_g__mutmut_9": "stale"}
    modules = {module.name: module for module in mutation_report.tally(mutants, equivalents)}
    a = modules["onebyone.perf.a"]
    assert (a.killed, a.equivalent, a.not_run, a.run) == (2, 1, 1, 5)
    assert a.survived == ["onebyone.perf.a.x_f__mutmut_4", "onebyone.perf.a.x_f__mutmut_5"]
    assert a.score == pytest.approx(3 / 5)
    text = mutation_report.report(list(modules.values()), equivalents, mutants)
    assert "| onebyone.perf.a | 5 | 2 | 1 | 2 | 60.0% |" in text
    assert "Not measured in this record (no mutant run yet): onebyone.b" in text
    assert "- onebyone.perf.a.x_f__mutmut_4" in text
    assert "- onebyone.b.x_g__mutmut_9" in text.split("Listed as equivalent")[1]


def test_every_listed_equivalent_names_a_function_of_the_package():
    # mutmut names a mutant <module>.x_<function>__mutmut_<n>, or <module>.xǁ<Class>ǁ<method>__...
    for name in mutation_report.read_equivalents():
        mangled = name.rsplit("__mutmut_", 1)[0]
        module_name, _, function = mangled.rpartition(".")
        module = importlib.import_module(module_name)
        if function.startswith("xǁ"):
            _, class_name, method = function.split("ǁ")
            assert hasattr(getattr(module, class_name), method), name
        else:
            assert callable(getattr(module, function.removeprefix("x_"))), name


def test_every_equivalent_is_listed_once():
    # issue 23: three names were listed twice, each time with a reason of its own (a dict keeps
    # only the last, so read_equivalents cannot tell)
    lines = mutation_report.EQUIVALENT.read_text(encoding="utf-8").splitlines()
    names = [line.split(":", 1)[0] for line in lines if line.strip() and not line.startswith("#")]
    repeated = sorted({name for name in names if names.count(name) > 1})
    assert not repeated, f"listed more than once: {repeated}"
