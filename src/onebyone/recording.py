"""Record what a command measured in a results file, and keep it when the run is stopped.

Why: a results file holds minutes or hours of measurements. The three commands that write one
(``python -m onebyone.perf.experiments``, ``python -m onebyone.perf.separable_timing`` and
``benchmarks/validate_timer.py``) share one way of doing it, defined here once:

- Every option is checked *before* anything is measured (:func:`check_output_path`): ``--out``
  must name a ``.csv`` file in an existing folder this process can write in; an existing file is
  replaced only with ``--replace``, and an existing ``<out>.partial`` (what an earlier run
  measured before it was stopped) is never overwritten without ``--replace`` either: the
  command refuses at the start instead. A refusal is one line on stderr and
  :data:`EXIT_USER_ERROR`, never a traceback.
- The file is written whole or not at all (:func:`onebyone.atomic.open_atomically`: a temporary
  beside it, flushed, renamed into place, removed on any error), always in UTF-8.
- Stopped by Ctrl-C (SIGINT) or SIGTERM, or unable to write ``--out`` (``OSError``: a full disk
  ``ENOSPC``, a file-size limit ``EFBIG``, a read-only or forbidden folder ``EROFS``/``EACCES``),
  the command saves what it measured to ``<out>.partial`` (written the same way), says so in one
  line on stderr and exits with :data:`EXIT_INTERRUPTED`, :data:`EXIT_TERMINATED` or
  :data:`EXIT_WRITE_ERROR`; ``--out`` keeps what it held. SIGXFSZ is ignored while recording
  (as CPython already does at start-up), so that a write past ``RLIMIT_FSIZE`` raises ``EFBIG``
  instead of killing the process.
- A signal that arrives while a file is being written waits until that file is whole.
- A command whose rows carry bulky raw data (the experiments' block times) passes a
  :data:`Split`: the data then goes to a sidecar ``<out>.npz`` beside the CSV
  (:func:`sidecar_path`; ``<out>.partial.npz`` beside a ``.partial``), written the same way
  and in the same step (both files are whole before either is renamed into place), and
  ``--replace`` is needed to overwrite an existing sidecar too.

This module holds no measurement: each command passes its own as a function (:func:`record`).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import math
import os
import shlex
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np

from onebyone.atomic import open_atomically

Row = dict[str, object]
"""One row of a results file: column name -> value (written with ``csv.DictWriter``)."""

Split = Callable[[Sequence[Row]], tuple[list[Row], dict[str, np.ndarray]]]
"""Rows -> ``(rows for the CSV, arrays for the sidecar)``: how a command moves its bulky raw data
out of the CSV (:func:`write_csv_atomically`); e.g. :func:`onebyone.perf.results.split_times`."""

EXIT_USER_ERROR = 2
"""A bad option or ``--out``, refused before anything is measured (argparse's own status)."""
EXIT_WRITE_ERROR = 74
"""``--out`` could not be written (``EX_IOERR`` of BSD's ``sysexits.h``)."""
EXIT_INTERRUPTED = 128 + signal.SIGINT
"""Stopped by Ctrl-C (SIGINT): 130, the status a shell gives a process SIGINT ended."""
EXIT_TERMINATED = 128 + signal.SIGTERM
"""Stopped by SIGTERM: 143, the status a shell gives a process SIGTERM ended."""


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (and :data:`EXIT_USER_ERROR`), no usage."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}\n")


def positive_integer(text: str) -> int:
    """An option's text as an integer >= 1 (an ``argparse`` type: its errors name the option)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_number(text: str) -> float:
    """An option's text as a finite number > 0 (seconds, say), as an ``argparse`` type."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def add_output_options(parser: argparse.ArgumentParser, *, required: bool = True,
                       help: str = "CSV file to write (its folder must exist)") -> None:
    """Add ``--out`` and ``--replace``, the options every results-writing command shares."""
    parser.add_argument("--out", required=required, default=None, help=help)
    parser.add_argument("--replace", action="store_true",
                        help="overwrite an existing --out (and an earlier run's <out>.partial)")


def partial_path(out: str | os.PathLike[str]) -> Path:
    """Where a stopped run saves what it measured: ``cpu.csv`` -> ``cpu.csv.partial``."""
    out = Path(out)
    return out.with_name(out.name + ".partial")


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """Where a results file keeps its raw data: ``cpu.csv`` -> ``cpu.csv.npz``
    (``cpu.csv.partial`` -> ``cpu.csv.partial.npz``)."""
    path = Path(path)
    return path.with_name(path.name + ".npz")


