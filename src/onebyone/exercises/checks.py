"""Generic comparisons that every exercise check is built from.

Why: a student's answer is wrong in many ways (wrong type, wrong shape, slightly wrong numbers),
and each deserves a message that says which, without giving the answer away.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable

import torch
from torch import nn

LINE_WIDTH = 78
"""Characters of output that fit the web book's text column at 1280 px."""


class ExerciseFailed(AssertionError):
    """A wrong answer to an exercise. The message is a hint for the student."""


def passed(exercise: str) -> None:
    """Print that the answer to ``exercise`` is right.

    It returns nothing on purpose: a notebook echoes the value of a cell's last expression, so a
    check that returned ``True`` showed a second output box, "True", under its "Correct" line.
    A wrong answer raises :class:`ExerciseFailed` instead, so a grader counts the checks that
    did not raise. The line is wrapped at :data:`LINE_WIDTH` characters, the width of the web
    book's output boxes at 1280 px, so that it never scrolls sideways.
    """
    print(textwrap.fill(f"Correct: {exercise}", width=LINE_WIDTH, subsequent_indent="  ",
                        break_long_words=False, break_on_hyphens=False))


def expect(condition: bool, hint: str) -> None:
    """Raise :class:`ExerciseFailed` with ``hint`` unless ``condition`` holds."""
    if not condition:
        raise ExerciseFailed(hint)


def exact_integer(value: object) -> int | None:
    """``value`` as an ``int`` if it is exactly a Python ``int`` (or a plain one-element integer
    ``torch.Tensor``), else ``None``.

    Why exactly: a subclass of ``int`` can redefine ``==`` to agree with anything, so an answer
    that is not an ``int`` itself is never compared; ``bool`` is refused the same way.
    """
    if type(value) is torch.Tensor and value.numel() == 1 and not value.is_floating_point() \
            and not value.is_complex() and value.dtype != torch.bool:
        value = value.item()
    return value if type(value) is int else None


def exact_number(value: object) -> float | int | None:
    """``value`` as a Python ``int`` or ``float`` read without running the answer's own code,
    else ``None``.

    Exactly an ``int`` or a ``float``, a plain one-element ``torch.Tensor``, or a subclass of
    ``float`` such as NumPy's ``float64``, whose stored value ``float.__float__`` reads (a
    subclass's own ``==`` or ``__float__`` is never called). Booleans are refused.
    """
    if type(value) is torch.Tensor and value.numel() == 1 and value.dtype != torch.bool \
            and not value.is_complex():
        value = value.item()
    if type(value) in (int, float):
        return value
    if isinstance(value, float):
        return float.__float__(value)
    return None


