"""Tests of the experiment suite: the math it times, the costs it records, the CSV it writes.

MACs are cross-checked against ``FlopCounterMode`` (FLOPs = 2 x MACs) and against Chapter 2's
hand formulas; the suite itself runs end to end at tiny sizes with a very short run time.
"""

from __future__ import annotations

import csv

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional
from torch.utils.flop_counter import FlopCounterMode

from onebyone import experiments
from onebyone.bottleneck import compare_bottleneck
from onebyone.cost import model_macs
from onebyone.experiments import (
    FIELDS,
    Settings,
    Sizes,
    bottleneck_modules,
    build_tasks,
    check_same_math,
    inception_modules,
    main,
    run_experiments,
    same_math_variants,
    write_csv,
)
from onebyone.inception import branch_costs
from onebyone.pointwise import pointwise_as_einsum
from onebyone.results import read_results

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
    monkeypatch.setitem(experiments.SIZES, "tiny", TINY)
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


def test_the_suite_runs_end_to_end_and_writes_a_tidy_csv(tiny, tmp_path):
    rows = run_experiments("cpu", size=tiny, num_threads=1, progress=False)
    assert {row["experiment"] for row in rows} == set(experiments.EXPERIMENTS)
    for row in rows:
        assert set(row) == set(FIELDS)
        if row["status"] == "measured":
            assert row["median_s"] > 0 and row["runs"] >= 1
            assert row["flops"] == 2 * row["macs"]
            assert row["device"] == "cpu" and row["num_threads"] == 1
    sweep = [row for row in rows if row["experiment"] == "roofline_sweep"]
    assert {row["precision"] for row in sweep} == {"float32", "tf32", "bfloat16"}
    path = write_csv(rows, tmp_path / "out" / "cpu.csv")
    back = read_results(path)
    assert len(back) == len(rows)
    assert [row["median_s"] for row in back] == [row["median_s"] or None for row in rows]


def test_rounds_pool_the_blocks_of_every_measurement(tiny):
    once = run_experiments("cpu", size=tiny, experiments=("bottleneck",), num_threads=1,
                           progress=False)
    twice = run_experiments("cpu", size=tiny, experiments=("bottleneck",), num_threads=1,
                            rounds=2, progress=False)
    assert [row["variant"] for row in twice] == [row["variant"] for row in once]
    for row in twice:
        assert row["blocks"] >= 2 and row["runs"] >= 2 and row["median_s"] > 0


def test_the_command_line_writes_the_csv_and_prints_the_command(tiny, tmp_path, capsys):
    out = tmp_path / "cpu.csv"
    argv = ["--device", "cpu", "--out", str(out), "--size", tiny, "--threads", "1",
            "--experiments", "bottleneck", "--no-progress"]
    assert main(argv) == out
    with out.open() as file:
        rows = list(csv.DictReader(file))
    assert {row["variant"] for row in rows} == {"direct", "reduced"}
    printed = capsys.readouterr().out
    assert "2 measurements, 0 skipped" in printed
    assert "python -m onebyone.experiments --device cpu" in printed


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"size": "huge"}, ValueError, "unknown size 'huge'"),
        ({"experiments": ("speed",)}, ValueError, "unknown experiments"),
        ({"precisions": ("fp8",)}, ValueError, "unknown precision"),
        ({"rounds": 0}, ValueError, "rounds must be >= 1"),
    ],
)
def test_bad_arguments_raise_clear_errors(arguments, error, match):
    with pytest.raises(error, match=match):
        run_experiments("cpu", progress=False, **arguments)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_asking_for_cuda_without_a_gpu_says_so():
    with pytest.raises(RuntimeError, match="PyTorch sees no CUDA device"):
        run_experiments("cuda", progress=False)
