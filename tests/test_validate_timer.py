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
    # the columns it writes are the ones read_validation reads back, in order
    assert tuple(rows[0]) == tuple(column.name for column in script.COLUMNS)


def test_the_cuda_referee_falls_back_to_its_own_events_without_triton(script, monkeypatch):
    """Triton's do_bench when it is installed, else the script's own per-call CUDA events."""
    monkeypatch.setattr(script, "triton_seconds", lambda fn, x: None)
    monkeypatch.setattr(script, "cuda_event_seconds", lambda fn, x: (2e-6, 200))
    assert script.independent_cuda_seconds(None, None) == (
        2e-6, 200, "CUDA events per call (median, L2 flushed)")
    monkeypatch.setattr(script, "triton_seconds", lambda fn, x: (3e-6, 0))
    seconds, calls, method = script.independent_cuda_seconds(None, None)
    assert (seconds, calls) == (3e-6, 0) and method.startswith("triton.testing.do_bench")


@pytest.mark.skipif(importlib.util.find_spec("triton") is not None, reason="Triton is installed")
def test_without_triton_there_is_no_do_bench_time(script):
    assert script.triton_seconds(lambda x: x, torch.zeros(1)) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_own_cuda_referee_times_each_call_on_the_device(script):
    x = torch.zeros(4096, 4096, device="cuda")
    seconds, calls = script.cuda_event_seconds(lambda t: t @ t, x, calls=20)
    assert calls == 20 and 1e-6 < seconds < 1.0
