"""Record which PyTorch operations a student's function calls, to enforce "do not call X".

Why: an exercise that says "write a 1x1 convolution with a matrix product, without conv2d or
einsum" is only graded fairly if calling ``conv2d`` or ``einsum`` fails the check. Reading the
source would miss ``getattr(F, "conv" + "2d")`` or a call through ``nn.Conv2d``; recording the
operations while the function runs does not. Two layers record:

- a :class:`~torch.overrides.TorchFunctionMode` sees every public ``torch`` function as called
  (``torch.einsum``, ``F.conv2d``, ``torch.conv2d``), before any decomposition;
- a :class:`~torch.utils._python_dispatch.TorchDispatchMode` sees the ATen operators that run
  (``aten.convolution``), so that a path around the public functions is caught too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

CONVOLUTION_AND_EINSUM = ("conv", "einsum")
"""Name fragments of the operations the matrix-product exercise forbids: every convolution
(``conv1d``, ``conv2d``, ``convolution``, ``_convolution``, ``conv_transpose``...) and einsum."""


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


__all__ = ["CONVOLUTION_AND_EINSUM", "forbidden_calls", "recorded_calls"]
