"""Tests of the experiment suite: the math it times, the costs it records, the CSV it writes.

MACs are cross-checked against ``FlopCounterMode`` (FLOPs = 2 x MACs) and against Chapter 2's
hand formulas; the suite itself runs end to end at tiny sizes with a very short run time.
"""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional
from torch.utils.flop_counter import FlopCounterMode

from onebyone import recording
from onebyone.bottleneck import compare_bottleneck
from onebyone.cost import model_macs
from onebyone.inception import branch_costs
from onebyone.perf import experiments, suite, workloads
from onebyone.perf.experiments import main
from onebyone.perf.precision import tf32_is_allowed
from onebyone.perf.suite import Settings, build_tasks, run_experiments
from onebyone.perf.workloads import (
    Sizes,
    bottleneck_modules,
    check_same_math,
    inception_modules,
    same_math_variants,
)
from onebyone.pointwise import pointwise_as_einsum

TINY = Sizes(
    matmul_size=32,
    copy_megabytes=1,
    same_math_shapes=((2, 8, 4, 3, 3),),
    bottleneck_batches=(1,),
    sweep_channels=(4, 8),
    sweep_pixels=(1, 4, 4),
    inception_batches=(1,),
    min_run_time=0.002,
)


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(workloads.SIZES, "tiny", TINY)
    return "tiny"


def flops_of(fn, *args) -> int:
    with FlopCounterMode(display=False) as counter:
        fn(*args)
    return counter.get_total_flops()


@settings(max_examples=10, deadline=None)
@given(
    batch=st.integers(1, 3),
    in_channels=st.integers(2, 8),  # with one input channel einsum becomes a product, which
    out_channels=st.integers(1, 8),  # FlopCounterMode (matrix products only) does not count
    size=st.integers(1, 5),
    channels_last=st.booleans(),
)
def test_the_four_variants_compute_the_convolution_and_its_flops(
    batch, in_channels, out_channels, size, channels_last
):
    torch.manual_seed(0)
    weight = torch.randn(out_channels, in_channels)
    x = torch.randn(batch, in_channels, size, size)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    reference = functional.conv2d(x, weight[:, :, None, None])
    macs = batch * out_channels * in_channels * size * size
    for name, variant in same_math_variants(weight).items():
        torch.testing.assert_close(variant(x), reference, rtol=1e-5, atol=1e-5, msg=name)
        assert flops_of(variant, x) == 2 * macs, name


def test_check_same_math_catches_a_wrong_variant():
    weight = torch.randn(4, 4)
    x = torch.randn(1, 4, 3, 3)
    check_same_math(same_math_variants(weight), x, weight, "float32")  # right: no error
    wrong = {"transposed": lambda t: pointwise_as_einsum(t, weight.T)}
    with pytest.raises(AssertionError, match="transposed differs from the reference"):
        check_same_math(wrong, x, weight, "float32")


@pytest.mark.parametrize("precision", ["float32", "tf32", "bfloat16"])
def test_check_same_math_allows_exactly_the_tolerance_of_each_precision(precision):
    weight, x = torch.zeros(4, 4), torch.randn(1, 4, 3, 3)  # the reference is all zeros
    tolerance = workloads.TOLERANCE[precision]
    at_the_limit = {"at": lambda t: torch.full((1, 4, 3, 3), tolerance, dtype=torch.float64)}
    check_same_math(at_the_limit, x, weight, precision)  # a difference of tolerance: allowed
    beyond = {"beyond": lambda t: torch.full((1, 4, 3, 3), 2 * tolerance)}
    message = f"beyond differs from the reference by {2 * tolerance:.3g} in {precision}"
    with pytest.raises(AssertionError, match=f"^{message}$"):
        check_same_math(beyond, x, weight, precision)


@pytest.mark.parametrize(("precision", "tf32"), [("float32", False), ("tf32", True)])
def test_check_same_math_runs_the_variants_in_inference_mode_under_the_precision_s_tf32(
        precision, tf32):
    weight, x = torch.randn(4, 4), torch.randn(1, 4, 3, 3)
    seen = []

    def spy(t):
        seen.append((tf32_is_allowed(), torch.is_inference_mode_enabled()))
        return pointwise_as_einsum(t, weight)

    before = tf32_is_allowed()
    check_same_math({"spy": spy}, x, weight, precision)
    assert seen == [(tf32, True)] and tf32_is_allowed() == before


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_the_variants_keep_the_weight_s_dtype_and_device(dtype):
    weight = torch.randn(4, 8, dtype=dtype)
    x = torch.randn(2, 8, 3, 3, dtype=dtype)
    variants = same_math_variants(weight)
    conv = variants["conv2d"]
    assert conv.bias is None and conv.weight.dtype == dtype
    assert all(variant(x).dtype == dtype for variant in variants.values())
    on_meta = same_math_variants(torch.empty(4, 8, device="meta"))["conv2d"]
    assert on_meta.weight.device.type == "meta"


