"""Tests of the datasheet table and the predictions made from it."""

from __future__ import annotations

import csv
from importlib import resources

import pytest

from onebyone.perf.gpu_specs import GpuSpec, load_gpu_specs
from onebyone.perf.roofline import Workload


@pytest.fixture
def specs() -> dict[str, GpuSpec]:
    return load_gpu_specs()


def test_the_three_gpus_of_the_chapter_are_there_with_sources(specs):
    assert {"T4", "A100", "H100"} <= set(specs)
    for spec in specs.values():
        assert "datasheet" in spec.source and spec.note


def test_values_are_the_csv_values(specs):
    text = resources.files("onebyone").joinpath("data/gpu_specs.csv").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    for row in csv.DictReader(lines):
        spec = specs[row["short_name"]]
        assert spec.fp32_tflops == float(row["fp32_tflops"])
        assert spec.memory_bandwidth_gb_s == float(row["memory_bandwidth_gb_s"])


def test_tensor_core_figures_are_dense_not_sparse(specs):
    # Datasheets print sparse figures (2:4 sparsity doubles them); dense ones are half of those:
    # A100: 312 TF32 / 624 BF16 sparse; H100 SXM: 989 TF32 / 1979 BF16 sparse.
    assert specs["A100"].tf32_tensor_tflops == pytest.approx(312 / 2)
    assert specs["A100"].bf16_tensor_tflops == pytest.approx(624 / 2)
    assert specs["H100"].tf32_tensor_tflops == pytest.approx(989 / 2, abs=0.5)
    assert specs["H100"].bf16_tensor_tflops == pytest.approx(1979 / 2, abs=0.5)
    # H200 SXM: the same 989 TF32 / 1979 BF16 with sparsity, and 4.8 TB/s
    assert specs["H200"].tf32_tensor_tflops == pytest.approx(989 / 2, abs=0.5)
    assert specs["H200"].bf16_tensor_tflops == pytest.approx(1979 / 2, abs=0.5)
    assert specs["H200"].memory_bandwidth_gb_s == 4800


def test_the_t4_has_no_tf32_or_bf16_tensor_cores(specs):
    t4 = specs["T4"]
    assert t4.roofline("tf32") is None and t4.roofline("bfloat16") is None
    assert t4.predict_seconds(Workload(1, 1), "bfloat16") is None
    assert t4.peak_flops_per_s("float32") == pytest.approx(8.1e12)


def test_prediction_is_the_roofline_time_by_hand(specs):
    h100 = specs["H100"]
    compute_bound = Workload(flops=10**13, bytes_moved=10**6)
    memory_bound = Workload(flops=10**6, bytes_moved=10**10)
    assert h100.predict_seconds(compute_bound, "float32") == pytest.approx(10**13 / 67e12)
    assert h100.predict_seconds(memory_bound, "tf32") == pytest.approx(10**10 / 3350e9)
    roof = h100.roofline("bfloat16")
    assert roof.ridge_intensity == pytest.approx(989.5e12 / 3350e9)
    assert "H100" in roof.label


def test_unknown_precision_is_refused(specs):
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        specs["A100"].peak_flops_per_s("fp8")


def test_float32_convolutions_are_predicted_as_tf32_by_default_where_it_exists(specs):
    h100, t4 = specs["H100"], specs["T4"]
    assert h100.convolution_precision("float32") == "tf32"  # PyTorch's cuDNN default
    assert h100.convolution_precision("float32", tf32_conv=False) == "float32"  # IEEE
    assert t4.convolution_precision("float32") == "float32"  # no TF32 tensor cores
    assert h100.convolution_precision("bfloat16") == "bfloat16"


def test_every_datasheet_column_is_read(specs):
    # T4 datasheet: 8.1 FP32, 65 FP16 (mixed) TFLOPS, 320 GB/s, 16 GB; A100 80GB SXM: 19.5 FP32,
    # 312 FP16 dense (624 sparse), 2039 GB/s; H100 SXM: 1979 FP16 sparse, 3.35 TB/s, 80 GB
    t4, a100, h100 = specs["T4"], specs["A100"], specs["H100"]
    assert (t4.name, a100.name, h100.name) == (
        "NVIDIA T4", "NVIDIA A100 80GB SXM", "NVIDIA H100 SXM")
    assert (t4.fp16_tensor_tflops, a100.fp16_tensor_tflops) == (65, 624 / 2)
    assert h100.fp16_tensor_tflops == pytest.approx(1979 / 2, abs=0.5)
    assert (t4.memory_gb, a100.memory_gb, h100.memory_gb) == (16, 80, 80)
    assert (t4.tf32_tensor_tflops, t4.bf16_tensor_tflops) == (None, None)  # blank in the CSV


def test_tera_and_giga_are_exact_powers_of_ten(specs):
    a100 = specs["A100"]
    assert a100.peak_flops_per_s("float32") == 19.5e12  # 19.5 TFLOP/s
    assert a100.peak_flops_per_s("bfloat16") == 312e12
    assert a100.roofline("float32").bandwidth_bytes_per_s == 2039e9  # 2039 GB/s


def test_the_table_is_plain_ascii():
    # so it reads the same under any locale's default encoding
    raw = resources.files("onebyone").joinpath("data/gpu_specs.csv").read_bytes()
    assert raw.decode("ascii")


def test_a_device_name_finds_its_datasheet_or_none():
    from onebyone.perf.gpu_specs import spec_for_device

    assert spec_for_device("NVIDIA H100 80GB HBM3").short_name == "H100"
    assert spec_for_device("Tesla T4").short_name == "T4"
    assert spec_for_device("NVIDIA H200").short_name == "H200"  # the book's GPU recording
    assert spec_for_device("NVIDIA A10") is None  # not in the table: no made-up datasheet
    assert spec_for_device("AMD EPYC (family 25, model 17)") is None
    with pytest.raises(TypeError, match="device_name must be a str"):
        spec_for_device(None)
