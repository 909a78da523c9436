"""Tests of benchmarks/compare_event_and_graph.py: pairing two recordings and the summary."""

from __future__ import annotations

import importlib.util

import pytest

from onebyone.perf.suite import FIELDS, write_rows


@pytest.fixture
def script(root):
    spec = importlib.util.spec_from_file_location(
        "compare_event_and_graph", root / "benchmarks" / "compare_event_and_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measured(channels, seconds, status="measured"):
    values = dict.fromkeys(FIELDS, "")
    values.update(experiment="roofline_sweep", variant="conv1x1", precision="float32",
                  status=status, batch_size=32, in_channels=channels, out_channels=channels,
                  memory_format="channels_last", median_s=seconds, relative_iqr=0.5,
                  times_s=" ".join([repr(seconds)] * 3) if status == "measured" else "")
    return values


def test_it_pairs_the_same_measurements_and_counts_host_bound_short_ones(script, tmp_path,
                                                                          capsys):
    events = [measured(16, 40e-6), measured(32, 20e-6), measured(4096, 2e-3),
              measured(64, 1e-3, status="skipped")]
    graphs = [measured(16, 10e-6), measured(32, 19e-6), measured(4096, 1.5e-3),
              measured(64, 1e-3), measured(128, 1e-6)]  # 64: skipped there; 128: only here
    write_rows(events, tmp_path / "events.csv")
    write_rows(graphs, tmp_path / "graphs.csv")
    assert script.main([str(tmp_path / "events.csv"), str(tmp_path / "graphs.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + 3 + 2  # header, three pairs, the summary
    assert lines[1].split()[-1] == "4.00" and lines[2].split()[-1] == "1.05"
    assert lines[-2].startswith("graph replay < 100 us: 1 of 2 ")
    assert lines[-1].startswith("graph replay >= 100 us: 1 of 1 ")


def test_two_files_without_a_common_measurement_are_refused(script, tmp_path, capsys):
    write_rows([measured(16, 1e-5)], tmp_path / "events.csv")
    write_rows([measured(32, 1e-5)], tmp_path / "graphs.csv")
    with pytest.raises(SystemExit) as stop:
        script.main([str(tmp_path / "events.csv"), str(tmp_path / "graphs.csv")])
    assert stop.value.code == 2 and "share no measurement" in capsys.readouterr().err
