"""Checks on the recorded results under book/data/: complete, self-describing, reproducible."""

from __future__ import annotations

import csv
import importlib
import shlex

import pytest

from onebyone.perf import results
from onebyone.perf.results import block_rounds, kernel_names, read_results
from onebyone.perf.suite import FIELDS

EXPERIMENTS_MODULE = "onebyone.perf.experiments"  # the command: python -m EXPERIMENTS_MODULE


@pytest.fixture(scope="module")
def recorded(root):
    paths = sorted((root / "book" / "data").glob("*.csv"))
    assert paths, "no recorded results under book/data"
    return {path: read_results(path) for path in paths}


def test_every_file_has_the_columns_of_the_experiment_command(recorded):
    """The command's columns today, or those of the kind of file it wrote when the file was
    recorded (before the sidecar and the GPU sleep), which the reader still reads."""
    known = {tuple(column.name for column in columns) for columns, _ in results._SCHEMAS}
    assert FIELDS in known
    for path in recorded:
        with path.open(newline="", encoding="utf-8") as file:
            assert tuple(next(csv.reader(file))) in known, path.name


def test_every_measurement_says_what_ran_and_how_sure_it_is(recorded):
    for path, rows in recorded.items():
        for row in rows:
            if row["status"] == "skipped":
                assert row["note"] and row["median_s"] is None, path.name
                continue
            assert kernel_names(row), (path.name, row["variant"])
            rounds = block_rounds(row)
            assert len(rounds) == row["rounds"] and sum(map(len, rounds)) == row["blocks"]
            assert not row["partial"]
            assert row["date"] and row["command"] and row["torch_version"]


def test_the_readme_names_the_command_that_made_each_file(recorded, root):
    readme = (root / "book" / "data" / "README.md").read_text(encoding="utf-8")
    for path, rows in recorded.items():
        commands = {row["command"] for row in rows}
        assert len(commands) == 1, f"{path.name} mixes runs"
        command = commands.pop()
        words = shlex.split(command)
        assert words[:2] == ["python", "-m"] and words[2].endswith("experiments"), command
        arguments = shlex.join(words[3:])
        # The README names the command as it is run today, with the recorded arguments, and the
        # command as it was recorded (the module's path may have moved since).
        assert f"-m {EXPERIMENTS_MODULE} {arguments}" in readme, path.name
        assert f"`{command}`" in readme or f"`.venv/bin/{command}`" in readme, path.name


def test_the_documented_module_is_the_experiment_command():
    module = importlib.import_module(EXPERIMENTS_MODULE)
    assert module.PROG == f"python -m {EXPERIMENTS_MODULE}" and callable(module.main)
