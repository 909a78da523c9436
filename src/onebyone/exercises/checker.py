"""Check a submission's answers in a process that has never run a student's code.

Why: a check that runs in the notebook's own process after its cells can be fooled by anything
those cells changed (a replaced check, a patched ``torch.allclose``, an ``int`` whose ``__eq__``
always says yes). The grader (:mod:`onebyone.exercises.grader`) starts this checker once per
grading run, before any notebook runs, as ``python -I -S -B`` on a pristine copy of the package.
It imports PyTorch and the exercises' checks, then, for each submission, receives the answers as
data (:mod:`onebyone.exercises.answers`) and checks **each exercise in its own forked process**:
what one answer's code does when called (patching PyTorch, say) reaches only that exercise's
check, of that submission, and dies with it. In that process the answers are rebuilt by value,
functions and classes re-created from the notebook's cells (only their definitions and what
they need, screened), under an audit hook that refuses writing files, starting processes,
loading C code, reading frames and changing classes; and a check whose answer changed a public
name of ``torch``, ``math`` or the package while it ran scores zero.

Protocol: one JSON line of configuration on standard input (``modules``: the exercise modules
to import), ``{"ready": true}`` on standard output, then one JSON request per line (``questions``,
``answers``, ``cells``, ``hidden_seed``, ``timeout_s``) answered by one JSON line of results,
``{question: {"score": 0 or 1, "output": feedback}}``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import re
import select
import signal
import sys
import time
import types

_DENIED_EVENTS = ("os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system",
                  "os.kill", "os.killpg", "os.remove", "os.rename", "os.rmdir", "os.mkdir",
                  "os.chmod", "os.chown", "os.truncate", "os.symlink", "os.link", "os.utime",
                  "os.putenv", "os.unsetenv", "os.chdir", "os.setsid",
                  "subprocess.Popen", "pty.spawn", "socket.", "shutil.",
                  "sys.settrace", "sys.setprofile", "sys._current_frames",
                  "gc.get_objects", "gc.get_referrers", "gc.get_referents", "code.__new__",
                  "function.__new__")
# What the check's own guard does (onebyone.exercises.forbidden): allowed to it alone.
_GUARD_EVENTS = ("sys.setprofile", "sys.settrace", "code.__new__", "object.__setattr__")
_DENIED_IMPORTS = ("subprocess", "socket", "multiprocessing", "pty")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class Denied(PermissionError):
    """Something an answer's code tried that the checker does not allow."""


def _trusted_caller() -> bool:
    """Whether the Python code that raised the audited event is the check's own guard.

    Why: :mod:`onebyone.exercises.forbidden`, which a check runs the answer under, swaps the
    code of the package's functions and installs a profile hook; both raise events this hook
    refuses to an answer. The frame that raised them (the one below this hook's) is recognised
    by its code's file, which an answer cannot forge: making a code object is refused."""
    frame = sys._getframe(2)  # 0: this function, 1: the hook, 2: the code that raised the event
    return frame.f_code.co_filename in _TRUSTED_FILES


_TRUSTED_FILES: set[str] = set()
"""Files whose code may do what answers may not (the guard of :mod:`forbidden`), recorded when
the checker starts."""


def _audit(event: str, arguments: tuple) -> None:
    """The audit hook of a check's process (installed once its answers are rebuilt)."""
    if event in _GUARD_EVENTS and _trusted_caller():
        return
    if event == "open":
        _, mode, flags = arguments
        writing = (any(letter in mode for letter in "wax+") if isinstance(mode, str)
                   else bool(flags & _WRITE_FLAGS))
        if writing:
            raise Denied(f"an answer may not write files ({arguments[0]})")
        return
    if event == "import":
        if str(arguments[0]).split(".")[0] in _DENIED_IMPORTS:
            raise Denied(f"an answer may not import {arguments[0]}")
        return
    if event == "object.__setattr__":
        target, name = arguments[0], arguments[1]
        if _protected(target):
            raise Denied(f"an answer may not change {getattr(target, '__name__', target)!s:.60}"
                         f".{name}")
        return
    if any(event == denied or (denied.endswith(".") and event.startswith(denied))
           for denied in _DENIED_EVENTS):
        raise Denied(f"an answer may not use {event}")


_PROTECTED_TYPES: set[type] = set()
"""The classes a check relies on, recorded when the checker starts: tensors', PyTorch's layers'
and the package's (classes PyTorch makes later, as it imports lazily, are its own business)."""


