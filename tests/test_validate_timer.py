"""Tests of benchmarks/validate_timer.py: where it writes, and its exit status."""

from __future__ import annotations

import csv
import importlib.util

import pytest
import torch

from onebyone.perf import results


def fake_rows(differences):
    return [{"case": f"case {index}", "harness_median_s": 1e-3, "independent_s": 1e-3,
             "relative_difference": difference, "within_5_percent": abs(difference) <= 0.05}
            for index, difference in enumerate(differences)]


def test_it_writes_a_new_file_unless_asked_to_replace(validate_timer, monkeypatch, tmp_path):
    monkeypatch.setattr(validate_timer, "validate", lambda *args, **kwargs: fake_rows([0.01]))
    recorded = tmp_path / "validate_timer_cpu.csv"
    recorded.write_text("the record\n")
    assert validate_timer.main([]) == 0
    assert recorded.read_text() == "the record\n"  # untouched
    new = list(tmp_path.glob("validate_timer_cpu-*.csv"))
    assert len(new) == 1 and next(csv.DictReader(new[0].open()))["case"] == "case 0"
    assert validate_timer.main(["--replace"]) == 0
    assert recorded.read_text().startswith("case,")


def test_an_existing_out_is_not_overwritten_without_replace(validate_timer, monkeypatch, tmp_path):
    monkeypatch.setattr(validate_timer, "validate", lambda *args, **kwargs: fake_rows([0.0]))
    out = tmp_path / "mine.csv"
    out.write_text("mine\n")
    with pytest.raises(SystemExit) as stopped:
        validate_timer.main(["--out", str(out)])
    assert stopped.value.code == 2 and out.read_text() == "mine\n"


def test_a_disagreeing_case_makes_the_exit_status_non_zero(validate_timer, monkeypatch, capsys):
    monkeypatch.setattr(validate_timer, "validate", lambda *args, **kwargs: fake_rows([0.01, 0.2]))
    assert validate_timer.main([]) == 1
    error = capsys.readouterr().err
    assert "DISAGREE" in error and "case 1" in error and "case 0" not in error


def test_validate_times_a_tiny_case_both_ways(validate_timer):
    rows = validate_timer.validate(torch.device("cpu"), 1, min_run_time=0.02, loop_seconds=0.01,
                           chosen={"add": (lambda x: x + 1, (64,))})
    assert rows[0]["case"] == "add" and rows[0]["independent_method"] == "time.perf_counter loop"
    assert rows[0]["harness_median_s"] > 0 and rows[0]["independent_s"] > 0
    assert rows[0]["within_5_percent"] == (abs(rows[0]["relative_difference"]) <= 0.05)
    # the columns it writes are the ones read_validation reads back, in order
    assert tuple(rows[0]) == tuple(column.name for column in results.VALIDATION_COLUMNS)


def run_simulated(validate_timer, host_call_s):
    """validate_cuda on a simulated GPU (tests/gpu_fakes.py) whose host needs ``host_call_s``."""
    from gpu_fakes import SimulatedDevice

    gpu = SimulatedDevice(host_call_s=host_call_s)
    case = validate_timer.CudaCase(gpu.call, (2, 3), "float32", torch.contiguous_format)
    return validate_timer.validate_cuda(torch.device("cpu"), 0.003, {"sim": case},
                                make_device=lambda: gpu, profiler=gpu.profiler,
                                host_wait=gpu.busy_host)


def test_on_a_simulated_gpu_the_timer_passes_every_criterion(validate_timer, capsys):
    [row] = run_simulated(validate_timer, host_call_s=26e-6)
    assert row["failed_criteria"] == "" and row["harness_median_s"] == pytest.approx(7e-6)
    assert row["independent_s"] == pytest.approx(7e-6)  # CUPTI's kernel sums
    assert row["independent_method"].startswith("CUPTI kernel durations")
    assert row["a3_within_1us_share"] == 1.0 and row["sleep_s"] > 0
    assert validate_timer.report_failures([row]) == 0 and validate_timer.verdict(row) == "yes"


def test_the_old_timer_fails_and_the_script_names_the_criteria(validate_timer, monkeypatch, capsys):
    # the harness and the profiled loop without their sleep: the pre-fix timer on a slow host
    import onebyone.perf.gpu_referee as referee
    import onebyone.perf.timing as timing

    for module in (timing, referee):
        original = module.time_with_events
        monkeypatch.setattr(module, "time_with_events",
                            lambda *args, original=original, **kwargs: original(
                                *args, **{**kwargs, "sleep_margin": 0}))
    [row] = run_simulated(validate_timer, host_call_s=50e-6)
    failed = row["failed_criteria"].split(";")
    assert "A2 referee" in failed and "A3 full queue" in failed
    assert validate_timer.report_failures([row]) == 1
    error = capsys.readouterr().err
    assert "FAILED A2 referee: sim" in error and "FAILED A3 full queue: sim" in error
    assert validate_timer.verdict(row).startswith("NO (")


def test_the_cuda_cases_are_the_four_short_kernels_of_criterion_a2(validate_timer):
    cases = validate_timer.cuda_cases(torch.device("cpu"))  # built on a CPU, as on a GPU
    assert [(case.shape, case.precision) for case in cases.values()] == [
        ((8, 64, 28, 28), "float32"), ((32, 64, 56, 56), "bfloat16"),
        ((32, 256, 28, 28), "tf32"), ((1, 192, 28, 28), "float32")]
    five = list(cases.values())[3].fn
    assert five.kernel_size == (5, 5) and five.out_channels == 32


@pytest.mark.skipif(importlib.util.find_spec("triton") is not None, reason="Triton is installed")
def test_without_triton_there_is_no_do_bench_time(validate_timer):
    assert validate_timer.triton_seconds(lambda x: x, torch.zeros(1)) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_own_cuda_referee_times_each_call_on_the_device(validate_timer):
    x = torch.zeros(4096, 4096, device="cuda")
    seconds, calls = validate_timer.cuda_event_seconds(lambda t: t @ t, x, calls=20)
    assert calls == 20 and 1e-6 < seconds < 1.0
