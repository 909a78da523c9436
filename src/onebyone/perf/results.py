"""Reading the CSV of :mod:`onebyone.perf.experiments` back: rates, ratios and the measured roof.

Why: Chapter 5 shows recorded results (a file per device under ``book/data/``) and the
reader's own fresh ones side by side, so the same functions must read a file and summarise rows (and
:mod:`onebyone.plotting.perf` plot them),
whichever device made them. Rates are derived here, never stored: FLOP/s is ``flops /
time`` and bytes/s is ``bytes / time``, with the time per call of :func:`typical_s` (see
:mod:`onebyone.perf.roofline` for the units).

A row's time is :func:`onebyone.perf.intervals.row_time` of its rounds (the geometric mean of
the rounds' medians, :func:`typical_s`; the one definition, which the suite also writes as
``median_s``; files recorded before it pooled all blocks into ``median_s``, so read
:func:`typical_s`, not that column). Ratios of two measurements come with a confidence interval
(:mod:`onebyone.perf.intervals`): over paired rounds when both rows come from the same run and
experiment (their round ``r`` was interleaved), and unpaired otherwise.

Where the block times are: files recorded before the sidecar (``book/data/cpu.csv``, the H200
files) hold them in their ``times_s`` cell, as text (up to 300,000 characters a cell on a GPU);
newer files keep that cell blank, give the quantiles of the times instead (``p05_s``, ``p50_s``,
``p95_s``) and keep the raw times, as float64 seconds, in a sidecar ``<file>.npz`` beside the
CSV (:func:`onebyone.recording.sidecar_path`; written by :func:`split_times`). The sidecar's
arrays: ``row_rounds`` (rounds of each CSV row, in order, 0 for a skipped row),
``round_blocks`` (blocks of each round, in order) and ``times_s`` (every block time, in order).
:func:`read_results` reads both kinds into the same rows (a sidecar's times as a tuple of
rounds in ``times_s``), so every function below works the same on either.

The roof (:func:`measured_roofline`) is the same-precision GEMM of experiment 0 for the
arithmetic rate and the copy for the bandwidth. Every other rate is *effective*: counted MACs
over time. A counted MAC need not be an executed one (a 5x5 convolution with padding multiplies
zeros; a Winograd or FFT algorithm executes fewer multiplications than it is credited with), so
a row above the roof is flagged with a reason (:func:`roof_flag`), never made the new roof.
"""

from __future__ import annotations

import io
import math
import os
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from onebyone import records
from onebyone.perf.intervals import (
    Interval,
    ratio_interval,
    row_time,
    unpaired_ratio_interval,
)
from onebyone.perf.kernels import ALLOCATION
from onebyone.perf.precision import PRECISIONS
from onebyone.perf.roofline import Roofline
from onebyone.perf.timing import parse_rounds
from onebyone.recording import sidecar_path

QUANTILES: dict[str, float] = {"p05_s": 0.05, "p50_s": 0.5, "p95_s": 0.95}
"""The quantile columns of a file with a sidecar: which fraction of all its block times (every
round pooled, seconds per call) lies below each (``numpy.quantile``, linear)."""

FIELDS: tuple[str, ...] = (
    "experiment", "variant", "precision", "status",
    "batch_size", "in_channels", "out_channels", "height", "width", "input_shape",
    "dtype", "memory_format", "macs", "flops", "bytes",
    "median_s", "iqr_s", "relative_iqr", "noisy", "runs", "blocks", "calls_per_block",
    "kernels", "timer", "l2_flush", "sleep_s", "sm_clock_mhz",
    "matmul_fp32_precision", "conv_fp32_precision", "mkldnn_fp32_precision",
    "tf32_matmul", "tf32_conv",
    "num_threads", "cudnn_benchmark", "device", "device_name", "isa", "clock_mhz",
    "torch_version", "cuda_version", "cudnn_version", "python_version",
    "size", "rounds", "date", "command", "partial", "note", *QUANTILES, "times_s",
)
"""Columns of the CSV, one row per measurement (``times_s``: block times by round, seconds, blank
in a file written with its sidecar, whose times are in ``<file>.npz`` and summarised by the
:data:`QUANTILES` columns;
``median_s``: :func:`onebyone.perf.intervals.row_time` of them; ``sleep_s``: the GPU sleep queued
before each block of calls; ``sm_clock_mhz``: the median running SM clock during the timing,
blank where NVML could not be read, whereas ``clock_mhz`` is the device's maximum clock).

The suite writes them (:data:`onebyone.perf.suite.FIELDS` is this tuple) and
:func:`read_results` reads them back, typed by :data:`COLUMNS`."""