def _record_protected_types() -> None:
    import torch

    todo = [torch.Tensor, torch.nn.Module, int, float, bool, tuple, list, dict, str]
    while todo:
        kind = todo.pop()
        if kind not in _PROTECTED_TYPES:
            _PROTECTED_TYPES.add(kind)
            with contextlib.suppress(TypeError):
                todo += kind.__subclasses__()
    for name, module in list(sys.modules.items()):
        if name.startswith("onebyone"):
            _PROTECTED_TYPES.update(value for value in vars(module).values()
                                    if isinstance(value, type))


def _protected(target: object) -> bool:
    """Whether changing ``target`` could change a check: a class of :data:`_PROTECTED_TYPES`,
    or a function of the package, ``torch.nn.functional``, ``math`` or ``builtins``."""
    if isinstance(target, types.FunctionType | types.BuiltinFunctionType):
        return str(getattr(target, "__module__", "")).startswith(
            ("onebyone", "torch.nn.functional", "torch.functional", "torch.nn.modules", "math",
             "builtins"))
    return isinstance(target, type) and target in _PROTECTED_TYPES


_WATCHED_MODULES = ("builtins", "math", "torch", "torch.nn", "torch.nn.functional",
                    "torch.nn.init", "torch.linalg", "torch.overrides")


def _public_names() -> dict[str, dict[str, object]]:
    """The public names of the modules a patch would target, each with the object it names."""
    watched = [*_WATCHED_MODULES, *(name for name in sys.modules if name.startswith("onebyone"))]
    return {name: {key: value for key, value in vars(sys.modules[name]).items()
                   if not key.startswith("_")}
            for name in watched if name in sys.modules}


def _changed(before: dict[str, dict[str, object]]) -> list[str]:
    changed = []
    for module, names in before.items():
        now = vars(sys.modules[module])
        changed += [f"{module}.{key}" for key, value in names.items() if now.get(key) is not value]
    return changed


def _transformed(cells: list[str]) -> list[str]:
    """The cells as Python: IPython's magics (``%timeit``) turned into calls, as in Jupyter."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return cells
    manager = TransformerManager()
    out = []
    for cell in cells:
        try:
            out.append(manager.transform_cell(cell))
        except Exception:
            out.append(cell)
    return out


_MODULE = re.compile(r"chapter[0-9]{1,2}")
_CHECK = re.compile(r"check_[a-z0-9_]{1,80}")


def _check_question(question: dict, request: dict) -> dict:
    """Score one exercise (in a forked process): rebuild its answers, run its checks."""
    from onebyone.exercises import answers as answer_data
    from onebyone.exercises.grading import call_check

    names = sorted({name for _, _, arguments in question["checks"] for name in arguments})
    supplied = request["answers"]
    env = {}
    sys.addaudithook(_audit)
    for name in names:
        if name not in supplied:
            return {"score": 0, "output": f"{name} is not defined: run the cell that defines "
                                          "it, and fix any error it shows"}
        try:
            if isinstance(supplied[name], dict) and supplied[name].get("type") == "source":
                env[name] = answer_data.recreate(request["cells"], name)
            else:
                env[name] = answer_data.rebuild(supplied[name])
        except (answer_data.Refused, answer_data.Unreadable) as error:
            return {"score": 0, "output": f"{name}: {error}"}
        except Exception as error:
            return {"score": 0, "output": f"{name} could not be re-created from the notebook: "
                                          f"{type(error).__name__}: {error}"[:1000]}
    before = _public_names()
    shown = io.StringIO()
    try:
        with contextlib.redirect_stdout(shown):
            for module, check, arguments in question["checks"]:
                if not (_MODULE.fullmatch(module) and _CHECK.fullmatch(check)):
                    return {"score": 0, "output": f"unknown check {module}.{check}"}
                function = getattr(importlib.import_module(f"onebyone.exercises.{module}"), check)
                call_check(function, *(env[name] for name in arguments),
                           hidden_seed=request.get("hidden_seed"))
    except AssertionError as error:
        return {"score": 0, "output": str(error)[:2000]}
    except BaseException as error:  # a check that stopped otherwise is not a pass
        return {"score": 0, "output": f"the check stopped with {type(error).__name__}: "
                                      f"{error}"[:2000]}
    changed = _changed(before)
    if changed:
        return {"score": 0, "output": "the answer changed " + ", ".join(changed[:5])
                                      + " while it was checked"}
    return {"score": 1, "output": shown.getvalue().strip()[:2000]}


def _in_child(question: dict, request: dict, write_end: int) -> None:
    """The forked process: nothing of the server's protocol is reachable, then check."""
    try:
        os.setpgid(0, 0)
        quiet = os.open(os.devnull, os.O_RDWR)
        for descriptor in (0, 1):
            os.dup2(quiet, descriptor)
        result = _check_question(question, request)
        data = json.dumps(result).encode()
    except BaseException as error:
        data = json.dumps({"score": 0, "output": f"the checker failed: {error}"[:500]}).encode()
    try:
        while data:
            data = data[os.write(write_end, data):]
    finally:
        os._exit(0)


