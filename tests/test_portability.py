"""tools/portability.py: settings parsed at the edge, and a moved number reported (the slow part,
running chapters under each setting, is recorded in benchmarks/results/portability.txt)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def portability(notebooks_tool):
    sys.modules.setdefault("notebooks", notebooks_tool)
    spec = importlib.util.spec_from_file_location("portability", ROOT / "tools" / "portability.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.notebooks = notebooks_tool  # the module the tests patch, whatever was imported first
    return module


def test_settings_are_parsed_or_refused(portability):
    assert portability.parse_setting("MKL_CBWR=AVX2") == {"MKL_CBWR": "AVX2"}
    assert portability.parse_setting("A=1, B=x") == {"A": "1", "B": "x"}
    for bad in ["MKL_CBWR", "=1", "A=", "A=1,,B=2", "1A=2"]:
        with pytest.raises(ValueError, match="NAME=VALUE"):
            portability.parse_setting(bad)


def test_the_environment_is_restored(portability, monkeypatch):
    monkeypatch.setenv("ONEBYONE_KEPT", "before")
    monkeypatch.delenv("ONEBYONE_NEW", raising=False)
    with portability.environment({"ONEBYONE_KEPT": "during", "ONEBYONE_NEW": "1"}):
        assert (os.environ["ONEBYONE_KEPT"], os.environ["ONEBYONE_NEW"]) == ("during", "1")
    assert os.environ["ONEBYONE_KEPT"] == "before" and "ONEBYONE_NEW" not in os.environ


def test_a_number_that_moves_is_reported_and_a_declared_one_is_not(
    portability, notebooks_tool, monkeypatch
):
    chapter = notebooks_tool.chapters()[0]
    twin = nbformat.read(notebooks_tool.twin_path(chapter), as_version=4)
    stored = twin.metadata[notebooks_tool.METADATA_KEY]
    seen = {}

    def rerun(glued):
        def make_twin(path, book, pinned):
            seen["environment"] = os.environ.get("MKL_CBWR")
            fresh = {**stored, "glued": glued}
            return nbformat.v4.new_notebook(metadata={notebooks_tool.METADATA_KEY: fresh})
        return make_twin

    monkeypatch.setattr(notebooks_tool, "make_twin", rerun(stored["glued"]))
    assert portability.moved(chapter, {"MKL_CBWR": "COMPATIBLE"}, book=object()) == []
    assert seen["environment"] == "COMPATIBLE"
    changed = {**stored["glued"], "classic_macs": "4816897"}
    monkeypatch.setattr(notebooks_tool, "make_twin", rerun(changed))
    [found] = portability.moved(chapter, {"MKL_CBWR": "AVX2"}, book=object())
    assert found.startswith("classic_macs:")


def test_a_bad_command_line_says_one_line_and_exits_2(portability, capsys):
    assert portability.main(["--setting", "MKL_CBWR"]) == 2
    assert portability.main(["book/nothing.md"]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 2