def _times_text(cell: str) -> str:
    records.check_block_times(cell)  # refuses a cell that is not block times
    return cell  # kept as text: block_rounds parses it where it is used


_TIMES_TEXT = records.Kind(records.BLOCK_TIMES.expected, _times_text, blank="")
_COUNT, _SIZE = records.integer(0), records.integer(1)
_KINDS: dict[str, records.Kind] = {
    "precision": records.one_of(*PRECISIONS), "status": records.one_of("measured", "skipped"),
    "batch_size": _SIZE, "in_channels": _SIZE, "out_channels": _SIZE, "height": _SIZE,
    "width": _SIZE, "macs": _COUNT, "flops": _COUNT, "bytes": _COUNT,
    "memory_format": records.one_of("contiguous", "channels_last"),
    "median_s": records.POSITIVE, "iqr_s": records.NON_NEGATIVE,
    "relative_iqr": records.NON_NEGATIVE, "runs": _SIZE, "blocks": _SIZE,
    "calls_per_block": _COUNT, "num_threads": _SIZE, "clock_mhz": records.POSITIVE,
    "rounds": _SIZE, "timer": records.one_of("blocked_autorange", "cuda_events", "cuda_graph"),
    "noisy": records.BOOLEAN, "l2_flush": records.BOOLEAN, "tf32_matmul": records.BOOLEAN,
    "tf32_conv": records.BOOLEAN, "cudnn_benchmark": records.BOOLEAN,
    "partial": records.BOOLEAN, "times_s": _TIMES_TEXT,
    "sleep_s": records.number(0.0), "sm_clock_mhz": records.POSITIVE,
    **dict.fromkeys(QUANTILES, records.POSITIVE),
}
_REQUIRED = ("experiment", "variant", "precision", "status")

COLUMNS: tuple[records.Column, ...] = tuple(
    records.Column(name, _KINDS.get(name, records.TEXT), optional=name not in _REQUIRED)
    for name in FIELDS)
"""How each column of a results file reads: counts are integers (sizes at least 1, MACs, FLOPs
and bytes at least 0: a copy does no FLOPs), times positive and finite seconds, spreads at least
0, flags exactly ``True``/``False``; every column but the first four may be blank (a skipped
row has no time; a blank number reads as ``None``, blank text as ``""``)."""

ADDED_LATER = ("sleep_s", "sm_clock_mhz")
"""Columns that files recorded before the GPU timer's sleep lack (``book/data/cpu.csv``, the
H200 files); such a file is read with the columns it has, and these read as ``None``."""
_CELL_COLUMNS = tuple(column for column in COLUMNS if column.name not in QUANTILES)
_EARLIER_COLUMNS = tuple(column for column in _CELL_COLUMNS if column.name not in ADDED_LATER)
_SCHEMAS = ((COLUMNS, ()), (_CELL_COLUMNS, tuple(QUANTILES)),
            (_EARLIER_COLUMNS, (*QUANTILES, *ADDED_LATER)))
"""The headers a results file may have, newest first, each with the columns it lacks (read as
``None``): the first has a sidecar, the others hold their times in the CSV cell."""


def _schema(path: object) -> tuple[tuple[records.Column, ...], tuple[str, ...]]:
    """The entry of :data:`_SCHEMAS` whose header the file's first line matches longest.

    Why: a file's header says which kind it is, so that a problem further on (a cut row, a bad
    cell) is reported against that kind's columns. A header cut where the kinds part (before
    ``times_s`` or ``p05_s``) is read as the committed files' kind; one that matches none is
    refused (:func:`onebyone.records.read_records`) naming the newest header.
    """
    if isinstance(path, (str, os.PathLike)):
        path = Path(path)
    try:
        data = path.read_bytes()
    except (AttributeError, TypeError, OSError):
        return _SCHEMAS[0]  # read_records says what is wrong with it
    header = data.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r").split(",")

    def matched(schema: tuple[tuple[records.Column, ...], tuple[str, ...]]) -> int:
        names = [column.name for column in schema[0]]
        same = 0
        while same < min(len(names), len(header)) and names[same] == header[same]:
            same += 1
        return same + (same == len(names) == len(header))  # a whole header beats a prefix

    best = max((_SCHEMAS[1], _SCHEMAS[0], _SCHEMAS[2]), key=matched)  # first of equals wins
    return best if matched(best) else _SCHEMAS[0]  # none: the refusal names the newest header

