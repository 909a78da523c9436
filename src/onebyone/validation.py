"""Argument checks shared by every public function and layer of the package.

Why: a channel count of 0, a negative height or ``True`` passed as a size would otherwise fail
deep inside PyTorch with a message about tensors, far from the mistake, or worse, return a
meaningless number. Each check here parses one argument at the edge of a public function into a
plain Python value (an ``int``, a pair of ints, a ``float``) and returns it, so the function
body works with typed values only.

Every error names the argument, shows the value (its ``repr``) and says what was expected:

- ``TypeError`` when the value has the wrong type (``4.0`` or ``"4"`` for a channel count,
  ``True`` for a size, a tensor where a module is expected);
- ``ValueError`` when the type is right but the value is not (``0`` channels, an even kernel
  where an odd one is needed, a probability of ``1.5``, an input of the wrong shape).

Integer counts accept ``int`` and NumPy integers (anything ``operator.index`` accepts) but never
``bool``: ``True`` is never a size. Every integer must fit in a signed 64-bit integer
(:data:`MAX_INTEGER`), the type PyTorch stores sizes in, so ``10**30`` channels is refused here by
name rather than by PyTorch's "Overflow when unpacking long long"; a seed must also be below
``2**32`` (:data:`MAX_SEED`), the range of NumPy's and scikit-learn's generators.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

MAX_INTEGER = 2**63 - 1
"""The largest integer any argument may be: PyTorch holds sizes, counts and seeds in int64."""

MAX_SEED = 2**32 - 1
"""The largest seed: NumPy's legacy generator and scikit-learn's ``random_state`` take 32 bits."""

MAX_THREADS = 2**31 - 1
"""The largest thread count: ``torch.set_num_threads`` takes a C ``int``."""


def integer(name: str, value: object) -> int:
    """``value`` as a plain ``int``; ``TypeError`` unless it is an integer (bools refused).

    Args:
        name: the argument's name, for the message.
        value: an ``int`` or a NumPy integer.

    Raises:
        TypeError: not an integer, or a bool.
        ValueError: beyond a signed 64-bit integer (``abs(value) > MAX_INTEGER``).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    number = operator.index(value)
    if abs(number) > MAX_INTEGER:
        raise ValueError(f"{name} must fit in a 64-bit integer (at most 2**63 - 1), "
                         f"got {value!r}")
    return number


def positive_integer(name: str, value: object) -> int:
    """``value`` as an ``int`` of at least 1 (a count of channels, pixels, images...).

    Raises:
        TypeError: ``value`` is not an integer (or is a bool).
        ValueError: ``value`` is 0 or negative.
    """
    number = integer(name, value)
    if number < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return number


def non_negative_integer(name: str, value: object) -> int:
    """``value`` as an ``int`` of at least 0 (a padding, a seed...).

    Raises:
        TypeError: ``value`` is not an integer (or is a bool).
        ValueError: ``value`` is negative.
    """
    number = integer(name, value)
    if number < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return number


def at_most(name: str, number: int, maximum: int, why: str) -> int:
    """``number`` itself if it is at most ``maximum``; ``ValueError`` naming ``why`` otherwise.

    Args:
        name: the argument's name, for the message.
        number: an integer already checked (by :func:`positive_integer` or the like).
        maximum: the largest value allowed.
        why: what sets the bound, in words, for the message.
    """
    if number > maximum:
        raise ValueError(f"{name} must be at most {maximum:,} ({why}), got {number!r}")
    return number


def seed(name: str, value: object) -> int:
    """``value`` as an ``int`` seed in ``[0, MAX_SEED]``.

    Why: one range for every seed of the package, whichever generator it reaches (PyTorch's
    takes 64 bits, NumPy's and scikit-learn's only 32), so a seed that works for one function
    works for all.

    Raises:
        TypeError: not an integer (or a bool).
        ValueError: negative, or above :data:`MAX_SEED` (``2**32 - 1``).
    """
    return at_most(name, non_negative_integer(name, value), MAX_SEED,
                   "NumPy and scikit-learn take 32-bit seeds")


