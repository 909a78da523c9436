"""Refuse the helpers an exercise forbids ("without the package's ``pointwise`` module", "do not
call ``conv2d``") while a student's answer runs, and name those it used.

Why: an exercise that says "write a 1x1 convolution with a matrix product, without conv2d or
einsum" is only graded fairly if calling ``conv2d``, ``einsum`` or the package's own solution
fails the check. Reading the source would miss ``getattr(F, "conv" + "2d")``, an alias imported
long before (``from onebyone.pointwise import pointwise_as_matmul as mine``) or a call through
``nn.Conv2d``; watching the answer run does not. :func:`refusing` watches in four ways at once,
so that switching one off does not hide a forbidden call:

- the functions and methods of the forbidden ``onebyone`` modules have their code replaced, for
  the duration, by a stand-in that raises :class:`ForbiddenCall`; the function *objects* stay,
  so every alias made earlier is caught as well;
- a profile hook (:func:`sys.setprofile`) records every Python frame that runs code of those
  modules (also code saved before the replacement) and every call of a built-in function, so
  that ``torch.conv2d``, ``torch.einsum`` and ``torch._C._nn.linear`` are seen by name even where
  the answer switched PyTorch's dispatch modes off; a call of ``sys.setprofile`` or
  ``sys.settrace`` itself (switching the hook off) is recorded as forbidden;
- a :class:`~torch.overrides.TorchFunctionMode` sees every public ``torch`` function as called;
- a :class:`~torch.utils._python_dispatch.TorchDispatchMode` sees the ATen operators that run
  (``aten.convolution``), so that a path around the public functions is caught too.

:data:`ANSWER_RULES` says what each exercise forbids, so that a grader can also run the cells
that *make* an answer (a tensor or a number the check only sees by value) under :func:`refusing`.
This is no sandbox: a determined student can still hide a call (a thread of its own, ctypes),
which is why a grader also reads code.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from onebyone.exercises.checks import ExerciseFailed

CONVOLUTION_AND_EINSUM = ("conv", "einsum")
"""Name fragments of the operations the matrix-product exercise forbids: every convolution
(``conv1d``, ``conv2d``, ``convolution``, ``_convolution``, ``conv_transpose``...) and einsum."""

PACKAGE = "onebyone"
"""A rule naming this module forbids the whole package except :mod:`onebyone.exercises`."""

_EXERCISES = "onebyone.exercises"
_CO_OPTIMIZED = 0x1  # inspect.CO_OPTIMIZED: the frame of a function, not of a module or class
_SWITCHES = ("setprofile", "settrace")
"""Built-ins whose call would switch the profile hook off: calling them is recorded."""


class ForbiddenCall(Exception):
    """Raised by a stand-in when an answer calls a function of a forbidden module."""


@dataclass(frozen=True)
class Rule:
    """What an answer may not use while it runs.

    Attributes:
        modules: names of ``onebyone`` modules (each with its submodules) whose code may not run;
            :data:`PACKAGE` stands for the whole package except :mod:`onebyone.exercises`.
        operations: name fragments (case-insensitive) of PyTorch operations that may not run,
            such as ``"conv"`` for ``F.conv2d``, ``nn.Conv2d`` and ``aten.convolution``.
        hint: what the student should do instead, for the check's message.
    """

    modules: tuple[str, ...] = ()
    operations: tuple[str, ...] = ()
    hint: str = ""


ANSWER_RULES: dict[str, Rule] = {
    "chapter1.check_conv_to_linear": Rule(
        modules=("onebyone.pointwise",),
        hint="build the nn.Linear yourself, without the package's pointwise module"),
    "chapter1.check_pointwise_function": Rule(
        modules=(PACKAGE,), operations=(*CONVOLUTION_AND_EINSUM, "linear"),
        hint="write it with a matrix product (@) and reshapes, without any convolution, "
             "einsum, F.linear or the package"),
    "chapter2.check_bottleneck_macs_function": Rule(
        modules=("onebyone.bottleneck", "onebyone.cost"),
        hint="write the formula yourself, without the package's bottleneck and cost modules"),
    "chapter3.check_collapsed_conv": Rule(
        modules=("onebyone.composition",),
        hint="set the weight and bias yourself, without the package's composition module"),
    "chapter3.check_mlpconv_block": Rule(
        modules=("onebyone.nin",),
        hint="build it from nn.Conv2d and nn.ReLU, without the package's nin module"),
    "chapter4.check_inception_block": Rule(
        modules=("onebyone.inception",),
        hint="build the branches yourself from nn.Conv2d, nn.ReLU and nn.MaxPool2d, without "
             "the package's inception module"),
    "chapter6.check_folded_parameters": Rule(
        modules=("onebyone.batchnorm_fold",),
        hint="compute them from the layers' tensors, without fold_batchnorm"),
}
"""What each check's exercise forbids, by ``"chapterN.check_name"``. The checks that run a
student's function or module apply their rule themselves; for an answer the check sees only by
value (Chapter 6's tensors, Chapter 3's module), a grader runs the cells that make it under
``refusing(ANSWER_RULES[...])``."""


def _in_modules(module_name: object, modules: Iterable[str]) -> bool:
    if not isinstance(module_name, str):
        return False
    for name in modules:
        if name == PACKAGE:
            inside = module_name == PACKAGE or module_name.startswith(PACKAGE + ".")
            exempt = module_name == _EXERCISES or module_name.startswith(_EXERCISES + ".")
            if inside and not exempt:
                return True
        elif module_name == name or module_name.startswith(name + "."):
            return True
    return False


def _matches(name: str, fragments: Iterable[str]) -> bool:
    return any(fragment.lower() in name.lower() for fragment in fragments)


def _functions_of(modules: tuple[str, ...]) -> list[types.FunctionType]:
    """The functions and methods defined in the loaded modules that ``modules`` names."""
    found: dict[int, types.FunctionType] = {}

    def add(candidate: object, owner: dict) -> None:
        if isinstance(candidate, (staticmethod, classmethod)):
            candidate = candidate.__func__
        if isinstance(candidate, property):
            for accessor in (candidate.fget, candidate.fset, candidate.fdel):
                add(accessor, owner)
            return
        wrapped = getattr(candidate, "__wrapped__", None)  # functools.wraps, lru_cache...
        if wrapped is not None and wrapped is not candidate:
            add(wrapped, owner)
        # defined in the module itself: a decorator's wrapper (contextlib's ``helper``) shares
        # its code with every function so decorated, everywhere, and is left alone
        if isinstance(candidate, types.FunctionType) and candidate.__globals__ is owner:
            found[id(candidate)] = candidate

    for module_name, module in list(sys.modules.items()):
        if module is None or not _in_modules(module_name, modules):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, type) and value.__module__ == module_name:
                for member in list(vars(value).values()):
                    add(member, vars(module))
            else:
                add(value, vars(module))
    return list(found.values())


def _stand_in_code(function: types.FunctionType) -> types.CodeType:
    """Code that raises :class:`ForbiddenCall`, with as many free variables as ``function``'s."""
    code = function.__code__
    name = f"{function.__module__}.{code.co_qualname}"
    free = [f"_free{index}" for index in range(len(code.co_freevars))]
    lines = ["def _outer():"]
    lines += [f"    {variable} = None" for variable in free]
    lines += ["    def stand_in(*args, **kwargs):",
              "        raise __import__('onebyone.exercises.forbidden').exercises.forbidden."
              f"ForbiddenCall({name!r} + ' is not allowed in this exercise')"]
    lines += [f"        {variable}" for variable in free]  # unreachable, but makes them free
    lines += ["    return stand_in"]
    namespace: dict[str, object] = {}
    exec(compile("\n".join(lines), code.co_filename, "exec"), namespace)
    stand_in = namespace["_outer"]()  # type: ignore[operator]
    return stand_in.__code__.replace(co_name=code.co_name, co_qualname=code.co_qualname)