Row = dict[str, object]
"""One measurement: a CSV row by column (:data:`FIELDS`).

Written by the suite as Python values, read back by :func:`read_results` with its numbers typed.
"""


def parse_row(raw: dict[str, str]) -> Row:
    """One CSV row with its cells typed by :data:`COLUMNS` (blank numbers become ``None``).

    Columns missing from ``raw`` read as ``None`` where they hold numbers or flags; keys that are
    not columns are kept as they are. Raises ``ValueError`` naming the column of a bad cell.
    """
    row: Row = dict(raw)
    for column in COLUMNS:
        if column.name in raw:
            try:
                row[column.name] = column.read(raw[column.name])
            except ValueError as error:
                raise ValueError(f"column {column.name}: {error}") from None
        elif column.kind.blank is None:
            row[column.name] = None
    return row


def _check_row(row: Row) -> tuple[str, str] | None:
    """``(column, problem)`` for a measured row without its time or with the wrong counts."""
    if row["status"] != "measured":
        return None
    if row["median_s"] is None:
        return "median_s", "blank in a measured row"
    if not row["times_s"]:
        return "times_s", "blank in a measured row"
    times = str(row["times_s"])  # checked by its kind: times split by single spaces
    rounds = times.count("|") + 1
    blocks = times.count(" ") + rounds
    if row["rounds"] is not None and row["rounds"] != rounds:
        return "rounds", f"{row['rounds']} rounds, but times_s holds {rounds}"
    if row["blocks"] is not None and row["blocks"] != blocks:
        return "blocks", f"{row['blocks']} blocks, but times_s holds {blocks}"
    return None


