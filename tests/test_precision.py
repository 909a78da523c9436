"""Tests of the precision names and the TF32 switch."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from onebyone.perf import precision
from onebyone.perf.precision import (
    PRECISIONS,
    element_bytes,
    precision_dtype,
    skip_reason,
    tf32_allowed,
    tf32_is_allowed,
)


def test_dtypes():
    assert [precision_dtype(p) for p in PRECISIONS] == [
        torch.float32,
        torch.float32,
        torch.bfloat16,
    ]


def test_tf32_is_skipped_off_cuda_and_nothing_else_is():
    assert "CUDA" in skip_reason("tf32", "cpu")
    assert skip_reason("tf32", "cuda") == ""
    assert skip_reason("float32", "cpu") == skip_reason("bfloat16", "cpu") == ""


@pytest.mark.parametrize("allowed", [True, False])
def test_tf32_switch_sets_and_restores_even_after_an_error(allowed):
    before = tf32_is_allowed()
    with pytest.raises(RuntimeError, match="inside"), tf32_allowed(allowed):
        assert tf32_is_allowed() is allowed
        raise RuntimeError("inside")
    assert tf32_is_allowed() is before


def test_bfloat16_is_skipped_on_a_gpu_without_it(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    assert "no native bfloat16" in skip_reason("bfloat16", "cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert skip_reason("bfloat16", "cuda") == ""


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="unknown precision 'float16'"):
        precision_dtype("float16")
    with pytest.raises(ValueError, match="unknown precision"):
        skip_reason("fp8", "cpu")


def test_bfloat16_emulated_in_software_on_a_gpu_does_not_count(monkeypatch):
    # a T4: PyTorch can emulate bfloat16 on it, but the GPU has no bfloat16 arithmetic
    monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: including_emulation)
    assert "no native bfloat16" in skip_reason("bfloat16", "cuda")


@pytest.mark.parametrize("allowed", [True, False])
def test_tf32_is_read_from_the_legacy_flag_before_pytorch_2_9(monkeypatch, allowed):
    # PyTorch before 2.9: matmul has allow_tf32 and no fp32_precision
    monkeypatch.setattr(torch.backends.cuda, "matmul", SimpleNamespace(allow_tf32=allowed))
    monkeypatch.setattr(torch.backends, "cudnn", SimpleNamespace(allow_tf32=True))  # no .conv
    assert tf32_is_allowed() is allowed


def test_element_bytes_are_the_storage_sizes_of_the_dtypes():
    assert [element_bytes(p) for p in PRECISIONS] == [4, 4, 2]  # TF32 is stored as float32
    for name in PRECISIONS:
        assert element_bytes(name) == torch.empty(0, dtype=precision_dtype(name)).element_size()


def test_skip_reasons_say_why_in_full_sentences(monkeypatch):
    assert skip_reason("tf32", "cpu").startswith("TF32 is a CUDA tensor-core mode;")
    assert skip_reason("tf32", "cpu").endswith("it would be plain float32")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    reason = skip_reason("bfloat16", "cuda")
    assert reason.startswith("this GPU has no native bfloat16 (before Ampere);")
    assert reason.endswith("PyTorch would emulate it")
    monkeypatch.setattr(precision, "has_native_cpu_bfloat16", lambda: False)
    reason = skip_reason("bfloat16", "cpu")
    assert reason.startswith("this CPU has no bfloat16 instructions (AVX512-BF16, AMX-BF16 or")
    assert "; PyTorch would convert every number in software" in reason
    assert reason.endswith("far slower than float32")


@pytest.mark.skipif(not hasattr(torch.backends.cuda.matmul, "fp32_precision"),
                    reason="PyTorch before 2.9 has no fp32_precision switch")
def test_settings_read_the_new_switches_where_they_exist():
    mkldnn, cudnn = torch.backends.mkldnn.conv, torch.backends.cudnn.conv
    before = mkldnn.fp32_precision, cudnn.fp32_precision
    mkldnn.fp32_precision, cudnn.fp32_precision = "bf16", "ieee"
    try:
        settings = precision.precision_settings()  # the legacy flags know no oneDNN setting
    finally:
        mkldnn.fp32_precision, cudnn.fp32_precision = before
    assert settings["mkldnn_fp32_precision"] == "bf16"
    assert settings["conv_fp32_precision"] == "ieee" and settings["tf32_conv"] is False


def test_none_inherits_down_the_chain_and_finally_from_the_legacy_flag():
    assert precision._resolved(["none", "tf32", "ieee"], legacy=False) == "tf32"
    assert precision._resolved(["none", "none"], legacy=True) == "tf32"
    assert precision._resolved(["none"], legacy=False) == "ieee"


def fake_torch_with_switches(matmul="none", cudnn_conv="none", cudnn="none", mkldnn_conv="none",
                             mkldnn="none", generic="none"):
    """A stand-in for ``torch`` whose backends hold the PyTorch 2.9+ ``fp32_precision`` switches."""
    switch = SimpleNamespace
    return switch(backends=switch(
        cuda=switch(matmul=switch(fp32_precision=matmul)),
        cudnn=switch(conv=switch(fp32_precision=cudnn_conv), fp32_precision=cudnn),
        mkldnn=switch(conv=switch(fp32_precision=mkldnn_conv), fp32_precision=mkldnn),
        fp32_precision=generic,
    ))


@pytest.mark.parametrize(("switches", "expected"), [
    # nothing set anywhere: IEEE float32 everywhere
    ({}, ("ieee", "ieee", "ieee")),
    # the generic switch is inherited by convolutions (cuDNN and oneDNN), not by cuBLAS matmul
    ({"generic": "tf32"}, ("ieee", "tf32", "tf32")),
    # the most specific setting wins: convolution over its backend over the generic switch
    ({"cudnn_conv": "ieee", "cudnn": "tf32", "generic": "tf32"}, ("ieee", "ieee", "tf32")),
    ({"cudnn": "tf32", "generic": "ieee"}, ("ieee", "tf32", "ieee")),
    ({"mkldnn_conv": "ieee", "mkldnn": "bf16", "generic": "tf32"}, ("ieee", "tf32", "ieee")),
    ({"mkldnn": "bf16", "generic": "ieee"}, ("ieee", "ieee", "bf16")),
    ({"matmul": "tf32"}, ("tf32", "ieee", "ieee")),
])
def test_settings_resolve_each_inheritance_chain(monkeypatch, switches, expected):
    monkeypatch.setattr(precision, "torch", fake_torch_with_switches(**switches))
    matmul, conv, mkldnn = expected
    assert precision.precision_settings() == {
        "matmul_fp32_precision": matmul,
        "conv_fp32_precision": conv,
        "mkldnn_fp32_precision": mkldnn,
        "tf32_matmul": matmul == "tf32",
        "tf32_conv": conv == "tf32",
    }


@pytest.mark.parametrize(("matmul_tf32", "conv_tf32"), [(True, False), (False, True)])
def test_settings_read_the_legacy_flags_before_pytorch_2_9(monkeypatch, matmul_tf32, conv_tf32):
    legacy = SimpleNamespace(backends=SimpleNamespace(
        cuda=SimpleNamespace(matmul=SimpleNamespace(allow_tf32=matmul_tf32)),
        cudnn=SimpleNamespace(allow_tf32=conv_tf32),  # no .conv: no fp32_precision switches
    ))
    monkeypatch.setattr(precision, "torch", legacy)
    assert precision.precision_settings() == {
        "matmul_fp32_precision": "tf32" if matmul_tf32 else "ieee",
        "conv_fp32_precision": "tf32" if conv_tf32 else "ieee",
        "mkldnn_fp32_precision": "ieee",  # oneDNN had no float32 switch
        "tf32_matmul": matmul_tf32,
        "tf32_conv": conv_tf32,
    }


def test_the_new_switches_are_read_only_where_both_exist(monkeypatch):
    # a matmul switch without cuDNN's conv switch: read the legacy flags, consistently
    half_new = SimpleNamespace(backends=SimpleNamespace(
        cuda=SimpleNamespace(matmul=SimpleNamespace(fp32_precision="tf32", allow_tf32=False)),
        cudnn=SimpleNamespace(allow_tf32=True),
    ))
    monkeypatch.setattr(precision, "torch", half_new)
    settings = precision.precision_settings()
    assert (settings["matmul_fp32_precision"], settings["conv_fp32_precision"]) == ("ieee", "tf32")
