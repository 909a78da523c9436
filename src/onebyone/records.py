"""Reading a recorded CSV file strictly: a typed column schema and one reader that refuses.

Why: a results file is the only trace of measurements that took minutes or hours, and a file cut
short by a full disk or a crash still parses as CSV. Read leniently, a row cut in its last cell
is a "measured" row whose last time ``6.015e-0`` is 50,000 times too slow, ``true`` is read as
``False`` and a file with another file's header fails later with an unrelated ``KeyError``. So
every reader of recorded data in the package goes through :func:`read_records`, which parses
each file once, at the edge, into typed values, and refuses anything it cannot trust with one
:class:`RecordError` naming the file, the line and the column:

- bytes that are not UTF-8, or a byte-order mark (the package's writers write neither);
- a header other than the schema's, column for column (another file's header, an empty file);
- a row with fewer or more cells than the header, a blank line, broken quoting;
- a file that does not end with a newline: ``csv`` writes one after every row, so a file
  without it was cut, and its last row may be cut inside a cell;
- a cell that is not of its column's :class:`Kind` (booleans exactly ``True``/``False``, as
  ``str(bool)`` writes them; numbers as Python writes them, finite and in range; ``nan`` only
  where a column allows it), or a blank cell in a column that needs a value;
- a row that breaks a rule between its cells (the reader's ``check``).

A file cut exactly at the end of a row, after its newline, cannot be told from a shorter file:
it reads back as its complete rows.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

FIELD_SIZE_LIMIT = 2**31 - 1
"""Characters allowed in one CSV cell while a file is read. A GPU times tens of thousands of
short calls per measurement, and their ``times_s`` cell outgrows the ``csv`` module's default
limit (131,072 characters; an H200's file has cells of almost 300,000)."""

_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_INTEGER = re.compile(r"-?[0-9]+")


class RecordError(ValueError):
    """A recorded file the package cannot trust, with where: file, line (from 1) and column.

    The message reads ``"book/data/cpu.csv, line 17, column median_s: '6.015e-0' ..."``.
    """

    def __init__(self, source: str, line: int, column: str, problem: str) -> None:
        super().__init__(f"{source}, line {line}, column {column}: {problem}")
        self.source, self.line, self.column, self.problem = source, line, column, problem


@dataclass(frozen=True)
class Kind:
    """What one cell may hold.

    Attributes:
        expected: what is expected, in words, for messages (``"a positive, finite number"``).
        parse: the cell's text to its value; raises ``ValueError`` when the text is not one.
        blank: the value of a blank cell where the column allows one (``None``; ``""`` for text).
    """

    expected: str
    parse: Callable[[str], object]
    blank: object = None


@dataclass(frozen=True)
class Column:
    """One column of a recorded file: its header name, its kind, whether it may be blank."""

    name: str
    kind: Kind
    optional: bool = False

    def read(self, cell: str) -> object:
        """The cell's value; ``ValueError`` saying what was expected when it is not one."""
        if cell == "":
            if self.optional:
                return self.kind.blank
            raise ValueError(f"blank, expected {self.kind.expected}")
        try:
            return self.kind.parse(cell)
        except ValueError as error:
            detail = f" ({error})" if str(error) else ""
            raise ValueError(f"{_shown(cell)} is not {self.kind.expected}{detail}") from None


def _shown(cell: str, most: int = 60) -> str:
    """``repr(cell)`` for a message, its middle left out when it is longer than ``most``."""
    if len(cell) <= most:
        return repr(cell)
    return f"{cell[:most // 2]!r}...{cell[-most // 3:]!r} ({len(cell):,} characters)"


TEXT = Kind("text", str, blank="")
"""Any text (a blank cell reads as ``""``)."""


def _boolean(cell: str) -> bool:
    if cell not in ("True", "False"):
        raise ValueError
    return cell == "True"


BOOLEAN = Kind("True or False (as the package writes a bool)", _boolean)
"""Exactly ``True`` or ``False``, as ``str(bool)`` writes them; ``true``, ``1``, ``yes`` are
refused, so a file written by something else is not misread."""


def integer(minimum: int = 0) -> Kind:
    """Decimal integers of at least ``minimum`` (no sign but ``-``, no spaces, no ``1.0``)."""

    def parse(cell: str) -> int:
        if not _INTEGER.fullmatch(cell) or int(cell) < minimum:
            raise ValueError
        return int(cell)

    return Kind(f"an integer >= {minimum}", parse)


def number(minimum: float = -math.inf, *, positive: bool = False, maximum: float = math.inf,
           allow_nan: bool = False) -> Kind:
    """Finite decimal numbers in ``[minimum, maximum]`` (above 0 too with ``positive``).

    ``inf`` is always refused; ``nan`` (exactly as Python writes it) only with ``allow_nan``,
    where the writer records "not measured" that way.
    """
    words = ["a", "positive," if positive else "", "finite number"]
    if minimum > -math.inf:
        words.append(f">= {minimum:g}")
    if maximum < math.inf:
        words.append(f"<= {maximum:g}")
    if allow_nan:
        words.append("(or nan)")

    def parse(cell: str) -> float:
        if allow_nan and cell == "nan":
            return math.nan
        if not _NUMBER.fullmatch(cell):
            raise ValueError
        value = float(cell)
        if not (math.isfinite(value) and minimum <= value <= maximum) or (
                positive and value <= 0):
            raise ValueError
        return value

    return Kind(" ".join(word for word in words if word), parse)


POSITIVE = number(positive=True)
"""A positive, finite number (a time in seconds, a rate)."""
NON_NEGATIVE = number(0.0)
"""A finite number of at least 0 (an IQR, a count of page faults per call)."""


def one_of(*values: str) -> Kind:
    """Exactly one of ``values``."""

    def parse(cell: str) -> str:
        if cell not in values:
            raise ValueError
        return cell

    return Kind(f"one of {', '.join(values)}", parse)


_NOT_A_TIME_CHARACTER = re.compile(r"[^0-9.eE+\-| ]")


def check_block_times(cell: str) -> tuple[int, int]:
    """``(rounds, blocks)`` of a cell of :data:`BLOCK_TIMES`; ``ValueError`` if it is not one.

    Why not parse each time with :data:`POSITIVE`: a GPU's cell holds tens of thousands of
    times; checking the cell's characters (digits, ``.eE+-``, ``|`` and spaces: no ``nan``, no
    ``inf``, no ``_``), then ``float`` over its words, is ten times faster. The slow path runs
    only to name the first bad time.
    """
    if not _NOT_A_TIME_CHARACTER.search(cell):
        try:
            times = list(map(float, cell.replace("|", " ").split(" ")))
        except ValueError:
            times = []
        if times and math.isfinite(sum(times)) and min(times) > 0:
            return cell.count("|") + 1, len(times)
    for index, part in enumerate(cell.split("|"), start=1):
        for time in part.split(" "):
            try:
                POSITIVE.parse(time)
            except ValueError:
                raise ValueError(f"round {index} has {_shown(time)}") from None
    raise ValueError  # not reached: every cell the fast path refuses has a bad time


def _block_times(cell: str) -> tuple[tuple[float, ...], ...]:
    check_block_times(cell)
    return tuple(tuple(map(float, part.split(" "))) for part in cell.split("|"))


BLOCK_TIMES = Kind("block times in seconds (positive numbers separated by single spaces, "
                   "rounds by |)", _block_times)
"""Block times by round, as :func:`onebyone.perf.timing.format_rounds` writes them: every time
positive and finite, no round empty. Read as a tuple of rounds, each a tuple of seconds."""


class Readable(Protocol):
    """A file to read: a :class:`pathlib.Path` or an ``importlib.resources`` traversable."""

    def read_bytes(self) -> bytes: ...


def read_records(path: str | Path | Readable, columns: Sequence[Column], *,
                 check: Callable[[dict[str, object]], tuple[str, str] | None] | None = None,
                 comments: bool = False, least_rows: int = 0,
                 check_file: Callable[[list[dict[str, object]]], tuple[str, str] | None]
                 | None = None) -> list[dict[str, object]]:
    """Every row of a recorded CSV file, typed by ``columns``; :class:`RecordError` if untrusted.

    Args:
        path: the file (a path, a package resource, anything with ``read_bytes``).
        columns: the header, column for column, with each column's kind.
        check: called with each typed row; returns ``(column, problem)`` for a row that breaks
            a rule between its cells, ``None`` for a good one.
        comments: allow lines starting with ``#``, and blank lines, before the header (the
            package's hand-written data tables say where their numbers come from there).
        least_rows: refuse a file with fewer rows than this after the header.
        check_file: called with all rows once they are read; returns ``(column, problem)`` for
            a file that breaks a rule between its rows (reported at the line after the last).

    Returns:
        One dict per row, keys in the order of ``columns``, values parsed by their kinds.

    Raises:
        RecordError: anything listed in the module's docstring, naming the file, line, column.
        TypeError: ``path`` is not a path (``OSError`` as :func:`open` raises when no file).
    """
    if isinstance(path, (str, os.PathLike)):
        path = Path(path)
    elif not callable(getattr(path, "read_bytes", None)):
        raise TypeError(f"path must be a file's path, got {path!r} ({type(path).__name__})")
    source = str(path)
    data = path.read_bytes()
    names = [column.name for column in columns]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        start = data.rfind(b"\n", 0, error.start) + 1
        prefix = data[start:error.start].decode("utf-8", errors="replace")
        cells = next(csv.reader([prefix]), [""])
        raise RecordError(source, data.count(b"\n", 0, error.start) + 1,
                          names[min(len(cells), len(names)) - 1],
                          f"byte {data[error.start]:#04x} is not UTF-8 (the package writes "
                          f"UTF-8)") from None
    if not text:
        raise RecordError(source, 1, names[0], f"the file is empty; expected the header "
                          f"{','.join(names)!r}")
    if text.startswith("\ufeff"):
        raise RecordError(source, 1, names[0], "the file starts with a byte-order mark "
                          "(U+FEFF), which the package's writers never write")
    lines = list(io.StringIO(text, newline=""))
    skipped = 0
    while comments and skipped < len(lines) and (lines[skipped].startswith("#")
                                                 or not lines[skipped].strip("\r\n")):
        skipped += 1
    records = _split(source, lines, skipped, names)
    if not records:
        raise RecordError(source, skipped + 1, names[0],
                          f"no header; expected {','.join(names)!r}")
    last_line, last_cells = records[-1]
    if not text.endswith("\n"):
        column = names[max(0, min(len(last_cells), len(names)) - 1)]
        cell = last_cells[-1] if last_cells else ""
        raise RecordError(source, last_line, column,
                          f"the file does not end with a newline: it was cut, and this row's "
                          f"cell {_shown(cell)} may be cut short")
    header_line, header = records[0]
    _check_header(source, header_line, header, names)
    rows = []
    for line, cells in records[1:]:
        if len(cells) != len(names):
            raise RecordError(source, line, *_count_problem(cells, names))
        row = {}
        for column, cell in zip(columns, cells, strict=True):
            try:
                row[column.name] = column.read(cell)
            except ValueError as error:
                raise RecordError(source, line, column.name, str(error)) from None
        problem = check(row) if check is not None else None
        if problem is not None:
            raise RecordError(source, line, *problem)
        rows.append(row)
    end = text.count("\n") + 1  # the line after the last row
    if len(rows) < least_rows:
        raise RecordError(source, end, names[0], f"{len(rows)} rows after the header, "
                          f"expected at least {least_rows}")
    problem = check_file(rows) if check_file is not None else None
    if problem is not None:
        raise RecordError(source, end, *problem)
    return rows


def _split(source: str, lines: list[str], skipped: int,
           names: list[str]) -> list[tuple[int, list[str]]]:
    """The file's records as ``(line where the record starts, cells)``, header first."""
    previous = csv.field_size_limit(FIELD_SIZE_LIMIT)
    try:
        reader = csv.reader(lines[skipped:], strict=True)
        records, start = [], skipped + 1
        try:
            for cells in reader:
                records.append((start, cells))
                start = skipped + reader.line_num + 1
        except csv.Error as error:
            cells = next(csv.reader(lines[start - 1:]), [])  # lenient: how far the row got
            column = names[max(0, min(len(cells), len(names)) - 1)]
            raise RecordError(source, start, column, f"broken quoting ({error})") from None
        return records
    finally:
        csv.field_size_limit(previous)


def _check_header(source: str, line: int, header: list[str], names: list[str]) -> None:
    for index, name in enumerate(names):
        if index >= len(header):
            raise RecordError(source, line, name, f"the header ends before this column: not a "
                              f"file of this kind (expected {','.join(names)!r})")
        if header[index] != name:
            raise RecordError(source, line, name, f"the header has {header[index]!r} here: not "
                              f"a file of this kind (expected {','.join(names)!r})")
    if len(header) > len(names):
        raise RecordError(source, line, names[-1], f"the header goes on after this column with "
                          f"{header[len(names)]!r}: not a file of this kind")


def _count_problem(cells: list[str], names: list[str]) -> tuple[str, str]:
    if not cells:
        return names[0], f"a blank line, expected a row of {len(names)} cells"
    if len(cells) < len(names):
        return names[len(cells)], (f"the row has {len(cells)} cells of {len(names)}: this "
                                   f"column and those after it are missing")
    return names[-1], (f"the row has {len(cells)} cells, {len(cells) - len(names)} more than "
                       f"the {len(names)} columns of the header: extra cells after this column")