class _Sidecar:
    """The raw block times of a file with a sidecar, checked row by row as the CSV is read.

    Why row by row: :func:`onebyone.records.read_records` then names the CSV line whose times
    are missing or wrong. Each measured row's ``times_s`` is set to its rounds (a tuple of
    tuples of seconds) as it passes.
    """

    ARRAYS = ("row_rounds", "round_blocks", "times_s")

    def __init__(self, path: str | Path | records.Readable) -> None:
        self.path = path
        self.index = 0
        self.loaded = False
        self.problem: str | None = None

    def _load(self) -> str | None:
        if self.loaded:
            return self.problem
        self.loaded = True
        self.problem = self._read()
        return self.problem

    def _read(self) -> str | None:
        path = self.path
        if isinstance(path, (str, os.PathLike)):
            path = Path(path)
        if not callable(getattr(path, "with_name", None)):
            return f"its block times are in a sidecar .npz, which {path!r} cannot locate"
        self.raw = sidecar_path(path) if isinstance(path, Path) else path.with_name(
            path.name + ".npz")
        try:
            data = self.raw.read_bytes()
        except FileNotFoundError:
            return (f"the sidecar {self.raw} with this file's block times is missing (a file "
                    "with p05_s/p50_s/p95_s columns keeps them there: copy both files)")
        except OSError as error:
            return f"cannot read the sidecar {self.raw} ({error.strerror or error})"
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
                found = sorted(arrays.files)
                if found != sorted(self.ARRAYS):
                    return (f"the sidecar {self.raw} holds the arrays {found}, expected "
                            f"{sorted(self.ARRAYS)}: not a sidecar of block times")
                rounds, blocks, times = (arrays[name] for name in self.ARRAYS)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
            return (f"the sidecar {self.raw} cannot be read as .npz ({error}): it was cut, or "
                    "is not a sidecar")
        for name, array, kind in zip(self.ARRAYS, (rounds, blocks, times),
                                     ("i", "i", "f"), strict=True):
            if array.ndim != 1 or array.dtype.kind != kind:
                return (f"the sidecar {self.raw}'s {name} is a {array.dtype} array of shape "
                        f"{array.shape}, expected a flat array of "
                        f"{'integers' if kind == 'i' else 'float64 seconds'}")
        if (rounds < 0).any() or (blocks < 1).any() or int(rounds.sum()) != len(blocks) or (
                int(blocks.sum()) != len(times)):
            return (f"the sidecar {self.raw}'s counts disagree: {int(rounds.sum())} rounds "
                    f"counted by row_rounds, {len(blocks)} in round_blocks; "
                    f"{int(blocks.sum())} blocks counted, {len(times)} times")
        self.rounds, self.blocks, self.times = rounds, blocks, times
        self.first_round = np.concatenate(([0], np.cumsum(rounds)))
        self.first_time = np.concatenate(([0], np.cumsum(blocks)))
        return None

    def check_row(self, row: Row) -> tuple[str, str] | None:
        """``(column, problem)`` for a row whose sidecar times are missing or disagree."""
        index, self.index = self.index, self.index + 1
        problem = self._load()
        if problem is not None:
            return "times_s", problem
        if row["times_s"]:
            return "times_s", ("not blank in a file with p05_s/p50_s/p95_s columns, whose "
                               "times are in its sidecar")
        if index >= len(self.rounds):
            return "times_s", (f"the sidecar {self.raw} holds {len(self.rounds)} rows, fewer "
                               "than this file")
        count = int(self.rounds[index])
        if row["status"] != "measured":
            if count:
                return "times_s", (f"a {row['status']} row, but the sidecar {self.raw} holds "
                                   f"{count} rounds for it (row {index})")
            return None
        if row["median_s"] is None:
            return "median_s", "blank in a measured row"
        if not count:
            return "times_s", (f"a measured row, but the sidecar {self.raw} holds no rounds "
                               f"for it (row {index})")
        first, last = self.first_round[index], self.first_round[index + 1]
        times = self.times[self.first_time[first]:self.first_time[last]]
        bad = ~(np.isfinite(times) & (times > 0))
        if bad.any():
            return "times_s", (f"the sidecar {self.raw}, row {index}, holds "
                               f"{times[bad][0]!r}, not a positive, finite time")
        if row["rounds"] is not None and row["rounds"] != count:
            return "rounds", f"{row['rounds']} rounds, but its sidecar holds {count}"
        if row["blocks"] is not None and row["blocks"] != len(times):
            return "blocks", f"{row['blocks']} blocks, but its sidecar holds {len(times)}"
        for name, value in time_quantiles(times).items():
            if row[name] is None:
                return name, "blank in a measured row"
            if not math.isclose(row[name], value, rel_tol=1e-9):
                return name, (f"{row[name]!r}, but the times in the sidecar {self.raw} give "
                              f"{value!r}: the sidecar belongs to another file")
        splits = np.cumsum(self.blocks[first:last])[:-1]
        row["times_s"] = tuple(tuple(part.tolist()) for part in np.split(times, splits))
        return None

    def check_file(self, rows: list[Row]) -> tuple[str, str] | None:
        """``(column, problem)`` when the sidecar holds more rows than the CSV (or is bad)."""
        problem = self._load()
        if problem is not None:
            return "times_s", problem
        if len(self.rounds) != len(rows):
            return "times_s", (f"the sidecar {self.raw} holds {len(self.rounds)} rows, this "
                               f"file {len(rows)}: they do not belong together")
        return None


def time_quantiles(times: Iterable[float] | Iterable[Iterable[float]]) -> dict[str, float]:
    """The :data:`QUANTILES` columns (seconds) of block times, flat or by round (pooled)."""
    values = list(times)
    if values and not isinstance(values[0], (int, float, np.number)):
        values = [time for part in values for time in part]
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or not len(array) or not (np.isfinite(array) & (array > 0)).all():
        raise ValueError(f"times must be positive, finite seconds (at least one), got {values!r}")
    found = np.quantile(array, list(QUANTILES.values()))
    return {name: float(value) for name, value in zip(QUANTILES, found, strict=True)}


