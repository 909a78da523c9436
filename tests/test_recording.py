"""Every results file is written one way (onebyone.recording), by all three commands.

What is real and what is simulated:

- Signals are real: a subprocess sends itself SIGTERM or SIGINT in the middle of its measurement
  (at a chosen timing call, so the test is deterministic and fast), on a tiny workload.
- A full disk is a real file-size limit (``RLIMIT_FSIZE``, ``ulimit -f``) set inside the
  subprocess: a write past it fails with ``EFBIG``, as a write to a full disk fails with
  ``ENOSPC``; both are an ``OSError`` on the same path through the writer.
- A folder that turns read-only mid-run is simulated in-process: these tests run as root, for
  whom ``chmod`` forbids nothing, and no tiny or read-only file system is at hand, so the
  calls that create or rename files are made to raise ``OSError(EROFS)``.
- The C locale is real: a subprocess under ``LC_ALL=C PYTHONUTF8=0`` (ASCII streams, non-ASCII
  command-line bytes as surrogate escapes), with a non-ASCII folder in ``--out``.

Every file goes to ``tmp_path``; a fixture checks that the recorded files in ``book/data`` and
``benchmarks/results`` are left exactly as they were.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import importlib.util
import io
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

import onebyone
from onebyone import atomic, recording
from onebyone.perf import experiments, separable_timing, suite

SOURCE = Path(onebyone.__file__).resolve().parent.parent
"""Where the package under test was imported from: a subprocess imports the same code."""

TINY_SIZES = ("workloads.Sizes(matmul_size=32, copy_megabytes=1, "
              "same_math_shapes=((2, 8, 4, 3, 3),), bottleneck_batches=(1,), "
              "sweep_channels=(4, 8), sweep_pixels=(1, 4, 4), inception_batches=(1,), "
              "min_run_time=0.002)")

# Each driver runs one command (its options from the command line) on a tiny workload. With
# STOP_WITH=SIGTERM/SIGINT it sends itself that signal at its STOP_AT-th timing call; with
# FILE_LIMIT it runs under that file-size limit (bytes), set once everything is imported.
PREAMBLE = """
import os, resource, signal, sys
def stopping(real):
    calls = [0]
    def timed(*args, **kwargs):
        calls[0] += 1
        if calls[0] == int(os.environ.get("STOP_AT", "0")):
            os.kill(os.getpid(), getattr(signal, os.environ["STOP_WITH"]))
        return real(*args, **kwargs)
    return timed
def limit_files():
    if "FILE_LIMIT" in os.environ:
        limit = int(os.environ["FILE_LIMIT"])
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
"""
DRIVERS = {
    "experiments": PREAMBLE + f"""
from onebyone.perf import experiments, suite, workloads
workloads.SIZES["tiny"] = {TINY_SIZES}
suite.time_callable = stopping(suite.time_callable)
limit_files()
experiments.main()
""",
    # the layer's input made tiny (1 x 256 x 2 x 2) where it is timed, no 256 MB copy
    "separable_timing": PREAMBLE + """
from onebyone.perf import separable_timing as st
real_time, real_faults, real_kernels = st.time_callable, st.page_faults_per_call, st.top_kernels
st.time_callable = stopping(lambda fn, shape, **kw: real_time(fn, (1, 256, 2, 2), **kw))
st.page_faults_per_call = lambda fn, shape, calls=50: real_faults(fn, (1, 256, 2, 2), 5)
st.top_kernels = lambda fn, x: real_kernels(fn, x[:, :, :2, :2])
st.measure_copy_bandwidth = lambda *args, **kwargs: (1e9, None)
limit_files()
st.main()
""",
    "validate_timer": PREAMBLE + """
import importlib.util
spec = importlib.util.spec_from_file_location("validate_timer", os.environ["SCRIPT"])
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)
script.time_callable = stopping(script.time_callable)
limit_files()
sys.exit(script.main(chosen={"add": (lambda x: x + 1, (64,)), "mul": (lambda x: x * 2, (64,))},
                     min_run_time=0.01, loop_seconds=0.002))
