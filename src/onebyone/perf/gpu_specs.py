"""Datasheet figures of well-known GPUs, and the roofline predictions made from them.

Why: most readers have no H100, but the roofline model turns two published numbers (peak rate,
memory bandwidth) into a prediction of how long a 1x1 convolution takes. A reader on Colab's T4
can time the suite and put the measurement beside the prediction. The figures are data, in
``onebyone/data/gpu_specs.csv``, each row citing its NVIDIA datasheet; tensor-core rates are the
*dense* ones (NVIDIA's headline figures assume 2:4 structured sparsity and are twice as high).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from onebyone import records
from onebyone.perf.precision import precision_dtype
from onebyone.perf.roofline import Roofline, Workload


@dataclass(frozen=True)
class GpuSpec:
    """One GPU's datasheet figures.

    Attributes:
        name, short_name: ``"NVIDIA H100 SXM"`` and ``"H100"``.
        fp32_tflops: float32 rate without tensor cores, TFLOP/s (10^12 FLOP/s).
        tf32_tensor_tflops, bf16_tensor_tflops, fp16_tensor_tflops: dense tensor-core rates,
            TFLOP/s; ``None`` where the GPU has no tensor cores for that format.
        memory_bandwidth_gb_s: memory bandwidth, GB/s (10^9 bytes/s).
        memory_gb: memory size, GB.
        source: the datasheet the figures come from.
        note: how the figures were read (dense versus sparse).
    """

    name: str
    short_name: str
    fp32_tflops: float
    tf32_tensor_tflops: float | None
    bf16_tensor_tflops: float | None
    fp16_tensor_tflops: float | None
    memory_bandwidth_gb_s: float
    memory_gb: float
    source: str
    note: str

    def peak_flops_per_s(self, precision: str) -> float | None:
        """Datasheet peak for ``precision`` (see :mod:`onebyone.perf.precision`), FLOP/s.

        ``float32`` uses the plain FP32 rate; ``tf32`` the TF32 tensor-core rate;
        ``bfloat16`` the BF16 tensor-core rate. ``None`` when the GPU lacks that mode.
        """
        precision_dtype(precision)  # validates the name
        tflops = {
            "float32": self.fp32_tflops,
            "tf32": self.tf32_tensor_tflops,
            "bfloat16": self.bf16_tensor_tflops,
        }[precision]
        return None if tflops is None else tflops * 1e12

    def convolution_precision(self, precision: str, tf32_conv: bool = True) -> str:
        """The arithmetic a convolution stored in ``precision`` really runs in on this GPU.

        Why: PyTorch's default lets cuDNN run float32 convolutions as TF32
        (``torch.backends.cudnn.conv.fp32_precision == "tf32"``), while float32 matrix
        products stay IEEE. So on a GPU with TF32 tensor cores a "float32" convolution is
        predicted on the TF32 roof unless ``tf32_conv`` is ``False`` (IEEE float32 asked for).

        Args:
            precision: the storage precision (:data:`onebyone.perf.precision.PRECISIONS`).
            tf32_conv: whether TF32 is allowed for convolutions (PyTorch's default: yes; see
                :func:`onebyone.perf.precision.precision_settings` for the setting in force).
        """
        precision_dtype(precision)  # validates the name
        if precision == "float32" and tf32_conv and self.tf32_tensor_tflops is not None:
            return "tf32"
        return precision

    def roofline(self, precision: str) -> Roofline | None:
        """The datasheet roofline for ``precision``, or ``None`` when the GPU lacks that mode."""
        peak = self.peak_flops_per_s(precision)
        if peak is None:
            return None
        bandwidth = self.memory_bandwidth_gb_s * 1e9
        return Roofline(peak, bandwidth, label=f"{self.short_name} datasheet, {precision}")

    def predict_seconds(self, workload: Workload, precision: str) -> float | None:
        """Predicted time (seconds) of ``workload``: ``max(FLOPs / peak, bytes / bandwidth)``.

        A prediction, not a measurement: a lower bound that real kernels approach, but do not
        reach (launch overhead, imperfect tiling, caches). ``None`` when the mode is missing.
        """
        roof = self.roofline(precision)
        return None if roof is None else roof.seconds(workload.flops, workload.bytes_moved)


COLUMNS: tuple[records.Column, ...] = tuple(records.Column(*column) for column in (
    ("name", records.TEXT, False),
    ("short_name", records.TEXT, False),
    ("fp32_tflops", records.POSITIVE, False),
    ("tf32_tensor_tflops", records.POSITIVE, True),
    ("bf16_tensor_tflops", records.POSITIVE, True),
    ("fp16_tensor_tflops", records.POSITIVE, True),
    ("memory_bandwidth_gb_s", records.POSITIVE, False),
    ("memory_gb", records.POSITIVE, False),
    ("source", records.TEXT, False),
    ("note", records.TEXT, False),
))
"""The columns of ``gpu_specs.csv``, in order: rates and sizes positive and finite; a blank
tensor-core rate (``None``) means the GPU has no tensor cores for that format."""


def load_gpu_specs(path: str | Path | records.Readable | None = None) -> dict[str, GpuSpec]:
    """The GPUs of ``onebyone/data/gpu_specs.csv``, keyed by short name (``"T4"``, ``"H100"``).

    Args:
        path: another table of the same columns (:data:`COLUMNS`) to read instead.

    Raises:
        onebyone.records.RecordError: a ``ValueError`` naming the file, line and column of a
            cell that cannot be trusted, or of a short name given twice.
    """
    table = resources.files("onebyone").joinpath("data/gpu_specs.csv") if path is None else path
    specs: dict[str, GpuSpec] = {}

    def one_row_per_gpu(row: dict[str, object]) -> tuple[str, str] | None:
        if row["short_name"] in specs:
            return "short_name", f"{row['short_name']!r} is given twice"
        specs[str(row["short_name"])] = GpuSpec(**row)
        return None

    records.read_records(table, COLUMNS, check=one_row_per_gpu, comments=True, least_rows=1)
    return specs


def spec_for_device(device_name: str) -> GpuSpec | None:
    """The datasheet of the GPU named ``device_name`` (``"NVIDIA H100 80GB HBM3"`` -> H100), or
    ``None`` for a GPU the table does not hold (a CPU, an A10)."""
    if not isinstance(device_name, str):
        raise TypeError(f"device_name must be a str, got {device_name!r}")
    words = device_name.replace("-", " ").split()
    return next((spec for short_name, spec in load_gpu_specs().items() if short_name in words),
                None)