def split_times(rows: Sequence[Row]) -> tuple[list[Row], dict[str, np.ndarray]]:
    """``(rows for the CSV, arrays for its sidecar)``: the :data:`onebyone.recording.Split` of
    a results file.

    Each row's block times (``times_s``: text, or a tuple of rounds) go to the sidecar's arrays
    (see the module's docstring), as float64; its CSV row gets a blank ``times_s`` and the
    :data:`QUANTILES` of them. The rows given are not changed.
    """
    if isinstance(rows, (str, bytes, dict)) or not isinstance(rows, Sequence):
        raise TypeError(f"rows must be a sequence of rows (dicts), got {type(rows).__name__}")
    kept, row_rounds, round_blocks, times = [], [], [], []
    for row in rows:
        if not isinstance(row, dict):
            raise TypeError(f"rows must hold dicts, got a {type(row).__name__}")
        rounds = _rounds_of(row)
        row_rounds.append(len(rounds))
        round_blocks.extend(len(part) for part in rounds)
        times.extend(time for part in rounds for time in part)
        kept.append({**row, "times_s": "",
                     **(time_quantiles(rounds) if rounds else dict.fromkeys(QUANTILES, ""))})
    return kept, {"row_rounds": np.asarray(row_rounds, dtype=np.int64),
                  "round_blocks": np.asarray(round_blocks, dtype=np.int64),
                  "times_s": np.asarray(times, dtype=np.float64)}


def _rounds_of(row: Row) -> tuple[tuple[float, ...], ...]:
    """A row's block times by round: parsed from a CSV cell's text, or as the sidecar gave."""
    times = row.get("times_s")
    if isinstance(times, tuple):
        return times
    return parse_rounds(str(times or ""))


def kernel_names(row: Row) -> tuple[str, ...]:
    """The profiler's top kernels of a measured row, largest share first (allocations such as
    ``aten::empty``, which do no work, are left out)."""
    return tuple(name for name in str(row.get("kernels") or "").split(";")
                 if name and name not in ALLOCATION)


def block_rounds(row: Row) -> tuple[tuple[float, ...], ...]:
    """A measured row's per-call block times (seconds), one tuple per round."""
    rounds = _rounds_of(row)
    if not rounds:
        raise ValueError(f"row {row['experiment']}/{row['variant']} has no recorded block times")
    return rounds


def typical_s(row: Row) -> float:
    """A measured row's time per call (seconds): :func:`onebyone.perf.intervals.row_time` of its
    rounds, the geometric mean of each round's median block time."""
    return row_time(block_rounds(row))


def rounds_by_id(row: Row) -> dict[tuple[str, str, str, int], tuple[float, ...]]:
    """A measured row's rounds keyed by their id: ``(date, command, experiment, index)``.

    Why: round ``r`` of two rows was interleaved only when both come from the same run (same
    date and command) and the same experiment; only then may their rounds be paired.
    """
    run = (str(row.get("date") or ""), str(row.get("command") or ""), str(row["experiment"]))
    return {(*run, index): times for index, times in enumerate(block_rounds(row))}


def time_ratio(slow: Row, fast: Row) -> Interval:
    """``slow``'s time over ``fast``'s with a 95 % interval (a speedup).

    Paired by round id (:func:`rounds_by_id`) when both rows come from the same run and
    experiment, with ``per_round`` holding each round's ratio (a partial row whose rounds do not
    match is refused); unpaired (Welch, no ``per_round``) when they do not share rounds.
    """
    top, bottom = rounds_by_id(slow), rounds_by_id(fast)
    if {key[:3] for key in top} == {key[:3] for key in bottom}:
        return ratio_interval(top, bottom)
    return unpaired_ratio_interval(top, bottom)


def rate_ratio(row: Row, reference: Row) -> Interval:
    """``row``'s FLOP/s over ``reference``'s (e.g. a fraction of the peak), with its interval."""
    return time_ratio(reference, row).scaled(row["flops"] / reference["flops"])


def rate_interval(row: Row) -> Interval:
    """A measured row's FLOP/s with a 95 % t-interval over its rounds (each round's median).

    Why: the fastest of many noisy medians is biased upwards (the maximum picks the luckiest),
    so a roof taken from it should say how far its own rounds spread.
    """
    rounds = block_rounds(row)
    time = ratio_interval(rounds, [[1.0]] * len(rounds))  # seconds: the mean log over rounds
    rates = tuple(row["flops"] / seconds for seconds in time.per_round)
    return Interval(row["flops"] / time.estimate, row["flops"] / time.high,
                    row["flops"] / time.low, time.confidence, rates)


