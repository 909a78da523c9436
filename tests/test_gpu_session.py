"""Tests of benchmarks/gpu_session.py: the prepared GPU session and its dry run on a CPU."""

from __future__ import annotations

import importlib.util

import pytest


@pytest.fixture
def session(root):
    spec = importlib.util.spec_from_file_location("gpu_session",
                                                  root / "benchmarks" / "gpu_session.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, folder", [
    ("NVIDIA H100 80GB HBM3", "h100"), ("NVIDIA H200", "h200"), ("Tesla T4", "t4"),
    ("NVIDIA A100-SXM4-80GB", "a100"), ("Some New GPU", "some-new-gpu")])
def test_the_results_folder_is_named_after_the_gpu(session, name, folder):
    assert session.gpu_folder_name(name) == folder


def test_the_dry_run_runs_every_command_on_a_cpu_and_records_them(session, tmp_path, capsys):
    assert session.main(["--dry-run", "--root", str(tmp_path)]) == 0
    record = (tmp_path / "book" / "data" / "dry-run" / "commands.txt").read_text()
    lines = record.splitlines()
    assert [line.split(":")[0] for line in lines[2:]] == ["machine", "timer check",
                                                         "experiments"]
    assert lines[2].startswith("machine: skipped in a dry run: nvidia-smi")
    assert all(": exit 0 after" in line for line in lines[3:])
    assert "usage: python benchmarks/validate_timer.py" in capsys.readouterr().out  # it ran
    assert "python benchmarks/validate_timer.py --device cuda --out " \
           "benchmarks/results/validate_timer_dry-run.csv --replace --help" in record
    assert "python -m onebyone.perf.experiments --device cuda --size full --rounds 5" in record
    assert "--out book/data/dry-run/experiments.csv --help" in record


def test_the_experiments_run_even_when_the_check_fails_and_the_status_says_so(session,
                                                                              tmp_path):
    calls = []

    def runner(command, limit, stdout=None):
        calls.append((command, limit))
        return 1 if "validate_timer.py" in " ".join(command) else 0

    assert session.main(["--dry-run", "--root", str(tmp_path), "--budget-s", "480"],
                        runner=runner) == 1
    assert len(calls) == 2 and "onebyone.perf.experiments" in calls[1][0]
    assert calls[0][1] == session.CHECK_LIMIT_S and 300 < calls[1][1] <= 470