""",
}
OPTIONS = {
    "experiments": ["--size", "tiny", "--threads", "1", "--precisions", "float32",
                    "--experiments", "peak,bottleneck", "--no-progress", "--no-profile"],
    "separable_timing": ["--rounds", "2", "--min-run-time", "0.005"],
    "validate_timer": ["--threads", "1"],
}


def subprocess_environment(**changes):
    """This process's environment, importing the package under test, with ``changes``."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("PYTHONIOENCODING", "LC_CTYPE", "LANGUAGE")}
    return {**environment, "PYTHONPATH": str(SOURCE), "PYTHONDONTWRITEBYTECODE": "1", **changes}


C_LOCALE = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
"""A C locale, not coerced to UTF-8: ASCII streams and file names, as on a bare server."""


def run_command(name, out, *options, env=None, root=None):
    """Run ``name``'s driver with ``--out out``; return the finished process (bytes output)."""
    environment = subprocess_environment(**(env or {}))
    if root is not None:
        environment["SCRIPT"] = str(root / "benchmarks" / "validate_timer.py")
    return subprocess.run(
        [sys.executable, "-c", DRIVERS[name], "--out", str(out), *OPTIONS[name], *options],
        capture_output=True, env=environment, check=False, timeout=120)


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def one_line(stderr):
    """The single line a stopped or refused command writes on stderr (no traceback)."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    assert "Traceback" not in text, text
    assert text.count("\n") == 1 and text.endswith("\n"), text
    return text


@pytest.fixture(autouse=True, scope="module")
def recorded_files_untouched(root):
    """The recorded results the book reads are the same bytes after these tests as before."""
    def snapshot():
        files = [*sorted((root / "book" / "data").rglob("*")),
                 *sorted((root / "benchmarks" / "results").rglob("*"))]
        return {str(path): hashlib.sha256(path.read_bytes()).hexdigest()
                for path in files if path.is_file()}
    before = snapshot()
    assert before  # the recorded files are there to be checked
    yield
    assert snapshot() == before


# --- real signals, mid-run, in a subprocess --------------------------------------------------

def test_sigterm_mid_run_saves_the_finished_experiments_marked_partial(tmp_path):
    out = tmp_path / "cpu.csv"
    # peak's two float32 timings finish; SIGTERM comes at the bottleneck's first
    done = run_command("experiments", out, env={"STOP_WITH": "SIGTERM", "STOP_AT": "3"})
    assert done.returncode == recording.EXIT_TERMINATED == 143
    message = one_line(done.stderr)
    partial = recording.partial_path(out)
    assert f"interrupted (SIGTERM): 2 measurements saved to {partial}" in message
    rows = read_rows(partial)
    assert [(row["experiment"], row["variant"]) for row in rows] == [
        ("peak", "matmul"), ("peak", "copy")]
    assert all(row["partial"] == "True" and float(row["median_s"]) > 0 for row in rows)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "cpu.csv.partial", "cpu.csv.partial.npz"]  # the block times in its sidecar


def test_sigint_mid_run_keeps_the_rounds_both_separable_parts_finished(tmp_path):
    out = tmp_path / "parts.csv"
    # timings: before (2), the warm-up round (2), round 1 (2); the signal at round 2's first
    done = run_command("separable_timing", out, env={"STOP_WITH": "SIGINT", "STOP_AT": "7"})
    assert done.returncode == recording.EXIT_INTERRUPTED == 130
    partial = recording.partial_path(out)
    assert f"interrupted (Ctrl-C): 2 measurements saved to {partial}" in one_line(done.stderr)
    assert not out.exists()
    parts = separable_timing.read_parts(partial)
    assert set(parts) == {"depthwise", "pointwise"}
    assert all(len(part["rounds"]) == 1 for part in parts.values())  # one of two rounds
    assert sorted(path.name for path in tmp_path.iterdir()) == ["parts.csv.partial"]


def test_sigterm_mid_run_keeps_the_timer_check_s_finished_cases(tmp_path, root):
    out = tmp_path / "check.csv"
    # three harness timings per case: the fourth is the second case's first
    done = run_command("validate_timer", out, env={"STOP_WITH": "SIGTERM", "STOP_AT": "4"},
                       root=root)
    assert done.returncode == 143
    assert "1 measurements saved to" in one_line(done.stderr)
    assert [row["case"] for row in read_rows(recording.partial_path(out))] == ["add"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["check.csv.partial"]


# --- a full disk: a real file-size limit in the subprocess ------------------------------------

@pytest.mark.parametrize(("name", "recorded"), [
    ("separable_timing", None),  # nothing there before: nothing half written after
    ("validate_timer", "recorded before\n"),  # --replace: the record stays whole
])
def test_a_file_size_limit_leaves_no_half_written_file_and_no_temporary(tmp_path, root, name,
                                                                       recorded):
    out = tmp_path / "record.csv"
    options = []
    if recorded is not None:
        out.write_text(recorded, encoding="utf-8")
        options = ["--replace"]
    done = run_command(name, out, *options, env={"FILE_LIMIT": "300"}, root=root)
    assert done.returncode == recording.EXIT_WRITE_ERROR == 74
    message = one_line(done.stderr)
    assert f"cannot write {out} (File too large)" in message
    assert "could not save the 2 measurements" in message and "either" in message
    if recorded is None:
        assert list(tmp_path.iterdir()) == []  # neither a truncated file nor a temporary
    else:
        assert out.read_text(encoding="utf-8") == recorded  # not truncated
        assert [path.name for path in tmp_path.iterdir()] == ["record.csv"]


# --- the C locale ---------------------------------------------------------------------------

def test_the_experiment_command_writes_utf8_under_the_c_locale(tmp_path):
    folder = tmp_path / "données µs"
    folder.mkdir()
    out = folder / "cpu.csv"
    done = run_command("experiments", out, "--experiments", "peak", env=C_LOCALE)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    assert done.stderr == b""
    rows = read_rows(out)
    assert [row["variant"] for row in rows] == ["matmul", "copy"]  # peak, float32
    assert all(f"--out '{out}'" in row["command"] for row in rows)  # real text, not escapes
    assert f"written to {out}".encode() in done.stdout  # the path's own bytes
    assert sorted(path.name for path in folder.iterdir()) == ["cpu.csv", "cpu.csv.npz"]


def test_write_rows_writes_utf8_under_the_c_locale(tmp_path):
    """Kills suite.write_rows with the locale's encoding: ASCII under ``LC_ALL=C``."""
    row = dict.fromkeys(suite.FIELDS, "")
    row.update(experiment="peak", note="größe 5 µs", command="python -m x --out données.csv")
    here = tmp_path / "here.csv"
    suite.write_rows([row], here)  # in-process, under this process's UTF-8 locale
    code = textwrap.dedent("""
        import sys
        from pathlib import Path
        from onebyone.perf import suite
        row = dict.fromkeys(suite.FIELDS, "")
        row.update(experiment="peak", note="gr\\u00f6\\u00dfe 5 \\u00b5s",
                   command="python -m x --out donn\\u00e9es.csv")
        suite.write_rows([row], Path(sys.argv[1]))
    """)
    env = subprocess_environment(**C_LOCALE)
    there = tmp_path / "c-locale.csv"
    done = subprocess.run([sys.executable, "-c", code, str(there)], capture_output=True,
                          env=env, check=False, timeout=120)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    assert there.read_bytes() == here.read_bytes()
    assert "größe 5 µs".encode() in there.read_bytes()
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "c-locale.csv", "c-locale.csv.npz", "here.csv", "here.csv.npz"]


