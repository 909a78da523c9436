"""Every reader of recorded data refuses what it cannot trust, naming file, line and column.

The readers: results files (``perf.results.read_results``, and the benchmark that compares two of
them), the separable-layer file (``perf.separable_timing.read_parts``), the harness check
(``perf.results.read_validation``, of ``benchmarks/validate_timer.py``'s files) and the
package's data tables (``load_gpu_specs``, ``load_table1``, ``load_table2``). Each is fed its
own valid file, cut at every byte, and then changed one cell, one row or one header at a time.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest

from onebyone import mobilenet_table2, records, table1
from onebyone.mobilenet_table2 import load_table2
from onebyone.perf import gpu_specs, results, separable_timing
from onebyone.perf.gpu_specs import load_gpu_specs
from onebyone.perf.suite import FIELDS
from onebyone.recording import write_csv_atomically
from onebyone.table1 import load_table1

ROOT = Path(__file__).resolve().parent.parent


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


COMPARE = _script("compare_event_and_graph")


CELL_FIELDS = tuple(name for name in FIELDS if name not in results.QUANTILES)
"""A results file as recorded before the sidecar (``book/data/``): block times in the CSV cell
(the sidecar's own checks are in ``test_sidecar.py``)."""


def _result(status: str = "measured", **fields: object) -> dict[str, object]:
    row = dict.fromkeys(CELL_FIELDS, "")
    row.update(experiment="peak", variant="copy", precision="float32", status=status,
               device="cpu", device_name="Test CPU", num_threads=1, partial=False, rounds=2)
    if status == "measured":
        row.update(macs=0, flops=0, bytes=8000, median_s=1.5e-05, iqr_s=1e-06,
                   relative_iqr=0.0667, noisy=True, runs=30, blocks=3, calls_per_block=10,
                   timer="blocked_autorange", l2_flush=False, tf32_matmul=False,
                   tf32_conv=False, cudnn_benchmark=False, times_s="1.4e-05 1.5e-05|1.6e-05")
    row.update(fields)
    return row


RESULT_ROWS = [
    _result(),
    _result(variant="matmul", flops=2000, macs=1000, batch_size=4, in_channels=8,
            out_channels=16, memory_format="channels_last"),
    _result("skipped", precision="tf32", note="a note, quoted,\r\nover two lines"),
    _result(command="python -m onebyone.perf.experiments --out résultats.csv"),  # not ASCII
]
"""A results file: measured and skipped rows, a quoted cell holding a line break, non-ASCII."""


def _results_file(rows: list[dict[str, object]], path: Path) -> bytes:
    return write_csv_atomically(path, rows, CELL_FIELDS).read_bytes()


PART_ROWS = [
    {"part": "depthwise", "kernel": "aten::mkldnn_convolution", "flops": 3612672,
     "median_s": 0.000156, "rounds": "0.0001583 0.0001771|0.0001565", "num_threads": 1,
     "device_name": "Test CPU", "torch_version": "2.13.0", "median_s_before": 0.0005,
     "page_faults_per_call_before": 196.0, "allocator": "glibc", "page_faults_per_call": 0.0,
     "cache_copy_bytes_per_s": 1e11, "memory_copy_bytes_per_s": 1e10, "command": "x"},
    {"part": "pointwise", "kernel": "aten::mm", "flops": 102760448, "median_s": 0.001,
     "rounds": "0.001|0.00102", "num_threads": 1, "device_name": "Test CPU",
     "torch_version": "2.13.0", "median_s_before": "", "page_faults_per_call_before": "",
     "allocator": "glibc", "page_faults_per_call": "", "cache_copy_bytes_per_s": "",
     "memory_copy_bytes_per_s": "", "command": "x"},
]


def _parts_file(rows: list[dict[str, object]], path: Path) -> bytes:
    """Written as :func:`onebyone.perf.separable_timing.main` writes it."""
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=separable_timing.FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return path.read_bytes()


def _package_table(name: str) -> bytes:
    return resources.files("onebyone").joinpath("data", name).read_bytes()


def _validation_rows() -> list[dict[str, str]]:
    path = ROOT / "benchmarks" / "results" / "validate_timer_cpu.csv"
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def _validation_file(rows: list[dict[str, object]], path: Path) -> bytes:
    """Written as ``benchmarks/validate_timer.py`` writes it (its header: the first row's keys)."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path.read_bytes()


def _line_prefixes(data: bytes, rows: int) -> list[bytes]:
    """A hand-written table (no cell holds a line break) up to its header and each row."""
    lines = data.splitlines(keepends=True)
    header = next(index for index, line in enumerate(lines) if not line.startswith(b"#"))
    return [b"".join(lines[:header + 1 + count]) for count in range(rows + 1)]


@dataclass(frozen=True)
class Reader:
    """One reader under test and how to make its valid file.

    Attributes:
        name: for the test ids.
        read: reads a path, returns something comparable (rows, or a dict by key).
        columns: its header, in order.
        valid: a valid file, made in the given folder: its bytes.
        prefixes: the valid file up to its header and up to each complete row (what a writer
            leaves when it stops between rows), shortest first.
        header_only: whether a file with only the header is valid (then it reads as empty).
        bad_cells: ``(column, cell)`` pairs each of which alone makes the first row untrusted.
        key: the column no two rows may share (``None``: rows may repeat).
    """

    name: str
    read: Callable[[Path], object]
    columns: tuple[str, ...]
    valid: Callable[[Path], bytes]
    prefixes: Callable[[Path], list[bytes]]
    header_only: bool
    bad_cells: tuple[tuple[str, str], ...]
    key: str | None = None

    def write(self, folder: Path, data: bytes, name: str = "recorded.csv") -> Path:
        path = folder / name
        path.write_bytes(data)
        return path


def _rows_of(read: Callable[[Path], object]) -> Callable[[Path], list]:
    """A reader's rows as a list, whatever it returns (a list, or a dict by key)."""
    def rows(path: Path) -> list:
        value = read(path)
        return list(value.values()) if isinstance(value, dict) else list(value)
    return rows


TIMES = ("nan", "inf", "-inf", "-1e-05", "0", "0.0", "1e-05 ", " 1e-05")
"""Cells no time may hold: not a number, infinite, negative, zero, padded."""
BOOLEANS = ("true", "false", "1", "0", "yes", "TRUE", " True")
"""Cells no flag may hold: only ``True`` and ``False``, as the package writes them."""

READERS = [
    Reader(
        "results", _rows_of(results.read_results), CELL_FIELDS,
        lambda folder: _results_file(RESULT_ROWS, folder / "made.csv"),
        lambda folder: [_results_file(RESULT_ROWS[:count], folder / f"prefix{count}.csv")
                        for count in range(len(RESULT_ROWS) + 1)],
        True,
        (*(("noisy", cell) for cell in BOOLEANS), *(("median_s", cell) for cell in TIMES),
         ("flops", "-2"), ("flops", "2.0"), ("flops", "1_000"), ("macs", "-1"), ("bytes", "nan"),
         ("batch_size", "0"), ("iqr_s", "-1e-06"), ("relative_iqr", "inf"), ("runs", "0"),
         ("status", "Measured"), ("precision", "fp32"), ("experiment", ""),
         ("memory_format", "NHWC"), ("timer", "stopwatch"), ("clock_mhz", "-2596"),
         ("times_s", "1.4e-05 nan|1.6e-05"), ("times_s", "1.4e-05  1.5e-05|1.6e-05"),
         ("times_s", "1.4e-05 1.5e-05|"), ("times_s", "1.4e-05 -1.5e-05|1.6e-05"),
         ("times_s", ""), ("median_s", ""), ("rounds", "3"), ("blocks", "4")),
    ),
    Reader(
        "separable parts", _rows_of(separable_timing.read_parts), separable_timing.FIELDS,
        lambda folder: _parts_file(PART_ROWS, folder / "made.csv"),
        lambda folder: [_parts_file(PART_ROWS[:count], folder / f"prefix{count}.csv")
                        for count in range(len(PART_ROWS) + 1)],
        False,
        (*(("median_s", cell) for cell in TIMES), *(("median_s_before", cell) for cell in TIMES),
         ("flops", "-3612672"), ("flops", "0"), ("rounds", "0.0001583 nan|0.0001565"),
         ("rounds", "0.0001583 0|0.0001565"), ("rounds", ""), ("num_threads", "0"),
         ("page_faults_per_call", "-1"), ("cache_copy_bytes_per_s", "inf"),
         ("part", "Depthwise")),
        "part",
    ),
    Reader(
        "validate_timer", _rows_of(results.read_validation),
        tuple(column.name for column in results.VALIDATION_COLUMNS),
        lambda folder: _validation_file(_validation_rows(), folder / "made.csv"),
        lambda folder: [_validation_file(_validation_rows(), folder / "header.csv")
                        .splitlines(keepends=True)[0]]
        + [_validation_file(_validation_rows()[:count], folder / f"prefix{count}.csv")
           for count in range(1, len(_validation_rows()) + 1)],
        False,
        (*(("within_5_percent", cell) for cell in BOOLEANS),
         *(("harness_median_s", cell) for cell in TIMES),
         *(("independent_s", cell) for cell in TIMES),
         ("cpu_time_per_wall_time", "inf"), ("cpu_time_per_wall_time", "-0.5"),
         ("relative_difference", "nan"), ("harness_runs", "-3510"), ("num_threads", "0"),
         ("independent_calls_per_loop", "-1"), ("case", "")),
    ),
    Reader(
        "gpu specs", _rows_of(load_gpu_specs),
        tuple(column.name for column in gpu_specs.COLUMNS),
        lambda folder: _package_table("gpu_specs.csv"),
        lambda folder: _line_prefixes(_package_table("gpu_specs.csv"), 4),
        False,
        (("fp32_tflops", "-8.1"), ("fp32_tflops", "nan"), ("fp32_tflops", "0"),
         ("fp32_tflops", ""), ("fp16_tensor_tflops", "inf"), ("memory_bandwidth_gb_s", "-320"),
         ("memory_gb", "1e999"), ("name", "")),
        "short_name",
    ),
    Reader(
        "GoogLeNet table 1", _rows_of(load_table1),
        tuple(column.name for column in table1.COLUMNS),
        lambda folder: _package_table("googlenet_table1.csv"),
        lambda folder: _line_prefixes(_package_table("googlenet_table1.csv"), 19),
        False,
        (("depth", "-1"), ("output_channels", "0"), ("output_height", "112.0"),
         ("ops_m", "nan"), ("ops_m", "-34"), ("params_k", "inf"), ("patch_size", "7x7"),
         ("stage", "")),
    ),
    Reader(
        "MobileNet table 2", _rows_of(load_table2),
        tuple(column.name for column in mobilenet_table2.COLUMNS),
        lambda folder: _package_table("mobilenet_table2.csv"),
        lambda folder: _line_prefixes(_package_table("mobilenet_table2.csv"), 4),
        False,
        (("mult_adds_percent", "101"), ("mult_adds_percent", "-1"),
         ("parameters_percent", "nan"), ("layer_type", "Conv 5x5")),
        "layer_type",
    ),
]
IDS = [reader.name for reader in READERS]


@dataclass(frozen=True)
class InMemory:
    """A file's bytes without the file (what every reader reads: ``read_bytes`` and a name),
    so that a file can be cut at every byte without writing thousands of files."""

    name: str
    data: bytes

    def read_bytes(self) -> bytes:
        return self.data

    def __str__(self) -> str:
        return self.name


def refused(reader: Reader, path: Path | InMemory, line: int | None = None,
            column: str | None = None) -> str:
    """Read ``path``, require one ``ValueError`` naming the file, a line and a column (these
    ones, if given); return its message."""
    with pytest.raises(ValueError) as caught:
        reader.read(path)
    message = str(caught.value)
    assert isinstance(caught.value, records.RecordError), message
    where = rf"^{re.escape(str(path))}, line (\d+), column ([a-z0-9_]+): "
    found = re.match(where, message)
    assert found, message
    assert found[2] in reader.columns, message
    if line is not None:
        assert int(found[1]) == line, message
    if column is not None:
        assert found[2] == column, message
    return message


def _first_row(data: bytes) -> tuple[list[bytes], int]:
    """The file's lines and the index of its first row (the line after the header)."""
    lines = data.splitlines(keepends=True)
    header = next(index for index, line in enumerate(lines) if not line.startswith(b"#"))
    return lines, header + 1


def _cells(line: bytes) -> list[str]:
    return next(csv.reader([line.decode("utf-8")]))


def _with_cell(data: bytes, column: str, columns: tuple[str, ...], cell: str,
               row: int = 0) -> bytes:
    """``data`` with one cell of its ``row``-th row (from 0) replaced by ``cell``."""
    lines, first = _first_row(data)
    cells = _cells(lines[first + row])
    cells[columns.index(column)] = cell
    out = io.StringIO()
    ending = "\r\n" if lines[first + row].endswith(b"\r\n") else "\n"
    csv.writer(out, lineterminator=ending).writerow(cells)
    lines[first + row] = out.getvalue().encode("utf-8")
    return b"".join(lines)


@pytest.mark.parametrize("reader", READERS, ids=IDS)
def test_the_valid_file_reads_back(reader, tmp_path):
    rows = reader.read(reader.write(tmp_path, reader.valid(tmp_path)))
    assert len(rows) >= 2


@pytest.mark.parametrize("reader", READERS, ids=IDS)
def test_a_file_cut_anywhere_reads_as_its_complete_rows_or_is_refused(reader, tmp_path):
    """Cut at every byte: only a cut just after a row's line break may read, as those rows."""
    data = reader.valid(tmp_path)
    complete = reader.read(reader.write(tmp_path, data, "whole.csv"))
    boundaries = {len(prefix): count for count, prefix in enumerate(reader.prefixes(tmp_path))}
    assert all(data.startswith(prefix) for prefix in reader.prefixes(tmp_path))
    accepted = []
    for end in range(len(data) + 1):
        path = InMemory(f"cut at byte {end}.csv", data[:end])
        if end in boundaries:
            try:
                rows = reader.read(path)
            except records.RecordError:
                continue  # too few rows for this reader: refused is fine
            assert rows == complete[:boundaries[end]], end
            accepted.append(end)
        else:
            refused(reader, path)
    if reader.header_only:
        assert min(boundaries) in accepted
    assert max(boundaries) == len(data) and len(data) in accepted


def test_the_reviewers_cut_is_refused_at_its_line_and_column(tmp_path):
    """A results file cut inside its last time: the row still says "measured", and its last
    time reads 6.015 s where 6.015e-05 s was written."""
    rows = [_result(times_s="1.4e-05 1.5e-05|6.015e-05")] * 3
    data = _results_file(rows, tmp_path / "made.csv")
    path = tmp_path / "cpu.csv"
    path.write_bytes(data[:data.rindex(b"6.015e-0") + len("6.015e-0")])
    message = refused(READERS[0], path, line=4, column="times_s")
    assert "does not end with a newline" in message and "6.015e-0" in message


@pytest.mark.parametrize("reader", READERS, ids=IDS)
def test_a_bad_cell_is_refused_at_its_line_and_column(reader, tmp_path):
    data = reader.valid(tmp_path)
    first = _first_row(data)[1]
    for column, cell in reader.bad_cells:
        path = reader.write(tmp_path, _with_cell(data, column, reader.columns, cell))
        message = refused(reader, path, line=first + 1, column=column)
        assert repr(cell) in message or "blank" in message or "times_s holds" in message, \
            message


@pytest.mark.parametrize("reader", [reader for reader in READERS if reader.key],
                         ids=lambda reader: reader.name)
def test_a_key_given_twice_is_refused_at_its_second_row(reader, tmp_path):
    data = reader.valid(tmp_path)
    lines, first = _first_row(data)
    key = _cells(lines[first])[reader.columns.index(reader.key)]
    twice = _with_cell(data, reader.key, reader.columns, key, row=1)
    message = refused(reader, reader.write(tmp_path, twice), line=first + 2, column=reader.key)
    assert "twice" in message or "a second" in message


@pytest.mark.parametrize("reader", READERS, ids=IDS)
def test_a_row_with_a_missing_or_an_extra_cell_is_refused(reader, tmp_path):
    data = reader.valid(tmp_path)
    lines, first = _first_row(data)
    ending = b"\r\n" if lines[first].endswith(b"\r\n") else b"\n"
    body = lines[first][:-len(ending)]
    short = body[:body.rindex(b",")]  # the last cell left out
    for row, column in ((short, reader.columns[-1]), (body + b",extra", reader.columns[-1]),
                        (body + b",", reader.columns[-1]), (b"", reader.columns[0])):
        changed = b"".join([*lines[:first], row + ending, *lines[first + 1:]])
        refused(reader, reader.write(tmp_path, changed), line=first + 1, column=column)


@pytest.mark.parametrize("reader", READERS, ids=IDS)
def test_an_empty_file_a_bom_and_another_files_header_are_refused(reader, tmp_path):
    data = reader.valid(tmp_path)
    lines, first = _first_row(data)
    refused(reader, reader.write(tmp_path, b""), line=1, column=reader.columns[0])
    refused(reader, reader.write(tmp_path, b"\xef\xbb\xbf" + data), line=1,
            column=reader.columns[0])
    other = READERS[1] if reader is READERS[0] else READERS[0]
    foreign = ",".join(other.columns).encode() + b"\r\n" + b"".join(lines[first:])
    refused(reader, reader.write(tmp_path, foreign), column=reader.columns[0])
    renamed = b"".join([*lines[:first - 1], lines[first - 1].replace(
        reader.columns[1].encode(), b"Renamed", 1), *lines[first:]])
    refused(reader, reader.write(tmp_path, renamed), line=first, column=reader.columns[1])
    longer = b"".join([*lines[:first - 1], lines[first - 1].rstrip(b"\r\n") + b",more\r\n",
                       *lines[first:]])
    refused(reader, reader.write(tmp_path, longer), line=first, column=reader.columns[-1])


@pytest.mark.parametrize("reader", READERS, ids=IDS)
def test_a_header_without_rows_is_empty_only_for_results(reader, tmp_path):
    """A results file with only its header is what a run stopped before its first measurement
    writes: valid, no rows. The other files must hold their rows."""
    header = reader.prefixes(tmp_path)[0]
    path = reader.write(tmp_path, header)
    if reader.header_only:
        assert reader.read(path) == []
    else:
        refused(reader, path, line=header.count(b"\n") + 1)


@pytest.mark.parametrize("reader", READERS, ids=IDS)
def test_bytes_that_are_not_utf8_are_refused_at_their_line_and_column(reader, tmp_path):
    data = reader.valid(tmp_path)
    lines, first = _first_row(data)
    column = reader.columns[1]
    cells = lines[first].split(b",")
    cells[1] = b"\xff" + cells[1]
    lines[first] = b",".join(cells)
    message = refused(reader, reader.write(tmp_path, b"".join(lines)), line=first + 1,
                      column=column)
    assert "0xff is not UTF-8" in message


def test_the_results_reader_keeps_a_quoted_line_break_and_counts_lines_by_the_file(tmp_path):
    data = _results_file(RESULT_ROWS, tmp_path / "made.csv")
    path = tmp_path / "r.csv"
    path.write_bytes(data)
    assert results.read_results(path)[2]["note"] == "a note, quoted,\r\nover two lines"
    # the row after the two-line cell starts on line 6 of the file
    path.write_bytes(data.replace(b"--out r\xc3\xa9sultats.csv", b"--out \xff.csv"))
    refused(READERS[0], path, line=6, column="command")


def test_the_comparison_benchmark_stops_on_an_untrusted_file(tmp_path, capsys):
    data = _results_file(RESULT_ROWS, tmp_path / "made.csv")
    good, cut = tmp_path / "good.csv", tmp_path / "cut.csv"
    good.write_bytes(data)
    cut.write_bytes(data[:-5])
    with pytest.raises(SystemExit) as stop:
        COMPARE.main([str(good), str(cut)])
    assert stop.value.code == 2
    assert re.search(rf"{re.escape(str(cut))}, line 6, column times_s: ", capsys.readouterr().err)


def test_every_committed_record_reads_back():
    """The files the book and the benchmarks read, strictly."""
    for path in sorted((ROOT / "book" / "data").rglob("*.csv")):
        assert results.read_results(path), path
    assert set(separable_timing.read_parts(ROOT / "benchmarks" / "results" / "separable_cpu.csv"))\
        == {"depthwise", "pointwise"}
    for path in sorted((ROOT / "benchmarks" / "results").glob("validate_timer_*.csv")):
        assert len(results.read_validation(path)) == 3, path
    assert len(load_gpu_specs()) == 4 and len(load_table1()) == 19 and len(load_table2()) == 4


def test_the_validation_writer_writes_the_readers_columns():
    rows = _validation_rows()
    assert tuple(rows[0]) == tuple(column.name for column in results.VALIDATION_COLUMNS)


def test_a_cell_reads_by_its_kind():
    assert records.Column("x", records.BOOLEAN).read("True") is True
    assert records.Column("x", records.BOOLEAN, optional=True).read("") is None
    assert records.Column("x", records.TEXT, optional=True).read("") == ""
    assert records.Column("x", records.BLOCK_TIMES).read("1|2 3e-1") == ((1.0,), (2.0, 0.3))
    assert records.Column("x", records.integer(1)).read("12") == 12
    assert records.Column("x", records.number(allow_nan=True)).read("nan") != 0.0
    with pytest.raises(ValueError, match=r"^blank, expected an integer >= 1$"):
        records.Column("x", records.integer(1)).read("")
    with pytest.raises(ValueError, match=r"^'1e400' is not a finite number$"):
        records.Column("x", records.number()).read("1e400")
    long = " ".join(["1e-05"] * 30_000) + " x"
    with pytest.raises(ValueError, match=r"\(180,001 characters\).*round 1 has 'x'"):
        records.Column("x", records.BLOCK_TIMES).read(long)


def test_a_path_that_is_not_one_is_refused_by_name():
    with pytest.raises(TypeError, match=r"^path must be a file's path, got 3 \(int\)$"):
        load_gpu_specs(3)
    with pytest.raises(TypeError, match=r"^path must be a file's path, got None \(NoneType\)$"):
        results.read_results(None)