def check_output_path(out: str | os.PathLike[str], *, replace: bool = False,
                      sidecar: bool = False) -> Path:
    """The ``--out`` path, checked before anything is measured; ``ValueError`` names the problem.

    It must name a ``.csv`` file (not a folder) in an existing folder this process can create
    files in (tried, not guessed from permission bits, which mean nothing to root). Unless
    ``replace``, neither the file nor ``<out>.partial`` may exist yet (nor, with ``sidecar``,
    for a command that writes one, their :func:`sidecar_path`).
    """
    path = Path(out)
    if path.suffix != ".csv":
        raise ValueError(f"--out must name a .csv file, got {str(out)!r}")
    if path.is_dir():
        raise ValueError(f"--out {str(out)!r} is a directory; name a .csv file in it")
    if not path.parent.is_dir():
        raise ValueError(f"--out: the folder {str(path.parent)!r} does not exist")
    try:
        descriptor, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe",
                                             dir=path.parent)
        os.close(descriptor)
        os.unlink(probe)
    except OSError as error:
        folder = str(path.parent)
        raise ValueError(f"--out: cannot write in {folder!r} ({error.strerror})") from None
    partial = partial_path(path)
    if partial.is_dir():
        raise ValueError(f"{str(partial)!r} is a directory, where a stopped run saves its rows")
    if not replace and path.exists():
        raise ValueError(f"{str(out)!r} exists; pass --replace to overwrite it")
    if not replace and partial.exists():
        raise ValueError(f"{str(partial)!r} holds what an earlier run measured; move it away "
                         "or pass --replace to overwrite it")
    for raw in (sidecar_path(path), sidecar_path(partial)) if sidecar else ():
        if raw.is_dir():
            raise ValueError(f"{str(raw)!r} is a directory, where the raw data is saved")
        if not replace and raw.exists():
            raise ValueError(f"{str(raw)!r} exists (an earlier run's raw data); move it away "
                             "or pass --replace to overwrite it")
    return path


def user_error(prog: str, error: object) -> NoReturn:
    """Refuse a bad option: one line ``prog: error: ...`` on stderr, :data:`EXIT_USER_ERROR`."""
    say(f"{prog}: error: {error}", error=True)
    raise SystemExit(EXIT_USER_ERROR)


def command_line(words: Sequence[str]) -> str:
    """The command, as a shell would take it back, in real text whatever the locale.

    Under a locale whose encoding is not UTF-8 (``LC_ALL=C``), Python hands non-ASCII bytes of
    the command line over as surrogate escapes, which no UTF-8 file can hold; they are turned
    back into the bytes typed and read as UTF-8 (``\\xNN`` where they are not UTF-8).
    """
    return shlex.join(_as_text(word) for word in words)


def _as_text(word: str) -> str:
    try:
        return os.fsencode(word).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # already text the file-system encoding cannot hold
        return word


def say(message: str, *, error: bool = False) -> None:
    """Print one line on stdout (stderr with ``error``), escaping what its encoding cannot hold.

    Why: under ``LC_ALL=C`` the streams are ASCII, and a command that measured for an hour must
    not die printing a path with an accent in it.
    """
    stream = sys.stderr if error else sys.stdout
    try:
        print(message, file=stream, flush=True)
    except UnicodeEncodeError:
        encoding = stream.encoding or "ascii"
        print(message.encode(encoding, "backslashreplace").decode(encoding), file=stream,
              flush=True)


def write_csv_atomically(path: str | os.PathLike[str], rows: Sequence[Row],
                         fields: Sequence[str] | None = None, *,
                         split: Split | None = None) -> Path:
    """Write ``rows`` as CSV (UTF-8, a header of ``fields``) to ``path``, whole or not at all.

    ``fields`` defaults to the keys of the first row. With ``split``, the CSV holds the rows it
    returns and its arrays go to :func:`sidecar_path` (``numpy.savez_compressed``); both files
    are written whole before either replaces what was there (the sidecar first: between the
    two renames a reader finds a sidecar that disagrees with the CSV, and refuses it). Raises
    ``OSError`` when a file cannot be written (``path`` and its sidecar then keep what they
    held, and no temporary file is left).
    """
    if fields is None:
        if not rows:
            raise ValueError("no rows and no fields: nothing to name the columns")
        fields = list(rows[0])
    arrays = None
    if split is not None:
        rows, arrays = split(rows)
    with open_atomically(path, newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(fields))
        writer.writeheader()
        writer.writerows(rows)
        if arrays is not None:
            with open_atomically(sidecar_path(path), binary=True) as raw:
                np.savez_compressed(raw, **arrays)
    return Path(path)