# --- options checked before measuring, in-process ---------------------------------------------

def experiment_main(tmp_path, monkeypatch, *options):
    measured = []
    monkeypatch.setattr(experiments, "run_experiments",
                        lambda **kwargs: measured.append(kwargs) or [])
    argv = ["--no-progress", *options]
    with pytest.raises(SystemExit) as stopped:
        experiments.main(argv)
    return stopped.value.code, measured


def separable_main(tmp_path, monkeypatch, *options):
    measured = []
    monkeypatch.setattr(separable_timing, "measure_parts",
                        lambda **kwargs: measured.append(kwargs) or [])
    with pytest.raises(SystemExit) as stopped:
        separable_timing.main(list(options))
    return stopped.value.code, measured


COMMANDS = {"experiments": experiment_main, "separable_timing": separable_main}


@pytest.fixture(params=["experiments", "separable_timing", "validate_timer"])
def command(request, tmp_path, monkeypatch, root):
    """Run one of the three commands' ``main`` in-process with a stand-in measurement;
    returns ``(exit status, calls of the measurement)``."""
    if request.param != "validate_timer":
        return lambda *options: COMMANDS[request.param](tmp_path, monkeypatch, *options)
    spec = importlib.util.spec_from_file_location(
        "validate_timer", root / "benchmarks" / "validate_timer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path)

    def run(*options):
        measured = []
        monkeypatch.setattr(module, "validate", lambda *args, **kwargs: measured.append(args))
        with pytest.raises(SystemExit) as stopped:
            module.main(list(options))
        return stopped.value.code, measured
    return run


def test_an_existing_out_is_kept_without_replace(command, tmp_path, capsys):
    out = tmp_path / "mine.csv"
    out.write_text("mine\n", encoding="utf-8")
    assert command("--out", str(out)) == (2, [])
    assert "exists; pass --replace to overwrite it" in one_line(capsys.readouterr().err)
    assert out.read_text(encoding="utf-8") == "mine\n"


def test_a_stale_partial_is_never_overwritten_without_replace(command, tmp_path, capsys):
    out = tmp_path / "mine.csv"
    stale = recording.partial_path(out)
    stale.write_text("an earlier run\n", encoding="utf-8")
    assert command("--out", str(out)) == (2, [])
    message = one_line(capsys.readouterr().err)
    assert f"{str(stale)!r} holds what an earlier run measured" in message
    assert "pass --replace" in message
    assert stale.read_text(encoding="utf-8") == "an earlier run\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mine.csv.partial"]