def test_bottleneck_modules_are_bias_free_linear_convolutions():
    modules = bottleneck_modules()
    parameters = {name: sum(p.numel() for p in module.parameters())
                  for name, module in modules.items()}
    assert parameters == {"direct": 192 * 32 * 5 * 5,  # weights only, no bias
                          "reduced": 192 * 16 + 16 * 32 * 5 * 5}
    x = torch.randn(1, 192, 6, 6)
    for module in modules.values():  # no ReLU: f(-x) = -f(x)
        y = module(x)  # 1 x 32 x 6 x 6: same padding
        assert y.shape == (1, 32, 6, 6)
        torch.testing.assert_close(module(-x), -y)


def test_bottleneck_modules_cost_what_chapter_2_says():
    shape = (2, 192, 28, 28)
    modules = bottleneck_modules()
    direct, reduced = model_macs(modules["direct"], shape), model_macs(modules["reduced"], shape)
    by_hand = compare_bottleneck(192, 32, 5, 28, 28, reduced_channels=16)
    assert direct / reduced == pytest.approx(by_hand.mac_ratio)
    assert direct == 2 * 28 * 28 * 32 * 192 * 25  # batch 2
    x = torch.randn(shape)
    assert flops_of(modules["direct"], x) == 2 * direct
    assert flops_of(modules["reduced"], x) == 2 * reduced


def test_inception_modules_are_3a_and_their_branch_macs_match_the_flop_counter():
    modules = inception_modules()
    assert modules["reduced"].out_channels == 256  # Table 1: 64 + 128 + 32 + 32
    x = torch.randn(1, 192, 28, 28)
    for module in modules.values():
        assert flops_of(module, x) == 2 * sum(branch_costs(module, tuple(x.shape)).values())


def test_tasks_on_cpu_skip_tf32_with_a_reason():
    settings_ = Settings(device=torch.device("cpu"), size="small", num_threads=1)
    tasks = build_tasks(settings_, experiments=("peak",))
    runs = [task.run() for task in tasks if "skipped" in task.description]
    assert all(timing is None for timing, _ in runs)
    rows = [row for _, row in runs]
    assert [row["precision"] for row in rows] == ["tf32"]
    assert rows[0]["status"] == "skipped" and "CUDA" in rows[0]["note"]
    assert rows[0]["median_s"] == ""


def test_the_command_line_writes_the_csv_and_prints_the_command(tiny, tmp_path, capsys):
    out = tmp_path / "cpu.csv"
    argv = ["--device", "cpu", "--out", str(out), "--size", tiny, "--threads", "1",
            "--experiments", "bottleneck", "--no-progress"]
    assert main(argv) == out
    with out.open() as file:
        rows = list(csv.DictReader(file))
    assert {row["variant"] for row in rows} == {"direct", "reduced"}
    printed = capsys.readouterr().out
    assert "4 measurements, 0 skipped" in printed  # 2 variants x 2 memory formats
    assert "python -m onebyone.perf.experiments --device cpu" in printed
    assert {row["memory_format"] for row in rows} == {"contiguous", "channels_last"}
    assert all(row["command"].endswith("--no-progress") and row["rounds"] == "1" for row in rows)
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed


def test_rows_record_kernels_metadata_and_precision_settings(tiny):
    rows = run_experiments("cpu", size=tiny, experiments=("peak", "bottleneck"),
                           precisions=("float32",), num_threads=1, rounds=2, progress=False,
                           command="python -m onebyone.perf.experiments --rounds 2")
    measured = [row for row in rows if row["status"] == "measured"]
    kernels = {(row["variant"], row["memory_format"]): row["kernels"].split(";")
               for row in measured}
    assert kernels["matmul", "contiguous"][0] == "aten::mm"  # the largest share first
    assert "conv" in kernels["direct", "contiguous"][0]  # a convolution kernel, named
    for row in measured:
        assert row["rounds"] == 2 and len(row["times_s"].split("|")) == 2
        assert row["date"].startswith("20") and row["python_version"].count(".") == 2
        assert row["command"] == "python -m onebyone.perf.experiments --rounds 2"
        assert row["mkldnn_fp32_precision"] == "ieee" and row["tf32_conv"] is False
        assert row["noisy"] == (row["relative_iqr"] > 0.05) and row["partial"] is False


