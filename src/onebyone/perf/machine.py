"""What a measurement ran on: the processor, its instruction sets and clock, and the run itself.

Why: a rate means nothing without the machine behind it. The same PyTorch call dispatches to a
different kernel on a CPU with AVX-512 than on one with only AVX2, and bfloat16 is fast only
where the CPU has bfloat16 instructions. So every row of Chapter 5's results carries the
processor's model, its vector instruction sets, its clock where the system reports one, and
the date, software versions and command line of the run (:func:`run_metadata`).

No side effects on import: ``/proc/cpuinfo`` is read when a function is called.
"""

from __future__ import annotations

import contextlib
import datetime
import platform
from collections.abc import Iterable, Sequence

import torch

from onebyone import validation

# /proc/cpuinfo flag -> the name the vendors use, in the order the chapter prints them.
ISA_FLAGS: dict[str, str] = {
    "avx2": "AVX2",
    "fma": "FMA",
    "avx512f": "AVX-512",
    "avx512_bf16": "AVX512-BF16",
    "avx512_fp16": "AVX512-FP16",
    "amx_bf16": "AMX-BF16",
    "amx_tile": "AMX",
    "asimd": "NEON",
    "sve": "SVE",
    "bf16": "ARM-BF16",
}

# Flags that mean "this CPU multiplies bfloat16 numbers in hardware".
NATIVE_BFLOAT16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def _cpuinfo_lines() -> list[str]:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            return cpuinfo.read().splitlines()
    return []


def _cpuinfo_field(names: Iterable[str], lines: Sequence[str] | None = None) -> str:
    """The value of the first ``name : value`` line whose name is one of ``names``."""
    wanted = set(names)
    for line in _cpuinfo_lines() if lines is None else lines:
        name, _, value = line.partition(":")
        if name.strip() in wanted:
            return value.strip()
    return ""


def cpu_flags(lines: Sequence[str] | None = None) -> frozenset[str]:
    """The CPU's feature flags (x86 ``flags``, Arm ``Features``) from ``/proc/cpuinfo``.

    Args:
        lines: the file's lines, for tests; default: read ``/proc/cpuinfo`` (empty set when the
            system has none, e.g. macOS).
    """
    return frozenset(_cpuinfo_field(("flags", "Features"), lines).split())


def isa_summary(flags: Iterable[str]) -> str:
    """The vector instruction sets among ``flags`` in vendors' names: ``"AVX2 FMA AVX-512"``."""
    present = set(flags)
    return " ".join(name for flag, name in ISA_FLAGS.items() if flag in present)


def has_native_cpu_bfloat16(flags: Iterable[str] | None = None) -> bool:
    """Whether the CPU has bfloat16 arithmetic instructions (AVX512-BF16, AMX-BF16, Arm BF16).

    Why: without them PyTorch converts every bfloat16 number to float32 and back in software,
    and a bfloat16 kernel runs many times *slower* than float32 (about 100x was measured).

    Args:
        flags: CPU flags (:func:`cpu_flags`); default: this machine's. When the system does not
            report flags at all, PyTorch's own oneDNN check decides.
    """
    flags = cpu_flags() if flags is None else frozenset(flags)
    if flags:
        return bool(flags & NATIVE_BFLOAT16_FLAGS)
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def cpu_clock_mhz(lines: Sequence[str] | None = None) -> float | None:
    """The clock ``/proc/cpuinfo`` reports for the first core, MHz (``None`` if it reports none).

    A virtual machine often reports the nominal clock; a core may run faster (boost) or slower.
    """
    value = _cpuinfo_field(("cpu MHz",), lines)
    try:
        return float(value)
    except ValueError:
        return None


def cpu_model(lines: Sequence[str] | None = None) -> str:
    """The CPU's model name, with its family/model numbers when the name alone is vague.

    ``"AMD EPYC (family 25, model 17)"``: a virtual machine may hide the exact product name,
    but the family and model numbers still identify the microarchitecture (25/17 is Zen 4).
    """
    name = _cpuinfo_field(("model name",), lines) or platform.processor() or "unknown CPU"
    family, model = _cpuinfo_field(("cpu family",), lines), _cpuinfo_field(("model",), lines)
    return f"{name} (family {family}, model {model})" if family and model else name


def gpu_clock_mhz(device: torch.device) -> float | None:
    """The GPU's *maximum* SM clock as PyTorch reports it (MHz), or ``None`` where it does not.

    Not the clock it runs at: a GPU lowers its clock under power or heat limits. The running
    clock during a timing is recorded separately, per block, from NVML
    (:func:`onebyone.perf.gpu_timing.nvml_sm_clock_mhz`, the CSV's ``sm_clock_mhz``).
    """
    properties = torch.cuda.get_device_properties(device)
    for name in ("clock_rate", "clockRate"):  # kHz in the CUDA runtime's device properties
        value = getattr(properties, name, None)
        if value:
            return float(value) / 1e3
    return None


def run_metadata(device: torch.device | str, rounds: int, command: str) -> dict[str, object]:
    """The columns every row of one run shares: when, with what, on what, by which command.

    Args:
        device: the device measured.
        rounds: how many interleaved rounds each measurement was timed in.
        command: the exact command line that made the results.

    Returns:
        ``date`` (UTC, ISO 8601), ``rounds``, ``python_version``, ``torch_version``,
        ``command``, ``processor`` (CPU model, or GPU name), ``isa`` (the CPU's vector
        instruction sets; the host CPU's on a GPU machine) and ``clock_mhz`` (blank if unknown; on a
        GPU its maximum SM clock, not the running one).
    """
    rounds = validation.positive_integer("rounds", rounds)
    if not isinstance(command, str):
        raise TypeError(f"command must be a str, got {command!r}")
    device = torch.device(device)
    cuda = device.type == "cuda"
    clock = gpu_clock_mhz(device) if cuda else cpu_clock_mhz()
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "rounds": rounds,
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "command": command,
        "processor": torch.cuda.get_device_name(device) if cuda else cpu_model(),
        "isa": isa_summary(cpu_flags()),
        "clock_mhz": "" if clock is None else round(clock),
    }