class Interrupted(Exception):
    """A measurement was stopped (Ctrl-C, SIGTERM); ``rows`` holds what it had measured."""

    def __init__(self, rows: list[Row]) -> None:
        super().__init__(f"interrupted after {len(rows)} measurements")
        self.rows = rows


class _Stops:
    """While installed: SIGINT and SIGTERM raise ``KeyboardInterrupt`` (and are remembered),
    except while a file is being written (``writing``), when they wait; SIGXFSZ is ignored."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.writing = False

    def _handle(self, number: int, frame: object) -> None:
        if self.signal is None or not self.writing:
            self.signal = number
        if not self.writing:
            raise KeyboardInterrupt

    def status(self) -> int:
        """The exit status of a stopped run (Ctrl-C unless SIGTERM was seen)."""
        return EXIT_TERMINATED if self.signal == signal.SIGTERM else EXIT_INTERRUPTED

    def name(self) -> str:
        return "SIGTERM" if self.signal == signal.SIGTERM else "Ctrl-C"

    @contextlib.contextmanager
    def installed(self) -> Iterator[_Stops]:
        if threading.current_thread() is not threading.main_thread():
            yield self  # only the main thread may set handlers; Ctrl-C still raises there
            return
        numbers = [signal.SIGINT, signal.SIGTERM]
        previous = {number: signal.signal(number, self._handle) for number in numbers}
        if hasattr(signal, "SIGXFSZ"):
            previous[signal.SIGXFSZ] = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


def record(out: str | os.PathLike[str], measure: Callable[[], list[Row]], *, prog: str,
           fields: Sequence[str] | None = None, split: Split | None = None) -> list[Row]:
    """Run ``measure`` and write the rows it returns to ``out``; return them.

    ``out`` should have passed :func:`check_output_path`. ``measure`` returns the rows; stopped,
    it raises :class:`Interrupted` carrying the rows measured so far (a bare
    ``KeyboardInterrupt`` counts as nothing measured). ``fields`` names the columns (default:
    the first row's keys). ``split`` moves raw data to a sidecar (:func:`write_csv_atomically`),
    ``<out>.npz`` or, for what a stopped run saved, ``<out>.partial.npz``.

    Raises:
        SystemExit: after saving what was measured to :func:`partial_path` and saying so in one
            line on stderr: :data:`EXIT_INTERRUPTED` (Ctrl-C), :data:`EXIT_TERMINATED`
            (SIGTERM) or :data:`EXIT_WRITE_ERROR` (``out`` could not be written).
    """
    out = Path(out)
    stops = _Stops()
    rows: list[Row] | None = None
    with stops.installed():
        try:
            rows = measure()
            stops.writing = True
        except (Interrupted, KeyboardInterrupt) as stop:
            stops.writing = True
            kept = list(getattr(stop, "rows", None) or rows or [])
            _save_stopped(out, kept, fields, prog, stops, split)
        try:
            write_csv_atomically(out, rows, fields, split=split)
        except OSError as error:
            saved = _save_partial(out, rows, fields, split)
            say(f"{prog}: error: cannot write {out} ({_reason(error)}); {saved}; {out} was "
                "left unchanged", error=True)
            raise SystemExit(EXIT_WRITE_ERROR) from None
    return rows


def _save_stopped(out: Path, rows: list[Row], fields: Sequence[str] | None, prog: str,
                  stops: _Stops, split: Split | None) -> NoReturn:
    if rows:
        saved = _save_partial(out, rows, fields, split)
    else:
        saved = "nothing was measured yet, nothing saved"
    say(f"{prog}: interrupted ({stops.name()}): {saved}; {out} was left unchanged", error=True)
    raise SystemExit(stops.status())


def _save_partial(out: Path, rows: list[Row], fields: Sequence[str] | None,
                  split: Split | None) -> str:
    """Save ``rows`` to ``<out>.partial``; return what happened, as part of a sentence."""
    partial = partial_path(out)
    try:
        write_csv_atomically(partial, rows, fields, split=split)
    except OSError as error:
        return (f"could not save the {len(rows)} measurements to {partial} either "
                f"({_reason(error)}); they are lost")
    if split is not None:
        return f"{len(rows)} measurements saved to {partial} (raw data: {sidecar_path(partial)})"
    return f"{len(rows)} measurements saved to {partial}"


def _reason(error: OSError) -> str:
    return error.strerror or str(error)