class _FunctionRecorder(TorchFunctionMode):
    def __init__(self, calls: list[str]) -> None:
        super().__init__()
        self.calls = calls

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls.append(getattr(func, "__name__", str(func)))
        return func(*args, **(kwargs or {}))


class _DispatchRecorder(TorchDispatchMode):
    def __init__(self, calls: list[str]) -> None:
        super().__init__()
        self.calls = calls

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


@dataclass
class Watch:
    """What :func:`refusing` saw: ``used`` names each forbidden call once, in the order made."""

    rule: Rule
    used: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # every PyTorch operation, by name

    def _use(self, name: str) -> None:
        if name not in self.used:
            self.used.append(name)

    def _profile(self, frame: types.FrameType, event: str, arg: object) -> None:
        if event == "call" and frame.f_code.co_flags & _CO_OPTIMIZED:  # a function's frame
            code = frame.f_code  # (a module's or class's body runs on import: not a call)
            module = frame.f_globals.get("__name__")
            if code in self._originals or _in_modules(module, self.rule.modules):
                self._use(f"{module}.{code.co_qualname}")
            elif self.rule.operations:
                if module == "torch._ops" and code.co_name == "__call__":  # torch.ops.aten.*
                    name = str(frame.f_locals.get("self", ""))
                elif module in ("torch.functional", "torch.nn.functional") or (
                        str(module).startswith("torch.nn.modules.") and code.co_name == "forward"):
                    name = code.co_qualname  # torch.einsum, nn.Conv2d.forward, F.conv_tbc...
                else:
                    return
                if _matches(name, self.rule.operations):
                    self._use(name)
        elif event == "c_call" and not self._closing:
            name = getattr(arg, "__name__", "") or ""
            if name in _SWITCHES:
                self._use(f"sys.{name} (it would switch the check's recorder off)")
            elif _in_modules(getattr(arg, "__module__", None), self.rule.modules):
                self._use(f"{arg.__module__}.{name}")
            elif self.rule.operations and _matches(name, self.rule.operations):
                self._use(name)

    _originals: frozenset = frozenset()
    _closing: bool = False


