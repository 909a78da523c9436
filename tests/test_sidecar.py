"""Block times in a sidecar ``<out>.npz``, quantiles in the CSV; both kinds of file read alike."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from test_suite import script, tiny  # noqa: F401  (fixtures: a scripted clock, tiny sizes)

from onebyone import recording
from onebyone.perf import results
from onebyone.perf.results import FIELDS, QUANTILES, block_rounds, read_results
from onebyone.perf.suite import run_experiments, write_rows
from onebyone.recording import sidecar_path, write_csv_atomically
from onebyone.records import RecordError

ROOT = Path(__file__).resolve().parent.parent
CELL_FIELDS = [name for name in FIELDS if name not in QUANTILES]


def _row(status="measured", times="1e-05 3e-05 2e-05|4e-05 5e-05", **fields):
    row = dict.fromkeys(FIELDS, "")
    row.update(experiment="peak", variant="copy", precision="float32", status=status,
               partial=False)
    if status == "measured":
        rounds = results.parse_rounds(times)
        row.update(median_s=1e-05, rounds=len(rounds), blocks=sum(map(len, rounds)),
                   times_s=times, flops=0, bytes=8)
    row.update(fields)
    return row


ROWS = [_row(), _row("skipped", precision="tf32", note="no CUDA"),
        _row(variant="matmul", times="2e-05|2.5e-05|3e-05 1e-05")]


def _cells(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def _arrays(path):
    with np.load(sidecar_path(path), allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}


def _rewrite(path, **changed):
    arrays = {**_arrays(path), **changed}
    with open(sidecar_path(path), "wb") as file:
        np.savez(file, **arrays)


def test_the_suite_writes_quantiles_and_a_sidecar_that_read_back_like_a_cell(
        tiny, script, tmp_path):  # noqa: F811
    rows = run_experiments("cpu", size=tiny, experiments=("peak",), num_threads=1, rounds=2,
                           progress=False, profile=False)
    new = write_rows(rows, tmp_path / "new.csv")
    old = write_csv_atomically(tmp_path / "old.csv", [{name: row[name] for name in CELL_FIELDS}
                                                      for row in rows], CELL_FIELDS)
    cells = _cells(new)
    assert all(cell["times_s"] == "" for cell in cells)  # no times in the CSV
    measured = [cell for cell in cells if cell["status"] == "measured"]
    assert measured and all(float(cell["p05_s"]) <= float(cell["p50_s"]) <= float(cell["p95_s"])
                            for cell in measured)
    assert list(_arrays(new)["row_rounds"]) == [2 if row["status"] == "measured" else 0
                                               for row in rows]
    back, before = read_results(new), read_results(old)
    assert len(back) == len(before) == len(rows)
    for fresh, recorded, made in zip(back, before, rows, strict=True):
        assert fresh["p50_s"] == (made["p50_s"] or None) and recorded["p50_s"] is None
        if made["status"] != "measured":
            continue
        assert block_rounds(fresh) == block_rounds(recorded) == block_rounds(made)
        assert results.typical_s(fresh) == results.typical_s(recorded)
        assert results.rounds_by_id(fresh) == results.rounds_by_id(recorded)
    first, second = [index for index, row in enumerate(rows) if row["status"] == "measured"][:2]
    assert results.time_ratio(back[first], back[second]).estimate == pytest.approx(
        results.time_ratio(before[first], before[second]).estimate, rel=1e-12)


def test_hand_made_rows_round_trip_with_full_float64_times(tmp_path):
    path = write_rows(ROWS, tmp_path / "r.csv")
    back = read_results(path)
    assert [block_rounds(row) for row in back if row["status"] == "measured"] == [
        ((1e-05, 3e-05, 2e-05), (4e-05, 5e-05)), ((2e-05,), (2.5e-05,), (3e-05, 1e-05))]
    assert back[0]["p50_s"] == pytest.approx(3e-05) and back[1]["p50_s"] is None
    again = write_rows(back, tmp_path / "again.csv")  # rows read from a sidecar write again
    assert [block_rounds(row) for row in read_results(again) if row["times_s"]] == [
        block_rounds(row) for row in back if row["times_s"]]


def test_a_missing_sidecar_is_refused_naming_it(tmp_path):
    path = write_rows(ROWS, tmp_path / "r.csv")
    sidecar_path(path).unlink()
    with pytest.raises(RecordError, match=r"r\.csv, line 2, column times_s: the sidecar .*"
                                          r"r\.csv\.npz .* is missing"):
        read_results(path)
    header_only = write_rows([], tmp_path / "empty.csv")
    assert read_results(header_only) == []
    sidecar_path(header_only).unlink()
    with pytest.raises(RecordError, match="missing"):
        read_results(header_only)


@pytest.mark.parametrize("keep", [0.5, 0.9, 30])
def test_a_cut_sidecar_is_refused(tmp_path, keep):
    path = write_rows(ROWS, tmp_path / "r.csv")
    data = sidecar_path(path).read_bytes()
    sidecar_path(path).write_bytes(data[:int(len(data) * keep) if keep < 1 else keep])
    with pytest.raises(RecordError, match=r"r\.csv\.npz cannot be read as \.npz"):
        read_results(path)


def test_a_sidecar_of_another_file_is_refused(tmp_path):
    path = write_rows(ROWS, tmp_path / "r.csv")
    fewer = write_rows(ROWS[:2], tmp_path / "fewer.csv")
    sidecar_path(path).write_bytes(sidecar_path(fewer).read_bytes())
    with pytest.raises(RecordError, match=r"line 4, column times_s: .* holds 2 rows, fewer"):
        read_results(path)
    sidecar_path(fewer).write_bytes(
        sidecar_path(write_rows(ROWS, tmp_path / "more.csv")).read_bytes())
    with pytest.raises(RecordError, match=r"holds 3 rows, this file 2"):
        read_results(fewer)
    swapped = write_rows([ROWS[2], ROWS[1], ROWS[0]], tmp_path / "swapped.csv")
    sidecar_path(path).write_bytes(sidecar_path(swapped).read_bytes())
    with pytest.raises(RecordError, match=r"line 2, column rounds: 2 rounds, but its sidecar"):
        read_results(path)


def test_round_counts_times_and_quantiles_must_agree_with_the_csv(tmp_path):
    path = write_rows(ROWS, tmp_path / "r.csv")
    good = _arrays(path)
    times = good["times_s"].copy()
    times[[1, 8]] = times[[8, 1]]  # a time of one row swapped with one of another
    _rewrite(path, times_s=times)
    with pytest.raises(RecordError, match=r"line 2, column p05_s: .*another file"):
        read_results(path)
    _rewrite(path, **{**good, "row_rounds": np.array([2, 0, 2])})
    with pytest.raises(RecordError, match="counts disagree"):
        read_results(path)
    for bad in (np.nan, np.inf, 0.0, -1e-05):
        times = good["times_s"].copy()
        times[4] = bad
        _rewrite(path, **{**good, "times_s": times})
        with pytest.raises(RecordError, match=r"line 2, column times_s: .*not a positive, fin"):
            read_results(path)
    _rewrite(path, **{**good, "times_s": good["times_s"].astype(object)})
    with pytest.raises(RecordError, match=r"cannot be read as \.npz"):  # no pickles loaded
        read_results(path)


def test_the_committed_files_read_as_before_without_a_sidecar():
    path = ROOT / "book" / "data" / "cpu.csv"
    assert not sidecar_path(path).exists()
    rows = read_results(path)
    measured = [row for row in rows if row["status"] == "measured"]
    cells = [cell for cell in _cells(path) if cell["status"] == "measured"]
    assert [block_rounds(row) for row in measured] == [
        results.parse_rounds(cell["times_s"]) for cell in cells]
    assert all(row["p50_s"] is None and row["sleep_s"] is None for row in rows)


def test_a_stopped_run_saves_the_partial_csv_and_its_sidecar(tmp_path, capsys):
    out = tmp_path / "cpu.csv"

    def measure():
        raise recording.Interrupted([dict(row, partial=True) for row in ROWS[:2]])

    with pytest.raises(SystemExit):
        recording.record(out, measure, prog="test", fields=FIELDS,
                         split=results.split_times)
    partial = recording.partial_path(out)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "cpu.csv.partial", "cpu.csv.partial.npz"]
    assert "cpu.csv.partial.npz" in capsys.readouterr().err
    back = read_results(partial)
    assert block_rounds(back[0]) == block_rounds(ROWS[0]) and back[0]["partial"] is True
    partial.unlink()  # the sidecar alone is still an earlier run's
    with pytest.raises(ValueError, match=r"cpu\.csv\.partial\.npz' exists"):
        recording.check_output_path(out, sidecar=True)


def test_an_old_sidecar_beside_out_needs_replace(tmp_path):
    out = tmp_path / "cpu.csv"
    sidecar_path(out).write_bytes(b"")
    with pytest.raises(ValueError, match=r"cpu\.csv\.npz' exists"):
        recording.check_output_path(out, sidecar=True)
    assert recording.check_output_path(out, replace=True, sidecar=True) == out
    assert recording.check_output_path(out) == out  # commands without a sidecar ignore it


def test_split_times_leaves_the_rows_given_and_checks_its_argument():
    rows = [dict(row) for row in ROWS]
    kept, arrays = results.split_times(rows)
    assert rows == ROWS and all(row["times_s"] == "" for row in kept)
    assert arrays["times_s"].dtype == np.float64 and len(arrays["times_s"]) == 9
    assert list(arrays["round_blocks"]) == [3, 2, 1, 1, 2]
    with pytest.raises(TypeError, match="rows must be a sequence"):
        results.split_times(io.StringIO())
    with pytest.raises(ValueError, match="positive, finite"):
        results.time_quantiles([1.0, float("nan")])
