"""The mutation score per module, from mutmut's results under mutants/, less the equivalents.

Why: mutmut prints one running total; the project's target (95 % on the CPU-reachable code) is
per module and counts a surviving mutant as accounted for only when mutation/equivalent.txt
lists it with a reason. This script reads mutmut's per-file results (``mutants/**/*.py.meta``,
one exit code per mutant), sorts each mutant into killed, equivalent, survived (a survivor
nobody explained, or a mutant no test reaches) and not run, and prints a table; ``--record``
also writes it, with the date, the command and mutmut's version, to mutation/results.md.

    python tools/mutation_report.py [--record]

Score of a module: (killed + equivalent) / run, where "run" counts every mutant mutmut tried.
A listed equivalent that no longer survives is reported as stale: a test now kills it, or the
code changed and mutmut renumbered its mutants.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
EQUIVALENT = ROOT / "mutation" / "equivalent.txt"
RECORD = ROOT / "mutation" / "results.md"
COMMAND = "make mutation"

# mutmut's exit codes (mutmut.stats.status_by_exit_code), in the four classes counted here.
KILLED_CODES = {1, 3, 36, -24, 24, 152, 255, 37}  # a failing test, a timeout, a type error
NOT_RUN = {None}


@dataclass
class Module:
    """The mutants of one module, by outcome."""

    name: str
    killed: int = 0
    equivalent: int = 0
    survived: list[str] = field(default_factory=list)
    not_run: int = 0

    @property
    def run(self) -> int:
        return self.killed + self.equivalent + len(self.survived)

    @property
    def score(self) -> float:
        """(killed + equivalent) / run, or NaN when nothing ran."""
        return (self.killed + self.equivalent) / self.run if self.run else float("nan")


def read_equivalents(path: Path = EQUIVALENT) -> dict[str, str]:
    """Mutant name -> reason, from lines ``name: reason`` (``#`` starts a comment line)."""
    equivalents = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, separator, reason = line.partition(":")
        if not separator or not reason.strip():
            raise ValueError(f"{path}:{number}: expected 'mutant name: reason', got {line!r}")
        equivalents[name.strip()] = reason.strip()
    return equivalents


def module_name(meta: Path, mutants: Path) -> str:
    """``mutants/src/onebyone/perf/timing.py.meta`` -> ``onebyone.perf.timing``."""
    relative = meta.relative_to(mutants / "src").with_suffix("").with_suffix("")
    return ".".join(relative.parts)


def tally(mutants: Path, equivalents: dict[str, str]) -> list[Module]:
    """One :class:`Module` per mutated file under ``mutants`` (only those with any mutant run)."""
    modules = []
    for meta in sorted((mutants / "src").rglob("*.py.meta")):
        module = Module(module_name(meta, mutants))
        for mutant, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if code in NOT_RUN:
                module.not_run += 1
            elif code in KILLED_CODES:
                module.killed += 1
            elif mutant in equivalents:
                module.equivalent += 1
            else:
                module.survived.append(mutant)
        modules.append(module)
    return modules


def report(modules: list[Module], equivalents: dict[str, str], mutants: Path = MUTANTS) -> str:
    """The table of scores (modules with mutants run) and the survivors, as Markdown."""
    ran = [module for module in modules if module.run]
    lines = [
        "| module | run | killed | equivalent | survived | score |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for module in ran:
        lines.append(f"| {module.name} | {module.run} | {module.killed} | {module.equivalent} | "
                     f"{len(module.survived)} | {module.score:.1%} |")
    total = Module("all measured modules",
                   killed=sum(module.killed for module in ran),
                   equivalent=sum(module.equivalent for module in ran),
                   survived=[name for module in ran for name in module.survived])
    lines.append(f"| **{total.name}** | {total.run} | {total.killed} | {total.equivalent} | "
                 f"{len(total.survived)} | {total.score:.1%} |")
    unmeasured = [module.name for module in modules if not module.run]
    if unmeasured:
        lines += ["", "Not measured in this record (no mutant run yet): " + ", ".join(unmeasured)]
    if total.survived:
        lines += ["", "Survivors not yet killed or explained:", ""]
        lines += [f"- {name}" for name in total.survived]
    surviving = _surviving_names(mutants)
    stale = [name for name in equivalents if name not in surviving]
    if stale:
        lines += ["", "Listed as equivalent but not surviving in this record (killed, renumbered "
                  "or not run):", ""]
        lines += [f"- {name}" for name in stale]
    return "\n".join(lines)


def _surviving_names(mutants: Path) -> set[str]:
    """Every mutant that ran and was not killed, listed as equivalent or not."""
    names = set()
    for meta in (mutants / "src").rglob("*.py.meta"):
        names |= {name for name, code in json.loads(meta.read_text())["exit_code_by_key"].items()
                  if code not in NOT_RUN and code not in KILLED_CODES}
    return names


def source_commit(root: Path = ROOT) -> str:
    """The commit the tests and the package were at, noting uncommitted changes to either."""
    def git(*arguments: str) -> str:
        return subprocess.run(["git", *arguments], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    if git("status", "--porcelain", "--", "src", "tests"):
        commit += " with uncommitted changes to src/ or tests/"
    return commit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true",
                        help=f"also write the table to {RECORD.relative_to(ROOT)}")
    parser.add_argument("--command", default=COMMAND,
                        help="the command(s) that produced the results, for the record")
    args = parser.parse_args(argv)
    if not (MUTANTS / "src").is_dir():
        print("error: no mutmut results under mutants/: run `make mutation` first", file=sys.stderr)
        return 2
    equivalents = read_equivalents()
    table = report(tally(MUTANTS, equivalents), equivalents)
    print(table)
    if args.record:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        RECORD.write_text(
            "# Mutation testing: recorded result\n\n"
            f"Date: {stamp}. Commit: {source_commit()}. Command: {args.command} "
            f"(mutmut {version('mutmut')}, "
            f"torch {version('torch')}, Python {sys.version.split()[0]}).\n"
            "Score = (killed + equivalent) / run; equivalents are listed with their reasons in "
            "`equivalent.txt`.\n\n" + table + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
