"""The roofline model (Williams et al., 2009): a roof, the work of a kernel, and its bound.

Why: a kernel is limited either by arithmetic or by memory traffic. With a peak arithmetic rate
``P`` (FLOP/s) and a memory bandwidth ``B`` (bytes/s), a kernel of arithmetic intensity
``I = FLOPs / bytes moved`` (FLOP/byte) can attain at most::

    attainable(I) = min(P, I * B)    FLOP/s

and so takes at least ``max(FLOPs / P, bytes / B)`` seconds. Below the ridge point ``P / B``
it is memory-bound, above it compute-bound. A 1x1 convolution is a matrix product whose
intensity grows with its channel counts, so a sweep over channels walks along the roof.

The roof can be *measured* (:mod:`onebyone.perf.peak`: a large matrix product of the same
precision for ``P``, a large device-to-device copy for ``B``), so it is what this device
achieves, not its datasheet (on a GPU the datasheet's peak, :mod:`onebyone.perf.gpu_specs`, is
drawn beside it, and on a CPU :func:`instruction_set_peak` bounds it). Every other kernel's rate
is *effective*: counted MACs over time. A convolution can run above the GEMM roof because it
does not execute all it is credited with (zero padding, Winograd, FFT); such a point is flagged
(:func:`onebyone.perf.results.roof_flag`), never taken as a new roof.
Units: FLOPs (2 per MAC, see :mod:`onebyone.cost`), bytes, seconds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
from torch import nn

from onebyone import validation
from onebyone.cost import conv2d_macs, count_model


@dataclass(frozen=True)
class Roofline:
    """A device's roof: peak arithmetic rate and memory bandwidth.

    Attributes:
        peak_flops_per_s: achievable (or datasheet) arithmetic rate, FLOP/s.
        bandwidth_bytes_per_s: achievable (or datasheet) memory bandwidth, bytes/s.
        label: where the numbers come from (``"measured on AMD EPYC, float32"``).
    """

    peak_flops_per_s: float
    bandwidth_bytes_per_s: float
    label: str = ""

    def __post_init__(self) -> None:
        validation.positive_number("peak_flops_per_s", self.peak_flops_per_s)
        validation.positive_number("bandwidth_bytes_per_s", self.bandwidth_bytes_per_s)

    @property
    def ridge_intensity(self) -> float:
        """The intensity (FLOP/byte) where memory-bound turns compute-bound: ``P / B``."""
        return self.peak_flops_per_s / self.bandwidth_bytes_per_s

    def attainable(self, intensity: float) -> float:
        """Highest rate (FLOP/s) a kernel of ``intensity`` FLOP/byte can reach: ``min(P, I*B)``.

        Raises:
            TypeError: ``intensity`` is not a real number (a string, a bool).
            ValueError: ``intensity`` is ``nan``, infinite, 0 or negative (``min`` would
                otherwise return the peak for ``nan``).
        """
        intensity = validation.positive_number("intensity", intensity)
        return min(self.peak_flops_per_s, intensity * self.bandwidth_bytes_per_s)

    def seconds(self, flops: float, bytes_moved: float) -> float:
        """Least time (seconds) for a kernel: ``max(flops / P, bytes / B)``.

        Raises:
            TypeError: a count that is not a real number.
            ValueError: a count that is ``nan``, infinite or negative.
        """
        counts = {"flops": flops, "bytes_moved": bytes_moved}
        for name, value in counts.items():
            if validation.real_number(name, value) < 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        return max(flops / self.peak_flops_per_s, bytes_moved / self.bandwidth_bytes_per_s)


@dataclass(frozen=True)
class Workload:
    """The work of one kernel call: arithmetic and the least memory traffic.

    Attributes:
        flops: floating-point operations (2 per MAC).
        bytes_moved: bytes read plus bytes written, each tensor touched once.
    """

    flops: int
    bytes_moved: int

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOP/byte."""
        return self.flops / self.bytes_moved


