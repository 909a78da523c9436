"""Tests of the machine description: flags, instruction sets, bfloat16 support, metadata."""

from __future__ import annotations

import builtins
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from onebyone.perf import machine
from onebyone.perf.precision import skip_reason

ZEN4 = [
    "processor\t: 0",
    "cpu family\t: 25",
    "model\t\t: 17",
    "model name\t: AMD EPYC",
    "cpu MHz\t\t: 2596.132",
    "flags\t\t: fpu sse2 avx fma avx2 avx512f avx512bw avx512_bf16",
]
SKYLAKE = ["model name\t: Intel Xeon", "flags\t\t: fpu avx fma avx2 avx512f"]
GRAVITON = ["Features\t: fp asimd sve bf16"]


def test_flags_and_instruction_sets_are_read_from_cpuinfo():
    assert {"avx2", "avx512_bf16"} <= machine.cpu_flags(ZEN4)
    assert machine.isa_summary(machine.cpu_flags(ZEN4)) == "AVX2 FMA AVX-512 AVX512-BF16"
    assert machine.isa_summary(machine.cpu_flags(GRAVITON)) == "NEON SVE ARM-BF16"
    assert machine.cpu_flags([]) == frozenset()


def test_native_bfloat16_needs_its_instructions():
    assert machine.has_native_cpu_bfloat16(machine.cpu_flags(ZEN4))
    assert machine.has_native_cpu_bfloat16(machine.cpu_flags(GRAVITON))
    assert not machine.has_native_cpu_bfloat16(machine.cpu_flags(SKYLAKE))  # AVX-512, no BF16


def test_model_clock_and_vague_names():
    assert machine.cpu_model(ZEN4) == "AMD EPYC (family 25, model 17)"
    assert machine.cpu_model(SKYLAKE) == "Intel Xeon"
    assert machine.cpu_clock_mhz(ZEN4) == pytest.approx(2596.132)
    assert machine.cpu_clock_mhz(SKYLAKE) is None


def test_bfloat16_is_skipped_on_a_cpu_without_bfloat16_instructions(monkeypatch):
    monkeypatch.setattr(machine, "_cpuinfo_lines", lambda: SKYLAKE)
    reason = skip_reason("bfloat16", "cpu")
    assert "no bfloat16 instructions" in reason
    monkeypatch.setattr(machine, "_cpuinfo_lines", lambda: ZEN4)
    assert skip_reason("bfloat16", "cpu") == ""


def test_run_metadata_names_the_run(monkeypatch):
    monkeypatch.setattr(machine, "_cpuinfo_lines", lambda: ZEN4)
    metadata = machine.run_metadata("cpu", rounds=5, command="python -m x --rounds 5")
    assert metadata["rounds"] == 5 and metadata["command"] == "python -m x --rounds 5"
    assert metadata["torch_version"] == torch.__version__
    assert metadata["processor"] == "AMD EPYC (family 25, model 17)"
    assert metadata["isa"] == "AVX2 FMA AVX-512 AVX512-BF16" and metadata["clock_mhz"] == 2596
    assert metadata["date"][:2] == "20" and metadata["date"].endswith("+00:00")


@pytest.mark.parametrize("supported", [True, False])
def test_without_reported_flags_onednn_decides_bfloat16(monkeypatch, supported):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: supported)
    assert machine.has_native_cpu_bfloat16([]) is supported  # e.g. macOS: no /proc/cpuinfo


def fake_device_properties(monkeypatch, by_device):
    """Stand-in for ``torch.cuda.get_device_properties`` on a CPU-only machine."""
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: by_device[device])


@pytest.mark.parametrize(
    ("properties", "mhz"),
    [
        (SimpleNamespace(clock_rate=1_755_000), 1755.0),  # kHz, as the CUDA runtime reports it
        (SimpleNamespace(clockRate=1_590_000), 1590.0),  # the runtime's own spelling
        (SimpleNamespace(clock_rate=0, clockRate=1_410_000), 1410.0),  # 0 means not reported
        (SimpleNamespace(), None),
    ],
)
def test_gpu_clock_is_read_in_khz_and_given_in_mhz(monkeypatch, properties, mhz):
    other = SimpleNamespace(clock_rate=585_000, clockRate=585_000)
    fake_device_properties(monkeypatch, {torch.device("cuda", 0): other,
                                         torch.device("cuda", 1): properties})
    assert machine.gpu_clock_mhz(torch.device("cuda", 1)) == mhz  # the device asked about


def test_run_metadata_on_a_gpu_names_the_gpu_and_its_clock(monkeypatch):
    monkeypatch.setattr(machine, "_cpuinfo_lines", lambda: ZEN4)
    h100 = SimpleNamespace(clock_rate=1_755_000)
    fake_device_properties(monkeypatch, {torch.device("cuda"): h100})
    names = {torch.device("cuda"): "NVIDIA H100 SXM"}
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: names[device])
    metadata = machine.run_metadata("cuda", rounds=3, command="python -m x")
    assert metadata["processor"] == "NVIDIA H100 SXM" and metadata["clock_mhz"] == 1755
    assert metadata["isa"] == "AVX2 FMA AVX-512 AVX512-BF16"  # the host CPU's


def test_a_cpu_without_a_reported_clock_leaves_the_column_blank(monkeypatch):
    monkeypatch.setattr(machine, "_cpuinfo_lines", lambda: SKYLAKE)
    assert machine.run_metadata("cpu", rounds=1, command="x")["clock_mhz"] == ""


def test_a_model_without_family_or_name_falls_back(monkeypatch):
    assert machine.cpu_model([*SKYLAKE, "cpu family\t: 6"]) == "Intel Xeon"  # model missing
    assert machine.cpu_model(["model name\t: Neoverse-N1: Graviton2"]) == "Neoverse-N1: Graviton2"
    monkeypatch.setattr(machine.platform, "processor", lambda: "arm")
    assert machine.cpu_model([]) == "arm"  # macOS: no /proc/cpuinfo, the platform's name
    monkeypatch.setattr(machine.platform, "processor", lambda: "")
    assert machine.cpu_model([]) == "unknown CPU"


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="no /proc/cpuinfo (not Linux)")
def test_this_machines_flags_come_from_proc_cpuinfo():
    lines = Path("/proc/cpuinfo").read_text(encoding="ascii").splitlines()
    expected = next(line.split(":", 1)[1].split() for line in lines
                    if line.split(":")[0].strip() in ("flags", "Features"))
    assert machine.cpu_flags() == frozenset(expected)


def test_a_system_without_proc_cpuinfo_reports_no_flags(monkeypatch):
    def no_cpuinfo(path, *args, **kwargs):
        raise FileNotFoundError(path)

    monkeypatch.setattr(builtins, "open", no_cpuinfo)
    assert machine.cpu_flags() == frozenset()
