"""Run chapters as another CPU would, and say which glued numbers move and whether they may.

Why: the twins in ``notebooks/`` are made on one machine and the web book is built on another, so
a number the prose quotes must come out the same on every x86-64 CPU, or be declared with
``onebyone.glue.Varies`` (how far two machines may disagree). We cannot borrow other CPUs, but
the math libraries can be told to take other code paths, as another CPU would:

- ``MKL_CBWR``: MKL's conditional numerical reproducibility; ``COMPATIBLE`` and ``AVX2`` make it
  run the kernels of an older instruction set (on one AMD machine ``COMPATIBLE`` changed
  Chapter 1's float64 rounding gaps);
- ``ONEDNN_MAX_CPU_ISA``: the newest instruction set oneDNN (PyTorch's convolutions) may use;
- ``ATEN_CPU_CAPABILITY``: the vector width of PyTorch's own kernels.

Each setting executes the chosen chapters in a fresh kernel and compares what they glue with the
values stored in their twins, exactly as ``tests/test_colab_twins.py`` compares the twins with the
book build: exactly, except for a declared value, which may move by its declared tolerance.

Usage::

    python tools/portability.py                               # every chapter, every setting
    python tools/portability.py book/01_pointwise.md --setting MKL_CBWR=COMPATIBLE
    python tools/portability.py --record benchmarks/results/portability.txt

Exit status: 0 when nothing moved beyond its declaration, 1 otherwise, 2 on a bad command line.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import nbformat

import notebooks
from onebyone.atomic import write_text_atomically

#: The settings tried by default: each imitates a CPU other than the one the twins were made on.
SETTINGS: tuple[dict[str, str], ...] = (
    {"MKL_CBWR": "COMPATIBLE"},
    {"MKL_CBWR": "AVX2"},
    {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
)


def parse_setting(text: str) -> dict[str, str]:
    """``"A=1,B=2"`` as ``{"A": "1", "B": "2"}``; refuses anything else with a ``ValueError``."""
    setting = {}
    for part in text.split(","):
        name, equals, value = part.partition("=")
        if not equals or not name.strip() or not value.strip() or not name.strip().isidentifier():
            raise ValueError(f"--setting takes NAME=VALUE[,NAME=VALUE...], got {text!r}")
        setting[name.strip()] = value.strip()
    return setting


@contextlib.contextmanager
def environment(setting: dict[str, str]) -> Iterator[None]:
    """The process environment with ``setting`` added, for the kernels started inside."""
    saved = {name: os.environ.get(name) for name in setting}
    os.environ.update(setting)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def moved(chapter: Path, setting: dict[str, str], book=None) -> list[str]:
    """What ``chapter`` glues differently under ``setting`` than its twin stores, beyond what
    the declarations allow (an empty list when nothing did)."""
    book = book or notebooks.book_index()
    twin = nbformat.read(notebooks.twin_path(chapter), as_version=4)
    stored = notebooks.stored_metadata(twin)
    if stored is None:
        return [f"{chapter.name}: its twin has no stored values: run `make notebooks`"]
    pinned = {"commit": stored["commit"], "package": stored["package"]}
    with environment(setting):
        fresh = notebooks.make_twin(chapter, book, pinned).metadata[notebooks.METADATA_KEY]
    return notebooks.glued_disagreements(
        chapter.read_text(), (stored["glued"], stored["varies"]), (fresh["glued"], fresh["varies"])
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", type=Path, help="chapters (default: all)")
    parser.add_argument("--setting", action="append", default=[],
                        help="NAME=VALUE[,NAME=VALUE...] (repeatable; default: SETTINGS)")
    parser.add_argument("--record", type=Path, help="also write the report to this file")
    arguments = parser.parse_args(argv)
    try:
        settings = [parse_setting(text) for text in arguments.setting] or list(SETTINGS)
        chosen = notebooks.chosen_chapters(arguments.chapters)
        if arguments.record is not None and not arguments.record.parent.is_dir():
            raise ValueError(f"--record: no folder {arguments.record.parent}")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    book = notebooks.book_index()
    lines, failed = [], False
    for setting in settings:
        label = ",".join(f"{name}={value}" for name, value in setting.items())
        for chapter in chosen:
            start = time.perf_counter()
            found = moved(chapter, setting, book)
            failed |= bool(found)
            verdict = "moved: " + "; ".join(found) if found else "as stored, or within declared"
            line = f"{label}  {chapter.name}  {verdict}  ({time.perf_counter() - start:.0f} s)"
            print(line, flush=True)
            lines.append(line)
    if arguments.record is not None:
        command = "python tools/portability.py " + " ".join(argv or sys.argv[1:])
        write_text_atomically(arguments.record, f"# {command.strip()}\n" + "\n".join(lines) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