def read_results(path: str | Path | records.Readable) -> list[Row]:
    """All rows of a results CSV written by ``python -m onebyone.perf.experiments``.

    The file is read strictly (:func:`onebyone.records.read_records`): its header must be
    :data:`FIELDS`, every row complete and every cell of its column's kind (:data:`COLUMNS`);
    a measured row needs its times, and its ``rounds`` and ``blocks`` must count them. A file
    with only the header is valid and holds no rows (a run stopped before its first
    measurement writes one).

    Its times are in its sidecar ``<path>.npz`` (loaded with ``allow_pickle=False``), which must
    be there, whole, hold one entry per CSV row, positive finite times, the rows' rounds and
    blocks, and times whose quantiles are the row's. Files recorded before the sidecar
    (without the :data:`QUANTILES` columns, and perhaps without :data:`ADDED_LATER`) hold their
    times in the ``times_s`` cell instead, need no sidecar, and read with the columns they lack
    as ``None``. Either way a measured row's ``times_s`` holds its rounds (text from the cell, a
    tuple of rounds from the sidecar), read by :func:`block_rounds`.

    Raises:
        onebyone.records.RecordError: a ``ValueError`` naming the file, line and column of the
            first thing that cannot be trusted (a cut file, a bad cell, another file's header,
            a missing, cut or mismatched sidecar, which it names too).
    """
    columns, missing = _schema(path)
    if columns is COLUMNS:
        sidecar = _Sidecar(path)
        return records.read_records(path, COLUMNS, check=sidecar.check_row,
                                    check_file=sidecar.check_file)
    rows = records.read_records(path, columns, check=_check_row)  # before the sidecar
    return [{**row, **dict.fromkeys(missing)} for row in rows]


VALIDATION_COLUMNS: tuple[records.Column, ...] = tuple(records.Column(*column) for column in (
    ("case", records.TEXT, False),
    ("device", records.TEXT, False),
    ("device_name", records.TEXT, True),
    ("isa", records.TEXT, True),
    ("clock_mhz", records.POSITIVE, True),
    ("torch_version", records.TEXT, True),
    ("python_version", records.TEXT, True),
    ("date", records.TEXT, True),
    ("command", records.TEXT, True),
    ("num_threads", records.integer(1), False),
    ("torch_num_threads", records.integer(1), False),
    ("cpu_time_per_wall_time", records.number(0.0, allow_nan=True), False),
    ("harness_median_s", records.POSITIVE, False),
    ("harness_iqr_s", records.NON_NEGATIVE, False),
    ("harness_runs", records.integer(1), False),
    ("independent_method", records.TEXT, False),
    ("independent_s", records.POSITIVE, False),
    ("independent_calls_per_loop", records.integer(0), False),
    ("relative_difference", records.number(-1.0), False),
    ("within_5_percent", records.BOOLEAN, False),
))
"""The columns of ``benchmarks/validate_timer.py``'s CSV (the harness against an independent
clock), in the order the script writes them, and how each reads back: times positive (seconds
per call), counts at least 1 (``independent_calls_per_loop`` 0 where ``do_bench`` chose),
``cpu_time_per_wall_time`` ``nan`` on a GPU (not measured there)."""


def read_validation(path: str | Path | records.Readable) -> list[dict[str, object]]:
    """The rows of a timer-validation file (``benchmarks/results/validate_timer_*.csv``), typed
    by :data:`VALIDATION_COLUMNS`.

    Why here and not in the script: Chapter 5's appendix reads the recorded file too, and a
    reader must be importable without running (or copying) the script that writes it. Read
    strictly (:func:`onebyone.records.read_records`; at least one case).

    Raises:
        onebyone.records.RecordError: a ``ValueError`` naming the file, line and column of the
            first thing that cannot be trusted.
    """
    return records.read_records(path, VALIDATION_COLUMNS, least_rows=1)