def pointwise_conv_workload(
    batch_size: int,
    in_channels: int,
    out_channels: int,
    height: int,
    width: int,
    bytes_per_element: int = 4,
) -> Workload:
    """FLOPs and least bytes moved by a 1x1 convolution (no bias).

    Why: it is a ``(N*H*W) x C_in`` by ``C_in x C_out`` matrix product, so it reads the input
    and the weight and writes the output once at the very least::

        FLOPs = 2 * N*H*W * C_in * C_out
        bytes = (N*C_in*H*W + C_out*C_in + N*C_out*H*W) * bytes_per_element

    With ``C_in = C_out = C`` and many more pixels than channels, the weight's bytes are
    negligible and the intensity tends to ``C / bytes_per_element`` FLOP/byte (``C / 4`` in
    float32): the wider the layer, the more arithmetic per byte.

    Args:
        batch_size, in_channels, out_channels: ``N``, ``C_in``, ``C_out``.
        height, width: spatial size in pixels (a 1x1 kernel keeps it).
        bytes_per_element: 4 for float32, 2 for bfloat16.
    """
    batch_size, in_channels, out_channels, height, width, bytes_per_element = (
        validation.check_positive_integers(
            batch_size=batch_size, in_channels=in_channels, out_channels=out_channels,
            height=height, width=width, bytes_per_element=bytes_per_element))
    macs = conv2d_macs(in_channels, out_channels, 1, (height, width), batch_size=batch_size)
    pixels = batch_size * height * width
    elements = pixels * in_channels + out_channels * in_channels + pixels * out_channels
    return Workload(flops=2 * macs, bytes_moved=elements * bytes_per_element)


def compute_bound_channels(
    roof: Roofline, batch_size: int, height: int, width: int, bytes_per_element: int = 4
) -> int | None:
    """The fewest channels ``C = C_in = C_out`` at which a 1x1 convolution is compute-bound.

    Why exactly, not the next swept width: with ``P = N*H*W`` pixels and ``b`` bytes per number
    the intensity is ``2 P C / (b (2 P + C))`` FLOP/byte, which reaches the ridge ``r`` when
    ``C >= 2 P r b / (2 P - r b)``. It rises towards ``2 P / b`` as ``C`` grows, so when even
    that is below the ridge no width is compute-bound and the answer is ``None``.

    Args:
        roof: the roof whose ridge point (FLOP/byte) is the threshold.
        batch_size, height, width: the pixels ``N x H x W``.
        bytes_per_element: 4 for float32 (and TF32), 2 for bfloat16.
    """
    if not isinstance(roof, Roofline):
        raise TypeError(f"roof must be a Roofline, got {type(roof).__name__}")
    batch_size, height, width, bytes_per_element = validation.check_positive_integers(
        batch_size=batch_size, height=height, width=width, bytes_per_element=bytes_per_element)
    pixels, ridge = batch_size * height * width, roof.ridge_intensity
    denominator = 2 * pixels - ridge * bytes_per_element
    if denominator <= 0:
        return None
    channels = max(1, math.floor(2 * pixels * ridge * bytes_per_element / denominator))
    while pointwise_conv_workload(batch_size, channels, channels, height, width,
                                  bytes_per_element).intensity < ridge:
        channels += 1  # the formula's floor is at most one or two short (rounding)
    while channels > 1 and pointwise_conv_workload(
            batch_size, channels - 1, channels - 1, height, width,
            bytes_per_element).intensity >= ridge:
        channels -= 1
    return channels


VECTOR_LANES_FP32 = {"AVX-512": 16, "AVX2": 8, "NEON": 4}
"""float32 numbers per vector register of each instruction set (the widest present counts)."""


