"""The three number formats Chapter 5 times a 1x1 convolution in: float32, TF32 and bfloat16.

Why a module of its own: "float32" on a recent NVIDIA GPU is two different things. With TF32
allowed, cuBLAS and cuDNN round the inputs of every matrix product to a 10-bit mantissa and run
it on the tensor cores, several times faster than true float32. Whether that happens is a global
switch, so an experiment that compares precisions must set it, restore it, and record it.

- ``float32``: tensors in ``torch.float32``, TF32 forbidden (IEEE single precision).
- ``tf32``: tensors in ``torch.float32``, TF32 allowed for matrix products and convolutions.
  It exists only on CUDA devices (Ampere and later); on a CPU it is *skipped*, not timed.
- ``bfloat16``: tensors in ``torch.bfloat16`` (8-bit exponent, 7-bit mantissa); skipped on a
  GPU without native support for it (a T4, for instance).

PyTorch 2.9 added a new switch (``fp32_precision``) and refuses a mix of the old and the new
one, so :func:`tf32_allowed` uses the new switch where it exists and the old one otherwise.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

PRECISIONS: tuple[str, ...] = ("float32", "tf32", "bfloat16")


def precision_dtype(precision: str) -> torch.dtype:
    """The tensor dtype a precision stores its numbers in.

    Args:
        precision: one of :data:`PRECISIONS`.

    Returns:
        ``torch.float32`` for ``float32`` and ``tf32`` (TF32 changes the arithmetic, not the
        storage), ``torch.bfloat16`` for ``bfloat16``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    return torch.bfloat16 if precision == "bfloat16" else torch.float32


def skip_reason(precision: str, device: torch.device | str) -> str:
    """Why ``precision`` cannot be timed on ``device``, or ``""`` when it can.

    Why: an experiment must say which rows it skipped and why, instead of timing plain
    float32 twice and calling one of them TF32.

    Args:
        precision: one of :data:`PRECISIONS`.
        device: where the timing would run.
    """
    precision_dtype(precision)  # validates the name
    cuda = torch.device(device).type == "cuda"
    if precision == "tf32" and not cuda:
        return "TF32 is a CUDA tensor-core mode; on this device it would be plain float32"
    if precision == "bfloat16" and cuda and not _native_cuda_bfloat16():
        return "this GPU has no native bfloat16 (before Ampere); PyTorch would emulate it"
    return ""


def _native_cuda_bfloat16() -> bool:
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # PyTorch before 2.3 has no including_emulation argument
        return torch.cuda.is_bf16_supported()


def _has_new_switch() -> bool:
    conv = getattr(torch.backends.cudnn, "conv", None)
    return hasattr(torch.backends.cuda.matmul, "fp32_precision") and hasattr(conv, "fp32_precision")


def tf32_is_allowed() -> bool:
    """Whether CUDA matrix products (cuBLAS) may currently use TF32."""
    if _has_new_switch():
        return torch.backends.cuda.matmul.fp32_precision == "tf32"
    return bool(torch.backends.cuda.matmul.allow_tf32)


@contextlib.contextmanager
def tf32_allowed(allowed: bool) -> Iterator[None]:
    """Allow (or forbid) TF32 in CUDA matrix products and cuDNN convolutions, then restore.

    Why: the switch is global and sticky; a timing that leaves it on would silently change
    every float32 result measured after it.

    Args:
        allowed: ``True`` for TF32, ``False`` for IEEE float32.
    """
    if _has_new_switch():
        matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
        before = (matmul.fp32_precision, conv.fp32_precision)
        value = "tf32" if allowed else "ieee"
        matmul.fp32_precision, conv.fp32_precision = value, value
        try:
            yield
        finally:
            matmul.fp32_precision, conv.fp32_precision = before
    else:  # PyTorch before 2.9
        before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        torch.backends.cuda.matmul.allow_tf32 = allowed
        torch.backends.cudnn.allow_tf32 = allowed
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
