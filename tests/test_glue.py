"""onebyone.glue: values go to MyST-NB when it is installed, are only recorded when it is not."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from onebyone import glue as glue_module


@pytest.fixture
def without_myst_nb(monkeypatch):
    monkeypatch.setattr(glue_module, "myst_nb_available", lambda: False)
    monkeypatch.setattr(glue_module, "GLUED", {})
    return glue_module.GLUED


def test_without_myst_nb_values_are_recorded_and_nothing_is_shown(without_myst_nb, capsys):
    glue_module.glue("macs", 4_816_896)
    glue_module.glue("ratio", 9.7, display=True)
    glue_module.glue_all({"label": "1x1", "share": 0.25})
    assert glue_module.GLUED == {"macs": 4_816_896, "ratio": 9.7, "label": "1x1", "share": 0.25}
    assert capsys.readouterr() == ("", "")


def test_with_myst_nb_values_go_to_myst_nb(monkeypatch):
    pytest.importorskip("myst_nb")
    calls = []
    monkeypatch.setattr("myst_nb.glue", lambda *args, **kwargs: calls.append((args, kwargs)))
    monkeypatch.setattr(glue_module, "GLUED", {})
    glue_module.glue("macs", 12)
    glue_module.glue_all({"a": 1, "b": 2.5})
    assert calls == [
        (("macs", 12), {"display": False}),
        (("a", 1), {"display": False}),
        (("b", 2.5), {"display": False}),
    ]
    assert glue_module.GLUED == {}


@pytest.mark.parametrize(
    "value", [np.float64(1.5), np.int64(3), torch.tensor(2.0), True, None, [1, 2], 1 + 2j]
)
def test_only_plain_numbers_and_strings_are_glued(without_myst_nb, value):
    with pytest.raises(TypeError, match="plain int, float or str"):
        glue_module.glue("x", value)
    assert without_myst_nb == {}


def test_a_numpy_scalar_gets_a_hint():
    with pytest.raises(TypeError, match=r"float\(x\)"):
        glue_module.glue("x", np.float32(1.0))


@pytest.mark.parametrize("name", ["", 3, None])
def test_a_name_is_a_non_empty_string(without_myst_nb, name):
    with pytest.raises(TypeError, match="name"):
        glue_module.glue(name, 1)


def test_glue_all_checks_every_value_before_gluing_any(without_myst_nb):
    with pytest.raises(TypeError, match="'b'"):
        glue_module.glue_all({"a": 1, "b": np.int64(2)})
    assert without_myst_nb == {}
    with pytest.raises(TypeError, match="mapping"):
        glue_module.glue_all([("a", 1)])


def test_importing_it_imports_no_documentation_tooling():
    code = "import sys, onebyone.glue; print(sorted(m for m in sys.modules if 'myst' in m))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_text_subclass_is_glued_as_plain_text():
    import torch

    from onebyone.glue import _checked

    _, value = _checked("version", torch.__version__)
    assert type(value) is str and value == str(torch.__version__)


def test_a_declared_value_is_recorded_with_its_declaration(without_myst_nb, monkeypatch):
    monkeypatch.setattr(glue_module, "VARIES", {})
    glue_module.glue_all({"accuracy": 97.2, "low": 95.0}, varies=glue_module.TRAINED)
    glue_module.glue("macs", 12)
    declared = glue_module.TRAINED.record()
    assert glue_module.VARIES == {"accuracy": declared, "low": declared}
    glue_module.glue("accuracy", 97.3)  # glued again without a declaration: no longer declared
    assert set(glue_module.VARIES) == {"low"}


def test_with_myst_nb_the_declaration_rides_in_the_output_metadata(monkeypatch):
    pytest.importorskip("myst_nb")
    from myst_nb.ext.glue import extract_glue_data_cell

    shown = []
    def show(*args, **kwargs):
        shown.append((args, kwargs))

    monkeypatch.setattr("IPython.display.display", show)
    monkeypatch.setattr("myst_nb.ext.glue.ipy_display", show)
    glue_module.glue("accuracy", 97.25, varies=glue_module.TRAINED)
    glue_module.glue("plain", 97.25)  # through myst_nb.glue itself, for comparison
    outputs = [{"output_type": "display_data", "data": args[0], "metadata": kwargs["metadata"]}
               for args, kwargs in shown]
    import nbformat

    cell = nbformat.from_dict({"cell_type": "code", "outputs": outputs})
    [(name, output), (other, plain)] = extract_glue_data_cell(cell)
    assert (name, other) == ("accuracy", "plain")
    assert output["data"] == plain["data"] == {"text/plain": "97.25"}
    assert output["metadata"]["onebyone"] == {"varies": glue_module.TRAINED.record()}
    assert "onebyone" not in plain["metadata"]


def test_a_declaration_is_checked():
    with pytest.raises(TypeError, match="why"):
        glue_module.Varies("", absolute=1.0)
    with pytest.raises(ValueError, match="absolute or a relative"):
        glue_module.Varies("rounding")
    for bad in [float("nan"), -1.0, float("inf")]:
        with pytest.raises(ValueError, match="absolute"):
            glue_module.Varies("rounding", absolute=bad)
    with pytest.raises(TypeError, match="relative"):
        glue_module.Varies("rounding", relative="0.1")
    with pytest.raises(TypeError, match="anything=True"):
        glue_module.glue("verdict", "better", varies=glue_module.TRAINED)
    with pytest.raises(TypeError, match="Varies or None"):
        glue_module.glue("x", 1.0, varies={"absolute": 1})
    with pytest.raises(ValueError, match="not a Varies record"):
        glue_module.Varies.from_record({"why": "x", "absolute": 1.0})
    with pytest.raises(ValueError, match="no tolerance"):
        glue_module.Varies("verdict", absolute=1.0, anything=True)
    with pytest.raises(TypeError, match="anything"):
        glue_module.Varies("verdict", anything=1)


def test_a_declaration_allows_its_tolerance_and_no_more():
    points = glue_module.Varies("accuracy", absolute=3.0)
    assert points.allows(97.0, 94.0) and not points.allows(97.0, 93.9)
    share = glue_module.Varies("timing", relative=0.1)
    assert share.allows(100.0, 110.0) and not share.allows(100.0, 111.2)
    assert not points.allows(97.0, float("nan")) and points.allows(float("inf"), float("inf"))
    assert glue_module.Varies.from_record(points.record()) == points
    verdict = glue_module.Varies("verdict of a trained comparison", anything=True)
    assert verdict.allows("contains zero", "lies above zero")
    assert glue_module.Varies.from_record(verdict.record()) == verdict