def test_profiling_can_be_turned_off(tiny):
    rows = run_experiments("cpu", size=tiny, experiments=("peak",), precisions=("float32",),
                           num_threads=1, progress=False, profile=False)
    assert all(row["kernels"] == "" for row in rows)


def interrupt_after(monkeypatch, calls):
    """Make the suite raise KeyboardInterrupt (as Ctrl-C does) at its ``calls``-th timing."""
    real = suite.time_callable
    count = {"n": 0}

    def timing_then_interrupt(*args, **kwargs):
        count["n"] += 1
        if count["n"] > calls:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(suite, "time_callable", timing_then_interrupt)


def test_ctrl_c_saves_what_was_measured_marked_partial_and_leaves_the_target(
        tiny, tmp_path, monkeypatch, capsys):
    out = tmp_path / "cpu.csv"
    out.write_text("recorded before\n")
    interrupt_after(monkeypatch, 3)  # peak has 2 float32 tasks; the third timing is exp. 2's
    argv = ["--out", str(out), "--size", tiny, "--threads", "1", "--precisions", "float32",
            "--experiments", "peak,bottleneck", "--no-progress", "--no-profile", "--replace"]
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 130
    assert out.read_text() == "recorded before\n"  # the recorded file is untouched
    saved = recording.partial_path(out)
    with saved.open() as file:
        rows = list(csv.DictReader(file))
    assert [(row["experiment"], row["variant"]) for row in rows] == [
        ("peak", "matmul"), ("peak", "copy"), ("bottleneck", "direct")]
    assert all(row["partial"] == "True" for row in rows)
    message = capsys.readouterr().err
    assert f"saved to {saved}" in message and "3 measurements" in message
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--rounds", "0"], "--rounds: must be >= 1, got 0"),
        (["--threads", "0"], "--threads: must be >= 1, got 0"),
        (["--threads", "two"], "expected a positive integer, got 'two'"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--device", "meta"], "unsupported device 'meta'"),
        (["--experiments", "peak,speed"], "unknown experiments ['speed']"),
        (["--precisions", "fp8"], "unknown precisions ['fp8']"),
        (["--cuda-graph"], "CUDA-graph replay needs --device cuda"),
        (["--out", "{tmp}/missing/cpu.csv"], "does not exist"),
        (["--out", "{tmp}"], "must name a .csv file"),
        (["--out", "{tmp}/results.txt"], "must name a .csv file"),
        (["--out", "{tmp}/folder.csv"], "is a directory"),
    ],
)
def test_user_errors_print_one_line_and_exit_2_before_measuring(
        argv, match, tmp_path, monkeypatch, capsys):
    (tmp_path / "folder.csv").mkdir()
    measured = []
    monkeypatch.setattr(experiments, "run_experiments", lambda **kw: measured.append(kw))
    argv = [part.replace("{tmp}", str(tmp_path)) for part in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "cpu.csv")]
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and match in error and "Traceback" not in error
    assert error.startswith("python -m onebyone.perf.experiments: error:")
    assert not measured and not (tmp_path / "cpu.csv").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_cuda_without_a_gpu_is_a_user_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--device", "cuda", "--out", str(tmp_path / "cuda.csv")])
    assert stopped.value.code == 2
    assert "PyTorch sees no CUDA device" in capsys.readouterr().err


def test_the_module_runs_as_a_command_and_fails_cleanly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "onebyone.perf.experiments", "--rounds", "0", "--out",
         str(tmp_path / "x.csv")], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"size": "huge"}, ValueError, "unknown size 'huge'"),
        ({"experiments": ("speed",)}, ValueError, "unknown experiments"),
        ({"precisions": ("fp8",)}, ValueError, "unknown precision"),
        ({"rounds": 0}, ValueError, "rounds must be >= 1"),
        ({"num_threads": 0}, ValueError, "threads must be >= 1"),
        ({"device": "tpu"}, ValueError, "unknown device 'tpu'"),
        ({"cuda_graph": True}, ValueError, "CUDA-graph replay needs --device cuda"),
    ],
)
def test_bad_arguments_raise_clear_errors(arguments, error, match):
    with pytest.raises(error, match=match):
        run_experiments(**{"device": "cpu", "progress": False, **arguments})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_asking_for_cuda_without_a_gpu_says_so():
    with pytest.raises(ValueError, match="PyTorch sees no CUDA device"):
        run_experiments("cuda", progress=False)