def threads(name: str, value: object) -> int:
    """``value`` as a positive ``int`` thread count, at most :data:`MAX_THREADS`.

    Raises:
        TypeError: not an integer (or a bool).
        ValueError: below 1, or above ``2**31 - 1`` (``torch.set_num_threads`` takes a C int).
    """
    return at_most(name, positive_integer(name, value), MAX_THREADS,
                   "torch.set_num_threads takes a 32-bit int")


def check_positive_integers(**values: object) -> tuple[int, ...]:
    """:func:`positive_integer` for each keyword argument; the values as ints, in order.

    Raises:
        TypeError, ValueError: for the first argument that is not a positive integer.
    """
    return tuple(positive_integer(name, value) for name, value in values.items())


def integer_pair(name: str, value: object, minimum: int = 1) -> tuple[int, int]:
    """``value`` (an integer, or a pair of integers) as ``(height, width)``, each ``>= minimum``.

    Why: ``nn.Conv2d`` takes a kernel, stride, padding or dilation either as one integer for
    both axes or as a pair; this is the one place that reads both forms.

    Raises:
        TypeError: ``value`` is neither an integer nor a sequence of integers.
        ValueError: a pair of the wrong length, or a number below ``minimum``.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        pair: tuple[object, ...] = (value, value)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        pair = tuple(value)
        if len(pair) != 2:
            raise ValueError(f"{name} must be an integer or a pair of ints, got {value!r}")
    else:
        raise TypeError(f"{name} must be an integer or a pair of ints, got {value!r}")
    numbers_ = tuple(integer(name, item) for item in pair)
    if min(numbers_) < minimum:
        raise ValueError(f"{name} must be at least {minimum} on each axis, got {value!r}")
    return numbers_[0], numbers_[1]


def boolean(name: str, value: object) -> bool:
    """``value`` as a ``bool``; ``TypeError`` for anything else (``'no'`` is not ``False``)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def real_number(name: str, value: object) -> float:
    """``value`` as a finite ``float``; ``TypeError`` for a non-number or a bool.

    Raises:
        TypeError: not a real number (strings, ``None``, bools).
        ValueError: ``nan`` or an infinity.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def positive_number(name: str, value: object) -> float:
    """``value`` as a finite ``float`` above 0 (a time in seconds, a rate, a tolerance).

    Raises:
        TypeError: not a real number.
        ValueError: ``nan``, an infinity, 0 or negative.
    """
    number = real_number(name, value)
    if number <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return number


def probability(name: str, value: object, include_one: bool = False) -> float:
    """``value`` as a ``float`` in ``[0, 1)`` (or ``[0, 1]`` with ``include_one``).

    Why: a dropout probability of 1 zeroes every unit, so layers refuse it; a fraction of a
    data set may be 1.

    Raises:
        TypeError: not a real number.
        ValueError: outside the interval, or ``nan``.
    """
    number = real_number(name, value)
    if not (0.0 <= number <= 1.0 if include_one else 0.0 <= number < 1.0):
        interval = "[0, 1]" if include_one else "[0, 1)"
        raise ValueError(f"{name} must be a probability in {interval}, got {value!r}")
    return number


def odd_kernel(name: str, value: object) -> int:
    """``value`` as a positive odd ``int``: a kernel side that "same" padding ``k // 2`` keeps.

    Raises:
        TypeError: not an integer.
        ValueError: 0, negative or even.
    """
    number = positive_integer(name, value)
    if number % 2 == 0:
        raise ValueError(f"{name} must be odd to keep the image size, got {value!r}")
    return number


def module(name: str, value: object, types: type | tuple[type, ...] = nn.Module) -> nn.Module:
    """``value`` itself, if it is an instance of ``types``; ``TypeError`` naming them otherwise."""
    if not isinstance(value, types):
        wanted = types if isinstance(types, tuple) else (types,)
        names = " or ".join(t.__name__ for t in wanted)
        raise TypeError(
            f"{name} must be an instance of {names}, got {type(value).__name__}: {value!r:.80}"
        )
    return value


def items(name: str, value: object, types: type | tuple[type, ...] | None = None) -> list:
    """``value`` (a list, tuple or other iterable, not a string) as a list; each item checked.

    Args:
        name: the argument's name, for the message.
        value: the iterable.
        types: the type (or types) every item must be an instance of; ``None`` for any.

    Raises:
        TypeError: ``value`` is not iterable, is a string or a tensor, or holds an item of
            another type.
    """
    if isinstance(value, (str, bytes, torch.Tensor)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a list, got {type(value).__name__}: {value!r:.80}")
    listed = list(value)
    if types is not None:
        for index, item in enumerate(listed):
            module(f"{name}[{index}]", item, types)
    return listed


def tensor(name: str, value: object) -> torch.Tensor:
    """``value`` itself, if it is a ``torch.Tensor``; ``TypeError`` otherwise."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}: {value!r:.80}")
    return value


