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
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def open_atomically(path: str | os.PathLike[str], *, newline: str | None = "",
                    binary: bool = False) -> Iterator[IO]:
    """Open a UTF-8 text file that replaces ``path`` only when the ``with`` block ends cleanly.

    On any exception (a full disk, ``KeyboardInterrupt``) the temporary file is removed (where
    the folder still allows it) and ``path`` is left as it was; the exception is the one that
    stopped the write. The encoding is UTF-8 whatever the locale says. The new file keeps the
    permission bits of the file it replaces, or gets those ``open`` would give a new one (not
    the owner-only bits of a temporary file).

    Args:
        path: the file to write; its folder must exist.
        newline: as for :func:`open`; ``""`` (the default) is what the ``csv`` module needs.
        binary: open it for bytes instead (``newline`` is then ignored): a results file's
            ``.npz`` sidecar of raw block times (:mod:`onebyone.recording`).
    """
    target = Path(path)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    try:
        opened = (os.fdopen(descriptor, "wb") if binary else
                  os.fdopen(descriptor, "w", encoding="utf-8", newline=newline))
        with opened as file:
            os.chmod(temporary, _mode_of(target))  # not mkstemp's owner-only 0600
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):  # gone already, or the folder turned read-only
            os.unlink(temporary)
        raise


def _mode_of(target: Path) -> int:
    """Permission bits for ``target``: those it has, else 0o666 less this process's umask."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        mask = os.umask(0o022)
        os.umask(mask)
        return 0o666 & ~mask


def write_text_atomically(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`open_atomically`); return it."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    with open_atomically(path, newline="") as file:
        file.write(text)
    return Path(path)
