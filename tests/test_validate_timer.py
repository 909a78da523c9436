"""Tests of benchmarks/validate_timer.py: where it writes, and its exit status."""

from __future__ import annotations

import csv
import importlib.util

import pytest
import torch


@pytest.fixture
def script(root, monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location(
        "validate_timer", root / "benchmarks" / "validate_timer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path)
    return module


def fake_rows(differences):
    return [{"case": f"case {index}", "harness_median_s": 1e-3, "independent_s": 1e-3,
             "relative_difference": difference, "within_5_percent": abs(difference) <= 0.05}
            for index, difference in enumerate(differences)]


def test_it_writes_a_new_file_unless_asked_to_replace(script, monkeypatch, tmp_path):
    monkeypatch.setattr(script, "validate", lambda *args, **kwargs: fake_rows([0.01]))
    recorded = tmp_path / "validate_timer_cpu.csv"
    recorded.write_text("the record\n")
    assert script.main([]) == 0
    assert recorded.read_text() == "the record\n"  # untouched
    new = list(tmp_path.glob("validate_timer_cpu-*.csv"))
    assert len(new) == 1 and next(csv.DictReader(new[0].open()))["case"] == "case 0"
    assert script.main(["--replace"]) == 0
    assert recorded.read_text().startswith("case,")


def test_an_existing_out_is_not_overwritten_without_replace(script, monkeypatch, tmp_path):
    monkeypatch.setattr(script, "validate", lambda *args, **kwargs: fake_rows([0.0]))
    out = tmp_path / "mine.csv"
    out.write_text("mine\n")
    with pytest.raises(SystemExit) as stopped:
        script.main(["--out", str(out)])
    assert stopped.value.code == 2 and out.read_text() == "mine\n"


def test_a_disagreeing_case_makes_the_exit_status_non_zero(script, monkeypatch, capsys):
    monkeypatch.setattr(script, "validate", lambda *args, **kwargs: fake_rows([0.01, 0.2]))
    assert script.main([]) == 1
    error = capsys.readouterr().err
    assert "DISAGREE" in error and "case 1" in error and "case 0" not in error


def test_validate_times_a_tiny_case_both_ways(script):
    rows = script.validate(torch.device("cpu"), 1, min_run_time=0.02, loop_seconds=0.01,
                           chosen={"add": (lambda x: x + 1, (64,))})
    assert rows[0]["case"] == "add" and rows[0]["independent_method"] == "time.perf_counter loop"
    assert rows[0]["harness_median_s"] > 0 and rows[0]["independent_s"] > 0
    assert rows[0]["within_5_percent"] == (abs(rows[0]["relative_difference"]) <= 0.05)
