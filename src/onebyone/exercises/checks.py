"""Generic comparisons that every exercise check is built from.

Why: a student's answer is wrong in many ways (wrong type, wrong shape, slightly wrong numbers),
and each deserves a message that says which, without giving the answer away.
"""

from __future__ import annotations

import math

import torch


class ExerciseFailed(AssertionError):
    """A wrong answer to an exercise. The message is a hint for the student."""


def passed(exercise: str) -> None:
    """Print that the answer to ``exercise`` is right.

    It returns nothing on purpose: a notebook echoes the value of a cell's last expression, so a
    check that returned ``True`` showed a second output box, "True", under its "Correct" line.
    A wrong answer raises :class:`ExerciseFailed` instead, so a grader counts the checks that
    did not raise.
    """
    print(f"Correct: {exercise}")


def expect(condition: bool, hint: str) -> None:
    """Raise :class:`ExerciseFailed` with ``hint`` unless ``condition`` holds."""
    if not condition:
        raise ExerciseFailed(hint)


def expect_integer(value: object, expected: int, what: str) -> None:
    """Check that ``value`` is the integer ``expected``; ``what`` names the quantity and its unit.

    Booleans and floats are refused even when equal in value: a count is an integer.
    """
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        value = value.item()
    expect(
        isinstance(value, int) and not isinstance(value, bool),
        f"{what} should be a Python int, got {type(value).__name__}",
    )
    expect(value == expected, f"{what} is {value:,}, which is not right: recount it")


def expect_close(value: object, expected: float, what: str, rel_tol: float = 1e-6) -> None:
    """Check that the number ``value`` equals ``expected`` within a relative tolerance."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    expect(isinstance(value, (int, float)),
           f"{what} should be a number, got {type(value).__name__}")
    expect(
        math.isclose(float(value), expected, rel_tol=rel_tol),
        f"{what} is {value}, which is not right (relative tolerance {rel_tol:g})",
    )


def expect_tensor_close(
    value: object, expected: torch.Tensor, what: str, rtol: float = 1e-5, atol: float = 1e-6
) -> None:
    """Check that ``value`` is a tensor of ``expected``'s shape and dtype whose entries match it.

    Entries match when ``|value - expected| <= atol + rtol * |expected|`` (``torch.allclose``).
    A tensor in another dtype is refused with a hint naming both dtypes, not converted: a
    float64 answer to a float32 question hides a float64 tensor somewhere in the student's
    code. A tensor on another device is compared on ``expected``'s device; one on the ``meta``
    device has a shape but no values, and is refused.
    """
    expect(isinstance(value, torch.Tensor),
           f"{what} should be a torch.Tensor, got {type(value).__name__}")
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