_warm = False


def _import_lazily_loaded_parts() -> None:
    """Run the recorders once, unwatched: PyTorch imports parts of itself (a second or two)
    the first time a mode is entered, and under the profile hook that import takes longer."""
    global _warm
    if not _warm:
        with _FunctionRecorder([]), _DispatchRecorder([]):
            torch.zeros(1).add(1)
        _warm = True


@contextlib.contextmanager
def refusing(rule: Rule) -> Iterator[Watch]:
    """Within the ``with`` block, refuse and record what ``rule`` forbids.

    The functions of ``rule.modules`` raise :class:`ForbiddenCall`; everything forbidden that
    runs (also what the block caught and went on from) is named in the yielded
    :class:`Watch`'s ``used``. Everything is restored on the way out, whatever happened.
    """
    _import_lazily_loaded_parts()
    watch = Watch(rule)
    functions = _functions_of(rule.modules)
    originals = [(function, function.__code__) for function in functions]
    watch._originals = frozenset(code for _, code in originals)
    stand_ins = [_stand_in_code(function) for function in functions]
    previous_profile = sys.getprofile()
    previous_thread_profile = threading.getprofile()
    try:
        for function, stand_in in zip(functions, stand_ins, strict=True):
            function.__code__ = stand_in
        if previous_profile is None or callable(previous_profile):  # not a C profiler's
            threading.setprofile(watch._profile)
            sys.setprofile(watch._profile)
        with _FunctionRecorder(watch.calls), _DispatchRecorder(watch.calls):
            yield watch
    finally:
        watch._closing = True
        hook = sys.getprofile()
        if previous_profile is None or callable(previous_profile):
            sys.setprofile(previous_profile)
            threading.setprofile(previous_thread_profile)
        if hook != watch._profile and hook is not previous_profile:
            watch._use("sys.setprofile (the check's recorder was switched off)")
        for (function, code), stand_in in zip(originals, stand_ins, strict=True):
            if function.__code__ is not stand_in:
                watch._use(f"{function.__module__}.{code.co_qualname} (restored by the answer)")
            function.__code__ = code
        for name in forbidden_calls(watch.calls, rule.operations) if rule.operations else ():
            watch._use(name)


@dataclass
class Outcome:
    """A call made under :func:`refusing`: its ``result`` or the ``error`` it raised, and the
    forbidden calls it made (``used``)."""

    result: object
    error: BaseException | None
    used: list[str]


def run_refusing(rule: Rule, function: Callable, *args: object) -> Outcome:
    """Run ``function(*args)`` under :func:`refusing` ``rule``; never raises an ``Exception``
    of the answer's (it is returned in ``error``)."""
    result, error = None, None
    with refusing(rule) as watch:
        try:
            result = function(*args)
        except Exception as raised:  # a student's bug (or a refused call): the check reports it
            error = raised
    return Outcome(result, error, watch.used)


def call_answer(rule: Rule, what: str, function: Callable, *args: object) -> object:
    """``function(*args)``, a student's code, run under :func:`refusing` ``rule``.

    Raises:
        ExerciseFailed: the answer used something ``rule`` forbids (the hint names it, and
            says what to do instead), or raised an exception (the hint names it); ``what``
            names the call in the hint, as ``"mlpconv(3, 8, 4, 5)"``.
    """
    outcome = run_refusing(rule, function, *args)
    if outcome.used:
        raise ExerciseFailed(f"{what} called {', '.join(outcome.used)}: {rule.hint}")
    if outcome.error is not None:
        error = outcome.error
        raise ExerciseFailed(f"{what} raised {type(error).__name__}: {error}")
    return outcome.result


def recorded_calls(function: Callable, *args: object) -> tuple[object, list[str]]:
    """Run ``function(*args)`` and return its result and the names of the operations it ran.

    The names are those of the public ``torch`` functions called and of the ATen operators
    dispatched, in the order they ran (``["matmul", "mm", ...]``).
    """
    calls: list[str] = []
    with _FunctionRecorder(calls), _DispatchRecorder(calls):
        result = function(*args)
    return result, calls


def forbidden_calls(
    calls: Iterable[str], fragments: Iterable[str] = CONVOLUTION_AND_EINSUM
) -> list[str]:
    """The calls whose name contains one of ``fragments`` (case-insensitive), each once."""
    fragments = [fragment.lower() for fragment in fragments]
    found: list[str] = []
    for call in calls:
        if any(fragment in call.lower() for fragment in fragments) and call not in found:
            found.append(call)
    return found


__all__ = [
    "ANSWER_RULES",
    "CONVOLUTION_AND_EINSUM",
    "PACKAGE",
    "ForbiddenCall",
    "Outcome",
    "Rule",
    "Watch",
    "call_answer",
    "forbidden_calls",
    "recorded_calls",
    "refusing",
    "run_refusing",
]
