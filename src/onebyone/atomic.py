"""Write a file so that a reader sees either the old file or the whole new one, never half.

Why: a results file is a record of measurements that took minutes or hours. Opening the target
with ``open(path, "w")`` truncates it first, so a full disk, a signal or a crash part-way leaves
neither the old record nor the new one. Writing to a temporary file beside the target (same
folder, hence same file system), flushing it to disk and renaming it over the target makes the
replacement one step: ``os.replace`` is atomic on POSIX and Windows.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _mode_for(target: Path) -> int:
    """The permissions the file would get from ``open(target, "w")``: the old file's, if any,
    else 0666 less the process's umask."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def open_atomically(path: str | os.PathLike[str], *, newline: str | None = "") -> Iterator[IO[str]]:
    """Open a UTF-8 text file that replaces ``path`` only when the ``with`` block ends cleanly.

    On any exception (a full disk, ``KeyboardInterrupt``) the temporary file is removed and
    ``path`` is left as it was. The encoding is UTF-8 whatever the locale says.

    Args:
        path: the file to write; its folder must exist.
        newline: as for :func:`open`; ``""`` (the default) is what the ``csv`` module needs.
    """
    target = Path(path)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    try:
        os.chmod(temporary, _mode_for(target))  # mkstemp's 0600 would hide the file from others
        with os.fdopen(descriptor, "w", encoding="utf-8", newline=newline) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_text_atomically(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`open_atomically`); return it."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    with open_atomically(path, newline="") as file:
        file.write(text)
    return Path(path)