@pytest.mark.parametrize("command", ["separable_timing", "validate_timer"], indirect=True)
@pytest.mark.parametrize(("out", "match"), [  # the experiment command: tests/test_experiments.py
    ("{tmp}/folder.csv", "is a directory"),
    ("{tmp}/missing/x.csv", "does not exist"),
    ("{tmp}/x.txt", "must name a .csv file"),
])
def test_a_bad_out_is_refused_before_measuring(command, tmp_path, capsys, out, match):
    (tmp_path / "folder.csv").mkdir()
    assert command("--out", out.replace("{tmp}", str(tmp_path))) == (2, [])
    assert match in one_line(capsys.readouterr().err)


def test_an_unwritable_folder_is_refused_before_measuring(command, tmp_path, capsys,
                                                         monkeypatch):
    def refused(*args, **kwargs):  # as root, chmod forbids nothing: the creation is refused
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    assert command("--out", str(tmp_path / "x.csv")) == (2, [])
    message = one_line(capsys.readouterr().err)
    assert f"cannot write in {str(tmp_path)!r} (Permission denied)" in message


@pytest.mark.parametrize(("options", "match"), [
    (["--rounds", "0"], "--rounds: must be >= 1, got 0"),
    (["--rounds", "two"], "expected a positive integer, got 'two'"),
    (["--min-run-time", "0"], "--min-run-time: must be a finite number > 0, got 0"),
    (["--min-run-time", "nan"], "must be a finite number > 0, got nan"),
    (["--min-run-time", "fast"], "expected a positive number, got 'fast'"),
    (["--replace"], "the following arguments are required: --out"),
])
def test_separable_timing_refuses_bad_options_in_one_line(tmp_path, monkeypatch, capsys,
                                                          options, match):
    if "--replace" not in options:
        options = [*options, "--out", str(tmp_path / "x.csv")]
    assert separable_main(tmp_path, monkeypatch, *options) == (2, [])
    error = one_line(capsys.readouterr().err)
    assert error.startswith("python -m onebyone.perf.separable_timing: error:") and match in error


# --- write errors, in-process -----------------------------------------------------------------

ROWS = [{"case": "a", "seconds": 1.5}, {"case": "b", "seconds": 2.5}]