def scale_mistakes(expected: int) -> list[tuple[int, str]]:
    """The count ``expected`` written in thousands or millions (rounded any way), with a hint."""
    mistakes = []
    for factor, unit in ((1_000, "thousands"), (1_000_000, "millions")):
        if expected >= 10 * factor:
            hint = (f"that looks like the count in {unit}: give the number itself, every digit "
                    "of it, as an int")
            for candidate in {expected // factor, -(-expected // factor), round(expected / factor)}:
                mistakes.append((candidate, hint))
    return mistakes


FLOPS_NOT_MACS = "that is twice the MAC count: did you count FLOPs (two per multiply-accumulate)?"
"""The hint for a MAC count given in FLOPs."""
PER_PIXEL = "that is the count for one pixel: multiply by the output's height and width"
"""The hint for a MAC count of one output pixel."""


def expect_integer(
    value: object, expected: int, what: str, mistakes: Iterable[tuple[object, str]] = ()
) -> None:
    """Check that ``value`` is the integer ``expected``; ``what`` names the quantity and its unit.

    Only a Python ``int`` (or a plain one-element integer tensor) is compared: booleans, floats
    and subclasses of ``int`` are refused even when equal in value. A wrong count that equals
    one of ``mistakes``' values (a forgotten bias, FLOPs for MACs...) gets that mistake's hint,
    as does a count in thousands or millions; any other gets "recount it".
    """
    number = exact_integer(value)
    expect(number is not None, f"{what} should be a Python int, got {type(value).__name__}")
    if number == expected:
        return
    for candidate, hint in [*mistakes, *scale_mistakes(expected)]:
        if type(candidate) is int and candidate != expected and number == candidate:
            raise ExerciseFailed(f"{what} is {number:,}, which is not right: {hint}")
    raise ExerciseFailed(f"{what} is {number:,}, which is not right: recount it")


def expect_close(
    value: object, expected: float, what: str, rel_tol: float = 1e-6,
    mistakes: Iterable[tuple[float, str]] = (),
) -> None:
    """Check that the number ``value`` equals ``expected`` within a relative tolerance.

    A wrong value within ``rel_tol`` of one of ``mistakes``' values gets that mistake's hint.
    """
    number = exact_number(value)
    expect(number is not None, f"{what} should be a number, got {type(value).__name__}")
    if math.isclose(float(number), expected, rel_tol=rel_tol):
        return
    for candidate, hint in mistakes:
        if math.isclose(float(number), candidate, rel_tol=rel_tol):
            raise ExerciseFailed(hint)
    raise ExerciseFailed(f"{what} is {number}, which is not right (relative tolerance {rel_tol:g})")


def draw_parameters(generator: torch.Generator, *modules: nn.Module) -> None:
    """Fill each module's parameters (weight, then bias) with standard normal draws, in order.

    Why: an exercise's layers and the layers a check tries an answer on are drawn from a seed,
    so that the check does not depend on the reader's random state; one drawing keeps every
    check's layers reproducible in the same way.
    """
    with torch.no_grad():
        for module in modules:
            for parameter in module.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator))


def expect_plain_tensor(value: object, what: str) -> None:
    """Check that ``value`` is a plain ``torch.Tensor`` (or ``nn.Parameter``).

    Why: a subclass of ``Tensor`` can redefine ``torch.allclose`` (``__torch_function__``) and
    pass any comparison. Checks that explain a wrong value call this first, so that their
    explanation follows a real mismatch.
    """
    expect(isinstance(value, torch.Tensor),
           f"{what} should be a torch.Tensor, got {type(value).__name__}")
    expect(type(value) in (torch.Tensor, nn.Parameter),
           f"{what} should be a plain torch.Tensor, got the subclass {type(value).__name__}")


def expect_tensor_close(
    value: object, expected: torch.Tensor, what: str, rtol: float = 1e-5, atol: float = 1e-6
) -> None:
    """Check that ``value`` is a tensor of ``expected``'s shape and dtype whose entries match it.

    Only a plain ``torch.Tensor`` (or ``nn.Parameter``) is compared: a subclass could answer
    ``torch.allclose`` itself.

    Entries match when ``|value - expected| <= atol + rtol * |expected|`` (``torch.allclose``).
    A tensor in another dtype is refused with a hint naming both dtypes, not converted: a
    float64 answer to a float32 question hides a float64 tensor somewhere in the student's
    code. A tensor on another device is compared on ``expected``'s device; one on the ``meta``
    device has a shape but no values, and is refused.
    """
    expect_plain_tensor(value, what)
    expect(
        tuple(value.shape) == tuple(expected.shape),
        f"{what} has shape {tuple(value.shape)}, expected {tuple(expected.shape)}",
    )
    expect(
        value.dtype == expected.dtype,
        f"{what} has dtype {value.dtype}, expected {expected.dtype}: "
        f"make it with (or convert it to) {expected.dtype}",
    )
    expect(not value.is_meta, f"{what} is on the meta device: it has a shape but no values")
    value = value.detach().to(expected.device)
    if expected.numel():  # an empty tensor of the right shape is the right empty tensor
        worst = (value - expected).abs().max().item()
        expect(
            torch.allclose(value, expected, rtol=rtol, atol=atol),
            f"{what} has the right shape but wrong values (largest difference {worst:.3g})",
        )
