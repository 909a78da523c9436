"""The three number formats Chapter 5 times a 1x1 convolution in: float32, TF32 and bfloat16.

Why a module of its own: "float32" on a recent NVIDIA GPU is two different things. With TF32
allowed, cuBLAS and cuDNN round the inputs of every matrix product to a 10-bit mantissa and run
it on the tensor cores, several times faster than true float32. Whether that happens is a global
switch, so an experiment that compares precisions must set it, restore it, and record it.

- ``float32``: tensors in ``torch.float32``, TF32 forbidden (IEEE single precision).
- ``tf32``: tensors in ``torch.float32``, TF32 allowed for matrix products and convolutions.
  It exists only on CUDA devices (Ampere and later); on a CPU it is *skipped*, not timed.
- ``bfloat16``: tensors in ``torch.bfloat16`` (8-bit exponent, 7-bit mantissa); skipped on a
  GPU without native support for it (a T4, for instance) and on a CPU without bfloat16
  instructions (AVX512-BF16, AMX or Arm BF16), where PyTorch converts every number in software.

Beware of PyTorch's defaults: in torch 2.13 CUDA *matrix products* in float32 are IEEE
(``torch.backends.cuda.matmul.fp32_precision`` is ``"none"``, which means IEEE), but cuDNN
*convolutions* in float32 run TF32 (``torch.backends.cudnn.conv.fp32_precision`` is ``"tf32"``).
So "float32" means two different things for a matmul and a conv on the same GPU;
:func:`precision_settings` records both, as they are in force.

PyTorch 2.9 added a new switch (``fp32_precision``) and refuses a mix of the old and the new
one, so :func:`tf32_allowed` uses the new switch where it exists and the old one otherwise.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from onebyone.perf.machine import has_native_cpu_bfloat16

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


def element_bytes(precision: str) -> int:
    """Bytes per stored number in ``precision``: 4 for float32 and TF32 (TF32 is float32 in
    memory, only the arithmetic is narrower), 2 for bfloat16."""
    return torch.finfo(precision_dtype(precision)).bits // 8


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
    if precision == "bfloat16" and not cuda and not has_native_cpu_bfloat16():
        return ("this CPU has no bfloat16 instructions (AVX512-BF16, AMX-BF16 or Arm BF16); "
                "PyTorch would convert every number in software, far slower than float32")
    return ""


def _native_cuda_bfloat16() -> bool:
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # PyTorch before 2.3 has no including_emulation argument
        return torch.cuda.is_bf16_supported()


def _has_new_switch() -> bool:
    conv = getattr(torch.backends.cudnn, "conv", None)
    return hasattr(torch.backends.cuda.matmul, "fp32_precision") and hasattr(conv, "fp32_precision")


def _resolved(chain: list[str], legacy: bool) -> str:
    """The first setting of ``chain`` that is not ``"none"`` (inherit), else the legacy flag's."""
    for value in chain:
        if value != "none":
            return value
    return "tf32" if legacy else "ieee"


def precision_settings() -> dict[str, object]:
    """The float32 precision settings in force now, as a record of a measurement takes them.

    Why: the CUDA matmul flag and the cuDNN convolution flag are separate, and their defaults
    differ (IEEE for matmul, TF32 for convolutions), so a record that reads only one of them
    says "TF32 off" while cuDNN runs TF32. oneDNN (CPU) has a flag of its own as well.

    Returns:
        ``matmul_fp32_precision`` (cuBLAS), ``conv_fp32_precision`` (cuDNN) and
        ``mkldnn_fp32_precision`` (oneDNN on a CPU), each ``"ieee"``, ``"tf32"`` or ``"bf16"``
        with PyTorch's inheritance (``"none"``) resolved; and ``tf32_matmul`` /
        ``tf32_conv``, whether a CUDA float32 matrix product / convolution may use TF32.
    """
    backends = torch.backends
    if _has_new_switch():
        matmul = _resolved([backends.cuda.matmul.fp32_precision], legacy=False)
        conv = _resolved([backends.cudnn.conv.fp32_precision, backends.cudnn.fp32_precision,
                          backends.fp32_precision], legacy=False)
        mkldnn = _resolved([backends.mkldnn.conv.fp32_precision, backends.mkldnn.fp32_precision,
                            backends.fp32_precision], legacy=False)
    else:  # PyTorch before 2.9
        matmul = "tf32" if backends.cuda.matmul.allow_tf32 else "ieee"
        conv = "tf32" if backends.cudnn.allow_tf32 else "ieee"
        mkldnn = "ieee"
    return {
        "matmul_fp32_precision": matmul,
        "conv_fp32_precision": conv,
        "mkldnn_fp32_precision": mkldnn,
        "tf32_matmul": matmul == "tf32",
        "tf32_conv": conv == "tf32",
    }


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
