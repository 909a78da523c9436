"""One GPU session, prepared: the timer check, then Chapter 5's experiments, within 8 minutes.

Why a script: a lent GPU comes for about 15 minutes, once, and a session that improvises loses
them. This runs, from the repository root, on one H100 or H200:

1. ``nvidia-smi``'s description of the machine, into ``book/data/<gpu>/machine.txt``;
2. the timer check with its acceptance criteria (``benchmarks/validate_timer.py --device cuda``,
   criteria A1 to A5 of :mod:`onebyone.perf.timer_checks`), into
   ``benchmarks/results/validate_timer_<gpu>.csv``, at most :data:`CHECK_LIMIT_S` seconds;
3. the experiments, ``python -m onebyone.perf.experiments --device cuda --size full --rounds 5``,
   into ``book/data/<gpu>/experiments.csv``, with what is left of :data:`BUDGET_S`; stopped by
   SIGINT at the limit, the command saves what it measured to ``experiments.csv.partial``;

and writes every command, its exit status and its duration beside the results, in
``book/data/<gpu>/commands.txt`` (with the commit it ran at). ``<gpu>`` is ``h100``, ``h200``
... from the device's name. The experiments run even when the timer check fails, since their
raw rows are worth keeping; the check's exit status says whether to trust them.

``--dry-run`` does the same on a CPU in seconds: it writes ``commands.txt`` under ``--root``
(default: a new temporary folder), skips ``nvidia-smi`` and runs the two Python commands with
``--help`` added, in this process, which checks that the script and the module import and
parse their options. Usage::

    python benchmarks/gpu_session.py            # on the GPU machine, src/ on PYTHONPATH
    python benchmarks/gpu_session.py --dry-run  # anywhere

Exit status: 0 when every step succeeded, else the first failed step's status.
"""

from __future__ import annotations

import argparse
import re
import runpy
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

BUDGET_S = 480
"""Seconds for the whole session (8 minutes of the 15 a lent GPU gives)."""
CHECK_LIMIT_S = 150
"""Seconds the timer check may take; the experiments get the rest."""
ROOT = Path(__file__).resolve().parent.parent

Runner = Callable[[Sequence[str], float], int]
"""Runs a command with a time limit (seconds) and returns its exit status."""


def gpu_folder_name(device_name: str) -> str:
    """``"NVIDIA H100 80GB HBM3"`` -> ``"h100"``: the model's short name, lower case."""
    match = re.search(r"\b([A-Z]\d{2,4}|T4|L4)\b", device_name)
    if match:
        return match.group(1).lower()
    return re.sub(r"[^a-z0-9]+", "-", device_name.lower()).strip("-") or "gpu"


def steps(gpu: str, python: str, root: Path) -> list[tuple[str, list[str], Path | None]]:
    """The session's commands: ``(name, command, file its stdout goes to or None)``.

    Paths are relative to the repository root, where the commands run.
    """
    data = Path("book") / "data" / gpu
    return [
        ("machine", ["nvidia-smi", "--query-gpu=name,driver_version,clocks.max.sm,"
                     "clocks.sm,power.limit,temperature.gpu", "--format=csv"],
         root / data / "machine.txt"),
        ("timer check", [python, "benchmarks/validate_timer.py", "--device", "cuda", "--out",
                         f"benchmarks/results/validate_timer_{gpu}.csv", "--replace"], None),
        ("experiments", [python, "-m", "onebyone.perf.experiments", "--device", "cuda",
                         "--size", "full", "--rounds", "5", "--no-progress",
                         "--out", str(data / "experiments.csv")], None),
    ]


def run_command(command: Sequence[str], limit_s: float, cwd: Path = ROOT,
                stdout: Path | None = None) -> int:
    """Run ``command`` in ``cwd``; at ``limit_s`` send it SIGINT (so that the experiments save
    what they measured), and kill it 20 s later. Returns its exit status (124: timed out)."""
    with (stdout.open("w", encoding="utf-8") if stdout else open(
            "/dev/null", "w", encoding="utf-8")) as out:
        try:
            process = subprocess.Popen(list(command), cwd=cwd,
                                       stdout=out if stdout else None)
        except FileNotFoundError:
            print(f"not found: {command[0]}", file=sys.stderr)
            return 127
        try:
            return process.wait(timeout=max(1.0, limit_s))
        except subprocess.TimeoutExpired:
            process.send_signal(2)  # SIGINT: the experiments save a .partial file
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            return 124


def run_in_process(command: Sequence[str], limit_s: float, stdout: Path | None = None) -> int:
    """The dry run's runner: a ``python`` command runs in this process (``runpy``), so that a
    ``--help`` check costs no new interpreter; its exit status is that of its ``SystemExit``."""
    arguments = list(command[1:])
    saved = sys.argv
    try:
        if arguments[0] == "-m":
            sys.argv = [arguments[1], *arguments[2:]]
            runpy.run_module(arguments[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = [str(ROOT / arguments[0]), *arguments[1:]]
            runpy.run_path(str(ROOT / arguments[0]), run_name="__main__")
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        sys.argv = saved
    return 0


def commit() -> str:
    """The checkout's commit (``"unknown"`` outside git)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: Sequence[str] | None = None, runner: Callable[..., int] = run_command) -> int:
    """Run the session (or its dry run); return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="on a CPU: write the plan, run each command with --help")
    parser.add_argument("--root", default=None,
                        help="where book/data/<gpu>/ goes (default: the repository; with "
                             "--dry-run a new temporary folder)")
    parser.add_argument("--budget-s", type=float, default=BUDGET_S)
    arguments = parser.parse_args(argv)
    if arguments.dry_run:
        runner = run_in_process if runner is run_command else runner
        gpu = "dry-run"
        root = Path(arguments.root or tempfile.mkdtemp(prefix="gpu-session-"))
    else:
        import torch

        if not torch.cuda.is_available():
            parser.error("no CUDA device: run with --dry-run on a CPU")
        gpu = gpu_folder_name(torch.cuda.get_device_name())
        root = Path(arguments.root) if arguments.root else ROOT
    (root / "book" / "data" / gpu).mkdir(parents=True, exist_ok=True)
    (root / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    lines = [f"# GPU session on {gpu}, commit {commit()}, from the repository root",
             f"# budget {arguments.budget_s:.0f} s; status 124 = stopped at its limit"]
    status = 0
    for name, command, stdout in steps(gpu, "python", root):
        if arguments.dry_run:
            if name == "machine":
                lines.append(f"machine: skipped in a dry run: {shlex.join(command)}")
                continue
            command = [*command, "--help"]
        elif command[0] == "python":
            command = [sys.executable, *command[1:]]
        left = arguments.budget_s - (time.monotonic() - start)
        limit = min(CHECK_LIMIT_S, left) if name != "experiments" else left - 10
        began = time.monotonic()
        code = runner(command, limit, stdout=stdout)
        lines.append(f"{name}: exit {code} after {time.monotonic() - began:.0f} s: "
                     f"{shlex.join(command)}")
        print(lines[-1], flush=True)
        status = status or (code if name != "machine" else 0)
    record = root / "book" / "data" / gpu / "commands.txt"
    from onebyone.atomic import write_text_atomically

    write_text_atomically(record, "\n".join(lines) + "\n")
    print(f"commands recorded in {record}")
    return status


if __name__ == "__main__":
    sys.exit(main())