def _read_all(read_end: int, deadline: float) -> bytes | None:
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([read_end], [], [], left)
        if not ready:
            return None
        chunk = os.read(read_end, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def check_submission(request: dict, protocol_fds: tuple[int, ...]) -> dict:
    """Each question of ``request`` checked in its own forked process, in turn."""
    results = {}
    request = {**request, "cells": _transformed(request.get("cells", []))}
    timeout_s = float(request.get("timeout_s", 60))
    for question in request["questions"]:
        missing = sorted({name for _, _, names in question["checks"] for name in names}
                         - set(request["answers"]))
        if missing:  # nothing to run: no process needed
            results[question["name"]] = {
                "score": 0, "output": f"{missing[0]} is not defined: run the cell that defines "
                                      "it, and fix any error it shows"}
            continue
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os.close(read_end)
            for descriptor in protocol_fds:
                os.close(descriptor)
            _in_child(question, request, write_end)
        os.close(write_end)
        data = _read_all(read_end, time.monotonic() + timeout_s)
        os.close(read_end)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        if data is None:
            result = {"score": 0, "output": f"the check took longer than {timeout_s:g} s"}
        else:
            try:
                result = json.loads(data)
                assert set(result) == {"score", "output"} and result["score"] in (0, 1)
            except (ValueError, AssertionError, TypeError):
                result = {"score": 0, "output": "the check's process reported nothing readable"}
        results[question["name"]] = result
    return results


def _echo(*arguments: object, **options: object) -> object:
    """A stand-in answer that runs a few tensor operations on its tensor arguments (the first
    operation under the check's recording modes imports much of PyTorch)."""
    import torch

    for argument in arguments:
        if isinstance(argument, torch.Tensor) and argument.dim():
            argument = argument.permute(*reversed(range(argument.dim()))).reshape(-1)
            argument = (argument @ argument + 0) * 1
    return arguments[0] if arguments else None


def _warm_up(module: types.ModuleType) -> None:
    """Run each check of ``module`` once on ``None`` answers (which it refuses), so that what
    PyTorch imports lazily is imported here, once, rather than in every forked check (where
    the audit hook would see it as the answer's doing)."""
    import inspect

    for name, check in vars(module).items():
        if not (name.startswith("check_") and callable(check)):
            continue
        count = sum(1 for parameter in inspect.signature(check).parameters.values()
                    if parameter.default is inspect.Parameter.empty
                    and parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for answer in (None, _echo):
            with contextlib.suppress(BaseException), contextlib.redirect_stdout(io.StringIO()):
                check(*[answer] * count)


def main(config: dict) -> None:
    """Serve requests (``config`` read by the grader's bootstrap; see the module)."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    quiet = os.open(os.devnull, os.O_RDWR)
    os.dup2(quiet, 1)
    import torch

    torch.set_num_threads(1)  # no thread pool for the forked checks to inherit
    import onebyone.exercises.answers
    import onebyone.exercises.grading  # noqa: F401

    for module in config["modules"]:
        if _MODULE.fullmatch(module):
            _warm_up(importlib.import_module(f"onebyone.exercises.{module}"))
    with contextlib.suppress(ImportError):
        import IPython.core.inputtransformer2  # noqa: F401
    _record_protected_types()
    from onebyone.exercises import forbidden

    _TRUSTED_FILES.add(forbidden.__file__)
    sys.dont_write_bytecode = True
    protocol.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        protocol.write(json.dumps(check_submission(request, (0, protocol.fileno()))) + "\n")