def select(rows: Iterable[Row], experiment: str, **equal: object) -> list[Row]:
    """The *measured* rows of ``experiment`` whose columns equal the given values.

    Example: ``select(rows, "same_math", precision="float32", memory_format="channels_last")``.
    """
    chosen = [
        row
        for row in rows
        if row["experiment"] == experiment
        and row["status"] == "measured"
        and all(row.get(key) == value for key, value in equal.items())
    ]
    return chosen


def flops_per_s(row: Row) -> float:
    """Achieved arithmetic rate of a measured row, FLOP/s (over :func:`typical_s`)."""
    return row["flops"] / typical_s(row)


def bytes_per_s(row: Row) -> float:
    """Achieved memory rate of a measured row (least bytes moved / :func:`typical_s`), bytes/s."""
    return row["bytes"] / typical_s(row)


def device_label(rows: Sequence[Row]) -> str:
    """``"AMD EPYC (cpu, 1 thread)"``: which device the rows were measured on, for titles."""
    if not rows:
        raise ValueError("no rows: nothing was measured")
    first = rows[0]
    if first["device"] != "cpu":
        return f"{first['device_name']} ({first['device']})"
    threads = first["num_threads"]
    return f"{first['device_name']} (cpu, {threads} thread{'s' if threads != 1 else ''})"


def fastest_row(rows: Iterable[Row], precision: str = "float32") -> Row:
    """The measured row of ``precision`` with the highest *effective* FLOP/s (counted MACs over
    time). Not a roof: see :func:`measured_roofline` and :func:`roof_flag`."""
    candidates = [row for row in rows if row["status"] == "measured"
                  and row["precision"] == precision and row["flops"]]
    if not candidates:
        raise ValueError(f"no measured rows with FLOPs in {precision}")
    return max(candidates, key=flops_per_s)


def peak_rows(rows: Iterable[Row], precision: str = "float32") -> tuple[Row, Row]:
    """Experiment 0's measured GEMM row in ``precision`` and its copy row: the roof's two sides."""
    rows = list(rows)
    matmul = select(rows, "peak", variant="matmul", precision=precision)
    if not matmul:
        raise ValueError(f"no measured peak matmul row (experiment 0) in {precision} for the "
                         "roof's arithmetic rate")
    copy = select(rows, "peak", variant="copy")
    if not copy:
        raise ValueError("no measured copy row (experiment 0) for the bandwidth")
    return matmul[0], copy[0]


def measured_roofline(rows: Iterable[Row], precision: str = "float32") -> Roofline:
    """This device's roof in ``precision``: the same-precision GEMM's rate (FLOP/s) and the
    copy's bandwidth (bytes/s), both from experiment 0 (:mod:`onebyone.perf.peak`).

    Why the GEMM and not the best rate any kernel reached: a GEMM executes every multiplication
    it is credited with, whereas a convolution's rate is *effective*, counted MACs over time,
    and counted MACs need not be executed (zero padding, Winograd, FFT). On the recorded CPU the
    best "rate" was oneDNN's 5x5 convolution at 1.26 times MKL's GEMM, 8.4 % of whose counted
    MACs multiply padding zeros; on an H200 it would have been a cuDNN FFT convolution at 2.2
    times the float32 datasheet peak. A row above this roof is flagged (:func:`roof_flag`).
    """
    matmul, copy = peak_rows(rows, precision)
    # A plain label for a figure's legend: the GEMM's kernel name (``kernel_names``) is a
    # library's internal name, which a reader cannot interpret and which widens the legend.
    return Roofline(
        flops_per_s(matmul),
        bytes_per_s(copy),
        label=f"measured roof, {precision}:\nGEMM and copy",
    )


