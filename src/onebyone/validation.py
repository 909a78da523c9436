"""Argument checks shared by the package's layers and cost functions.

Why: a channel count of 0, a negative height or ``True`` passed as a size would otherwise fail
deep inside PyTorch with a message about tensors, far from the mistake.
"""

from __future__ import annotations


def check_positive_integers(**values: object) -> None:
    """Raise ``ValueError`` naming the first argument that is not a positive integer.

    Booleans are refused although Python counts them as integers: ``True`` is never a size.

    Args:
        values: the arguments to check, by name (channels, pixels, counts).
    """
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