def test_a_refused_rename_saves_the_rows_to_partial(tmp_path, monkeypatch, capsys):
    out = tmp_path / "r.csv"
    out.write_text("old\n", encoding="utf-8")
    real = os.replace

    def read_only_target(source, target):  # simulated: only the target's name is refused
        if Path(target) == out:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real(source, target)

    monkeypatch.setattr(os, "replace", read_only_target)
    with pytest.raises(SystemExit) as stopped:
        recording.record(out, lambda: ROWS, prog="cmd")
    assert stopped.value.code == 74
    message = one_line(capsys.readouterr().err)
    assert message == (f"cmd: error: cannot write {out} (Read-only file system); "
                       f"2 measurements saved to {out}.partial; {out} was left unchanged\n")
    assert out.read_text(encoding="utf-8") == "old\n"
    assert read_rows(recording.partial_path(out)) == [
        {"case": "a", "seconds": "1.5"}, {"case": "b", "seconds": "2.5"}]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["r.csv", "r.csv.partial"]


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC, errno.EACCES])
def test_a_folder_that_refuses_every_write_loses_nothing_old_and_leaves_no_temporary(
        tmp_path, monkeypatch, capsys, code):
    out = tmp_path / "r.csv"
    out.write_text("old\n", encoding="utf-8")
    real = os.fsync

    def failing(descriptor):  # simulated: the data cannot reach the disk
        real(descriptor)
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(SystemExit) as stopped:
        recording.record(out, lambda: ROWS, prog="cmd")
    assert stopped.value.code == 74
    message = one_line(capsys.readouterr().err)
    assert f"cannot write {out} ({os.strerror(code)})" in message
    assert f"could not save the 2 measurements to {out}.partial either" in message
    assert out.read_text(encoding="utf-8") == "old\n"
    assert [path.name for path in tmp_path.iterdir()] == ["r.csv"]


def test_a_separable_run_that_cannot_write_exits_74_with_one_line(tmp_path, monkeypatch, capsys):
    rows = [dict.fromkeys(separable_timing.FIELDS, "1")]
    monkeypatch.setattr(separable_timing, "measure_parts", lambda **kwargs: rows)
    out = tmp_path / "parts.csv"

    def read_only(*args, **kwargs):  # simulated: the folder turned read-only after the checks
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    real = tempfile.mkstemp
    calls = []

    def probe_then_read_only(*args, **kwargs):
        calls.append(kwargs.get("suffix"))
        return real(*args, **kwargs) if len(calls) == 1 else read_only()

    monkeypatch.setattr(tempfile, "mkstemp", probe_then_read_only)
    with pytest.raises(SystemExit) as stopped:
        separable_timing.main(["--out", str(out), "--rounds", "1"])
    assert stopped.value.code == 74
    assert "Read-only file system" in one_line(capsys.readouterr().err)
    assert calls == [".probe", ".tmp", ".tmp"]  # checked, then the file and its .partial
    assert list(tmp_path.iterdir()) == []


def escaped(main, *args, **kwargs):
    """Call ``main``; a KeyboardInterrupt it lets out fails the test instead of ending pytest."""
    try:
        return main(*args, **kwargs)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped the command: nothing was saved")


def test_ctrl_c_in_separable_timing_keeps_the_rounds_both_parts_finished(monkeypatch, tmp_path,
                                                                         capsys):
    monkeypatch.setattr(separable_timing, "fix_allocator", lambda *args: "scripted")
    monkeypatch.setattr(separable_timing, "page_faults_per_call", lambda *args: None)
    monkeypatch.setattr(separable_timing, "top_kernels", lambda *args: ("aten::k",))
    monkeypatch.setattr(separable_timing, "measure_copy_bandwidth", lambda *a, **k: (1.0, None))
    real, calls = separable_timing.time_callable, []

    def timed(fn, shape, **kwargs):
        calls.append(fn)
        if len(calls) == 9:  # before (2), warm-up (2), rounds 1 and 2 (4): round 3's first
            raise KeyboardInterrupt
        return real(fn, (1, 256, 2, 2), **kwargs)

    monkeypatch.setattr(separable_timing, "time_callable", timed)
    out = tmp_path / "parts.csv"
    with pytest.raises(SystemExit) as stopped:
        escaped(separable_timing.main, ["--out", str(out), "--rounds", "3",
                                        "--min-run-time", "0.002"])
    assert stopped.value.code == 130
    assert "interrupted (Ctrl-C): 2 measurements saved" in one_line(capsys.readouterr().err)
    parts = separable_timing.read_parts(recording.partial_path(out))
    assert [len(part["rounds"]) for part in parts.values()] == [2, 2]