def roof_interval(row: Row, roof: Roofline, reference: Row | None = None) -> Interval:
    """``row``'s effective rate over ``roof``'s bound at its intensity, with a 95 % interval.

    The bound is ``roof.attainable(flops / bytes)`` (the flat roof for a row without counted
    bytes). Why an interval: with three rounds, a rate a few per cent above the GEMM is often
    within the rounds' scatter, and "above the roof" is a claim about the device, not about one
    lucky estimate. With ``reference`` (the GEMM row the roof was measured from) the interval
    pairs the row's rounds with the GEMM's where they were interleaved
    (:func:`rate_ratio`), so the roof's own scatter is in it; without it, only the row's rounds
    count (:func:`rate_interval`).

    Raises:
        TypeError: ``roof`` is not a :class:`~onebyone.perf.roofline.Roofline`.
        ValueError: the row is not measured, counts no FLOPs or has fewer than two rounds.
    """
    if not isinstance(roof, Roofline):
        raise TypeError(f"roof must be a Roofline, got {type(roof).__name__}")
    if row.get("status") != "measured" or not row.get("flops"):
        raise ValueError(f"row {row.get('experiment')}/{row.get('variant')} is not a measured row "
                         "with counted FLOPs; it has no rate to hold to a roof")
    bytes_moved = row.get("bytes")
    bound = roof.attainable(row["flops"] / bytes_moved) if bytes_moved else roof.peak_flops_per_s
    if reference is None:
        return rate_interval(row).scaled(1 / bound)
    return rate_ratio(row, reference).scaled(flops_per_s(reference) / bound)


def roof_flag(row: Row, roof: Roofline, reference: Row | None = None) -> str:
    """``""`` unless ``row``'s effective rate lies *above* ``roof`` at its intensity, that is,
    unless the whole 95 % interval of rate over bound (:func:`roof_interval`) exceeds 1; else why
    it lies above (a sentence): the row is flagged, the roof stays.

    A row whose estimate is above the bound but whose interval contains it is at the roof, not
    above it (the rounds cannot tell), and gets ``""``. A row with a single round has no
    interval and is judged on its estimate. Rows that are not measured or count no FLOPs get
    ``""``.
    """
    if not isinstance(roof, Roofline):
        raise TypeError(f"roof must be a Roofline, got {type(roof).__name__}")
    if row.get("status") != "measured" or not row.get("flops"):
        return ""
    if reference is not None and len(block_rounds(reference)) < 2:
        reference = None  # a GEMM of one round has no scatter to pair with
    if len(block_rounds(row)) < 2:
        bytes_moved = row.get("bytes")
        bound = (roof.attainable(row["flops"] / bytes_moved) if bytes_moved
                 else roof.peak_flops_per_s)
        ratio = flops_per_s(row) / bound
        low = high = ratio
    else:
        part = roof_interval(row, roof, reference)
        ratio, low, high = part.estimate, part.low, part.high
        bound = flops_per_s(row) / ratio
    if low <= 1:
        return ""
    rate = flops_per_s(row)
    return (f"effective rate {rate / 1e9:.4g} GFLOP/s (counted MACs over time) is "
            f"{ratio:.2f}x the roof's {bound / 1e9:.4g} GFLOP/s (95 % interval {low:.2f}x to "
            f"{high:.2f}x): the counted work is not the executed work (zero padding, Winograd "
            "or FFT), or this kernel beats the GEMM")


def flag_above_roof(rows: Iterable[Row], roof: Roofline, reference: Row | None = None
                    ) -> list[Row]:
    """Copies of ``rows`` with ``above_roof`` (bool) and ``roof_note`` (:func:`roof_flag`'s
    reason, ``""`` when under or at the roof) added; the rows given are not changed.
    ``reference``: the GEMM row the roof was measured from, as in :func:`roof_interval`."""
    flagged = []
    for row in rows:
        note = roof_flag(row, roof, reference)
        flagged.append({**row, "above_roof": bool(note), "roof_note": note})
    return flagged


def bottleneck_speedups(rows: Iterable[Row], memory_format: str = "contiguous"
                        ) -> list[tuple[int, float, Interval]]:
    """``(batch size, MAC ratio, measured speedup with its interval)`` of experiment 2.

    The MAC ratio is direct MACs / reduced MACs (the prediction on paper); the speedup is
    direct time / reduced time (the measurement), with a 95 % interval over paired rounds.

    Args:
        rows: results.
        memory_format: ``"contiguous"`` (NCHW) or ``"channels_last"``.
    """
    rows = list(rows)
    result = []
    for direct in sorted(select(rows, "bottleneck", variant="direct",
                                memory_format=memory_format),
                         key=lambda row: row["batch_size"]):
        reduced = select(rows, "bottleneck", variant="reduced", batch_size=direct["batch_size"],
                         memory_format=memory_format)
        if reduced:
            result.append((
                direct["batch_size"],
                direct["macs"] / reduced[0]["macs"],
                time_ratio(direct, reduced[0]),
            ))
    return result
