"""Key Jupyter Book's execution cache on the package and the recorded data, not only on cells.

Why: with ``execute_notebooks: cache`` (``_config.yml``) Jupyter Book re-runs a page only when
its code cells change. A page's numbers also depend on the package it imports
(``src/onebyone/``), the recorded results it reads (``book/data/``) and the pinned versions it
runs with (``requirements.txt``); a change to any of them left the old numbers on the page.
``make book`` runs this script first: it computes a digest of those inputs and, when it differs
from the digest recorded beside the cache by the last build, clears the cache, so every page is
executed again with the new inputs.

    python tools/book_cache.py     (make book runs it)
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What a page's outputs depend on besides its own cells: files, or folders taken whole.
INPUTS = ("src/onebyone", "book/data", "requirements.txt")
CACHE = "_build/.jupyter_cache"
# Beside the cache, not in it: clearing the cache must not lose the record of its inputs.
RECORD = "_build/.jupyter_cache.inputs"
# Written by Python or editors, never read by a page.
IGNORED_PARTS = {"__pycache__", ".ipynb_checkpoints"}
IGNORED_SUFFIXES = (".pyc", ".tmp", ".partial", "~")


def input_files(root: Path = ROOT) -> list[Path]:
    """Every file the digest covers, relative to ``root``, sorted."""
    files = []
    for name in INPUTS:
        path = root / name
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        files += [
            candidate.relative_to(root) for candidate in candidates
            if candidate.is_file()
            and not IGNORED_PARTS & set(candidate.relative_to(root).parts)
            and not candidate.name.endswith(IGNORED_SUFFIXES)
        ]
    return sorted(files)


def inputs_digest(root: Path = ROOT) -> str:
    """SHA-256 (hex) over the path and the bytes of every input file: a change to either, an
    added file or a removed one changes it."""
    digest = hashlib.sha256()
    for relative in input_files(root):
        data = (root / relative).read_bytes()
        digest.update(f"{relative.as_posix()}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def refresh(root: Path = ROOT) -> bool:
    """Clear the execution cache unless it was made from the current inputs; record them.

    Returns:
        Whether the cache was cleared. A cache with no record (made before this script, or
        by hand) is cleared too: nothing says which inputs made it.
    """
    cache, record = root / CACHE, root / RECORD
    digest = inputs_digest(root)
    recorded = record.read_text().strip() if record.is_file() else None
    cleared = recorded != digest and cache.exists()
    if cleared:
        shutil.rmtree(cache)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(digest + "\n")
    return cleared


def main() -> int:
    if refresh():
        print(f"The package, book/data or requirements.txt changed since the last build: "
              f"cleared {CACHE}, every page runs again.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