def test_ctrl_c_before_a_round_is_kept_saves_nothing_and_says_so(monkeypatch, tmp_path, capsys):
    def interrupted(**kwargs):
        raise recording.Interrupted([])

    monkeypatch.setattr(separable_timing, "measure_parts", interrupted)
    out = tmp_path / "parts.csv"
    with pytest.raises(SystemExit) as stopped:
        separable_timing.main(["--out", str(out)])
    assert stopped.value.code == 130
    assert "nothing was measured yet, nothing saved" in one_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_the_timer_check_keeps_its_finished_cases_on_ctrl_c(validate_timer, monkeypatch, tmp_path):
    real, calls = validate_timer.time_callable, []

    def timed(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(validate_timer, "time_callable", timed)
    out = tmp_path / "check.csv"
    with pytest.raises(SystemExit) as stopped:
        escaped(validate_timer.main, ["--out", str(out)], min_run_time=0.01, loop_seconds=0.002,
                chosen={"add": (lambda x: x + 1, (8,)), "mul": (lambda x: x * 2, (8,))})
    assert stopped.value.code == 130
    assert [row["case"] for row in read_rows(recording.partial_path(out))] == ["add"]


# --- the pieces -------------------------------------------------------------------------------

def test_a_signal_while_a_file_is_written_waits_until_it_is_whole():
    stops = recording._Stops()
    stops.writing = True
    stops._handle(signal.SIGTERM, None)  # no KeyboardInterrupt in the middle of the write
    assert stops.status() == 143
    stops.writing = False
    with pytest.raises(KeyboardInterrupt):
        stops._handle(signal.SIGINT, None)
    assert stops.status() == 130


def test_signal_handlers_are_restored_after_recording(tmp_path):
    before = {number: signal.getsignal(number)
              for number in (signal.SIGINT, signal.SIGTERM, signal.SIGXFSZ)}
    during = {}

    def measure():
        during.update({number: signal.getsignal(number) for number in before})
        return ROWS

    recording.record(tmp_path / "r.csv", measure, prog="cmd")
    assert during[signal.SIGXFSZ] == signal.SIG_IGN
    assert during[signal.SIGTERM] not in (signal.SIG_DFL, before[signal.SIGTERM])
    assert {number: signal.getsignal(number) for number in before} == before


def test_the_command_column_is_real_text_whatever_the_locale_made_of_argv():
    typed = os.fsdecode("--out données.csv".encode())  # what Python hands over for these bytes
    assert recording.command_line(["prog", typed]) == "prog '--out données.csv'"
    latin1 = os.fsdecode(b"caf\xe9")  # not UTF-8: kept visible, never an unwritable surrogate
    assert recording.command_line([latin1]) == "'caf\\xe9'"


def test_say_escapes_what_an_ascii_stream_cannot_show(monkeypatch):
    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="strict")
    monkeypatch.setattr(sys, "stdout", stream)
    recording.say("written to données.csv")
    stream.flush()
    assert stream.buffer.getvalue() == b"written to donn\\xe9es.csv\n"


def test_the_replaced_file_keeps_its_permission_bits(tmp_path):
    target = tmp_path / "r.csv"
    target.write_text("old\n", encoding="utf-8")
    target.chmod(0o640)
    atomic.write_text_atomically(target, "new\n")
    assert (target.stat().st_mode & 0o777, target.read_text()) == (0o640, "new\n")
    fresh = atomic.write_text_atomically(tmp_path / "fresh.csv", "x\n")
    mask = os.umask(0)
    os.umask(mask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~mask  # not a temporary file's 0o600


def test_a_failing_cleanup_does_not_hide_the_error_that_stopped_the_write(tmp_path, monkeypatch):
    def cannot_unlink(path):
        raise OSError(errno.EROFS, "read-only")

    monkeypatch.setattr(os, "unlink", cannot_unlink)
    with pytest.raises(RuntimeError, match="the disk"), \
            atomic.open_atomically(tmp_path / "r.csv") as file:
        file.write("x")
        raise RuntimeError("the disk")