def dtype(name: str, value: object) -> torch.dtype:
    """``value`` itself, if it is a ``torch.dtype`` (``torch.float32``, not ``"float32"``)."""
    if not isinstance(value, torch.dtype):
        raise TypeError(f"{name} must be a torch.dtype such as torch.float32, got "
                        f"{type(value).__name__}: {value!r:.80}")
    return value


def device(name: str, value: object) -> torch.device:
    """``value`` (a ``torch.device`` or a string such as ``"cpu"``, ``"cuda:1"``) as a device.

    Raises:
        TypeError: neither a ``torch.device`` nor a string.
        ValueError: a string that names no device type PyTorch knows (``"gpu"``).
    """
    if not isinstance(value, (torch.device, str)):
        raise TypeError(f"{name} must be a torch.device or a string such as 'cpu', got "
                        f"{type(value).__name__}: {value!r:.80}")
    try:
        return torch.device(value)
    except RuntimeError as error:
        raise ValueError(f"{name} must name a device such as 'cpu' or 'cuda:0', got "
                         f"{value!r}") from error


def shape(name: str, value: object, dims: int | None = None) -> tuple[int, ...]:
    """``value`` (a sequence of sizes, e.g. ``(N, C, H, W)``) as a tuple of positive ints.

    Args:
        name: the argument's name, for the message.
        value: a tuple, list or ``torch.Size``.
        dims: the number of sizes required, or ``None`` for any number.

    Raises:
        TypeError: not a sequence, or a size that is not an integer.
        ValueError: the wrong number of sizes, or a size below 1.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a tuple of sizes, got {value!r}")
    sizes = tuple(value)
    if dims is not None and len(sizes) != dims:
        raise ValueError(f"{name} must have {dims} sizes, got {value!r}")
    if not sizes:
        raise ValueError(f"{name} must have at least one size, got {value!r}")
    return tuple(positive_integer(f"{name}[{index}]", size) for index, size in enumerate(sizes))


def _format_shape(sizes: Sequence[object]) -> str:
    return " x ".join(str(size) for size in sizes)


def tensor_shape(name: str, x: object, expected: Sequence[int | str], owner: str = "") -> None:
    """Raise unless ``x`` is a tensor of the ``expected`` shape; the message shows both shapes.

    Why: a layer's forward should say "x must be N x 192 x H x W, got 1 x 3 x 28 x 28", not let
    the first convolution report a weight mismatch. It costs one comparison per forward.

    Args:
        name: the argument's name, for the message.
        x: the tensor.
        expected: one entry per axis: an ``int`` that the size must equal, or a letter
            (``"N"``, ``"H"``...) for a size that may be anything. A leading ``"..."`` allows
            any number of leading axes (``("...", 512)`` for ``... x 512``).
        owner: the layer or function, put in front of the message.

    Raises:
        TypeError: ``x`` is not a tensor.
        ValueError: the number of axes or a fixed size differs.
    """
    tensor(name, x)
    actual = tuple(x.shape)  # type: ignore[union-attr]
    fixed = list(expected)
    leading = bool(fixed) and fixed[0] == "..."
    if leading:
        fixed = fixed[1:]
        ok = len(actual) >= max(len(fixed), 1) and len(actual) >= len(fixed)
        tail = actual[len(actual) - len(fixed) :] if fixed else ()
    else:
        ok = len(actual) == len(fixed)
        tail = actual
    ok = ok and all(
        not isinstance(want, int) or have == want for want, have in zip(fixed, tail, strict=False)
    )
    if not ok:
        prefix = f"{owner}: " if owner else ""
        raise ValueError(
            f"{prefix}{name} must be {_format_shape(expected)}, "
            f"got {_format_shape(actual) or 'a 0-D tensor'}"
        )