def fma_units_per_cycle(processor: str, isa: str) -> int | None:
    """How many fused multiply-adds of its widest vector a core issues per cycle, if known.

    Why: the instruction-set bound is clock x lanes x 2 FLOP x this number, and the number
    depends on the microarchitecture, not on the instruction set alone. Known here:

    - AMD Zen 4 (family 25 with AVX-512): one 512-bit FMA per cycle (its two 256-bit FMA
      pipes execute a 512-bit instruction together);
    - AMD Zen 2 and Zen 3 (family 23, or 25 without AVX-512): two 256-bit FMAs;
    - Intel with AVX-512 (server cores with two 512-bit FMA units; a few parts have one, so
      the bound is an upper one) or with AVX2 and FMA (Haswell onwards): two.

    Args:
        processor: the CPU's name with family and model, as
            :func:`onebyone.perf.machine.cpu_model` writes it
            (``"AMD EPYC (family 25, model 17)"``).
        isa: its vector instruction sets, as :func:`onebyone.perf.machine.isa_summary` writes them.

    Returns:
        FMA instructions per cycle, or ``None`` for a CPU this table does not know.
    """
    if not isinstance(processor, str) or not isinstance(isa, str):
        raise TypeError(f"processor and isa must be str, got {processor!r} and {isa!r}")
    names = set(isa.split())
    family = re.search(r"family (\d+)", processor)
    family_number = int(family.group(1)) if family else None
    if "AMD" in processor:
        if family_number == 25:
            return 1 if "AVX-512" in names else 2
        if family_number == 23 and "AVX2" in names:
            return 2
        return None
    if "Intel" in processor and ("AVX-512" in names or {"AVX2", "FMA"} <= names):
        return 2
    return None


def instruction_set_peak(isa: str, clock_mhz: float | None, cores: int, *,
                         fma_units: int | None) -> float | None:
    """An upper bound on float32 FLOP/s from the instruction set: clock x lanes x 2 x units x cores.

    Why: a measured roof says what one library reached; the instruction set says what the
    silicon could do at most. Each fused multiply-add (FMA) is 2 FLOPs on every lane of a
    vector; a core issues at most ``fma_units`` of them per cycle (see
    :func:`fma_units_per_cycle`: 1 for AVX-512 on AMD Zen 4, 2 on Intel server cores).

    It is a bound at the *given* clock: a virtual machine often reports the nominal (base)
    clock while the core boosts above it, so a measured rate can exceed the bound computed from
    the reported clock; then the clock, not the measurement, is wrong.

    Args:
        isa: the instruction sets, e.g. ``"AVX2 FMA AVX-512"`` (see
            :func:`onebyone.perf.machine.isa_summary`).
        clock_mhz: the core clock in MHz; ``None`` when unknown (then so is the bound).
        cores: cores (threads) used.
        fma_units: FMA instructions of the widest vector a core issues per cycle; ``None``
            when unknown (then so is the bound).

    Returns:
        FLOP/s, or ``None`` when the clock, the FMA units or a known vector set is missing.
    """
    cores = validation.positive_integer("cores", cores)
    if fma_units is not None:
        fma_units = validation.positive_integer("fma_units", fma_units)
    if not isinstance(isa, str):
        raise TypeError(f"isa must be a str, got {isa!r}")
    if clock_mhz is not None:
        clock_mhz = validation.positive_number("clock_mhz", clock_mhz)
    names = set(isa.split())
    lanes = max((VECTOR_LANES_FP32[name] for name in VECTOR_LANES_FP32 if name in names),
                default=None)
    if lanes is None or not clock_mhz or fma_units is None:
        return None
    return clock_mhz * 1e6 * lanes * 2 * fma_units * cores


def layer_workloads(
    model: nn.Module, input_shape: tuple[int, ...], bytes_per_element: int = 4
) -> list[Workload]:
    """The :class:`Workload` of every ``Conv2d`` and ``Linear`` call of ``model``, in order.

    Why: each layer runs as its own kernel, reading its input and weights and writing its
    output, so a model's roofline time is the sum of its layers' times, not the time of its
    total FLOPs. Counted on the meta device with :func:`onebyone.cost.count_model`; bias
    additions, activations, pooling and concatenation are left out (a lower bound).

    Args:
        model: any model (it is not run on real data).
        input_shape: e.g. ``(32, 192, 28, 28)``.
        bytes_per_element: 4 for float32, 2 for bfloat16.
    """
    bytes_per_element = validation.positive_integer("bytes_per_element", bytes_per_element)
    workloads = []
    for layer in count_model(model, input_shape):
        elements = (torch.Size(layer.input_shape).numel() + layer.parameters
                    + torch.Size(layer.output_shape).numel())
        workloads.append(Workload(flops=2 * layer.macs, bytes_moved=elements * bytes_per_element))
    return workloads
