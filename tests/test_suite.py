"""Tests of the experiment suite's engine with a scripted clock: every row, every round.

The suite's timings run the real harness (:func:`onebyone.perf.timing.time_callable`) with a
scripted clock: the k-th timing of a run takes exactly k seconds per call, in one block. So
each row's times are known in advance, and the order in which the suite timed its
measurements can be read back from the rows themselves. The costs in the rows (MACs, bytes)
are compared with Chapter 2's and Chapter 5's hand formulas for the tiny sizes below.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest
import torch

from onebyone.perf import precision, suite, workloads
from onebyone.perf.results import read_results
from onebyone.perf.suite import (
    FIELDS,
    Interrupted,
    Settings,
    build_tasks,
    run_experiments,
    write_csv,
)
from onebyone.perf.timing import Timing, make_input
from onebyone.perf.workloads import Sizes

TINY = Sizes(
    matmul_size=32,
    copy_megabytes=1,
    same_math_shapes=((2, 8, 4, 3, 3),),  # N, C_in, C_out, H, W
    bottleneck_batches=(1,),
    sweep_channels=(4, 8),
    sweep_pixels=(1, 4, 4),  # N, H, W
    inception_batches=(1,),
    min_run_time=0.002,
)
PIXELS = 28 * 28  # inception (3a) and the bottleneck work on 28 x 28 images


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(workloads.SIZES, "tiny", TINY)
    return "tiny"


class Script:
    """What the suite asked the harness and the profiler, in order."""

    def __init__(self) -> None:
        self.timings: list[dict] = []  # the arguments of every timing
        self.profiled: list[dict] = []  # the input and threads of every profile


@pytest.fixture
def script(monkeypatch):
    """Time with the real harness and a scripted clock: timing k takes k seconds per call.

    The clock moves k seconds at every read, more than ``min_run_time``, so the harness
    times one block of one call; the profiler is replaced by a recorder.
    """
    record = Script()
    real = suite.time_callable

    def scripted(fn, input_shape, **options):
        seconds = len(record.timings) + 1
        record.timings.append(dict(options, fn=fn, input_shape=tuple(input_shape)))
        clock = itertools.count(0, seconds)
        return real(fn, input_shape, timer=lambda: float(next(clock)), warmup=0, **options)

    def profiled(fn, x):
        record.profiled.append({"x": x, "threads": torch.get_num_threads()})
        return ("first_kernel", f"kernel_{len(record.profiled)}")

    monkeypatch.setattr(suite, "time_callable", scripted)
    monkeypatch.setattr(suite, "top_kernels", profiled)
    monkeypatch.setattr(precision, "has_native_cpu_bfloat16", lambda: True)
    return record


def pointwise(n, c_in, c_out, h, w, element_bytes):
    """A 1x1 convolution by hand: MACs, and bytes = (input + weight + output) x element size."""
    macs = n * h * w * c_in * c_out
    return macs, (n * c_in * h * w + c_out * c_in + n * c_out * h * w) * element_bytes


def conv_bytes(n, c_in, c_out, k, h, w):
    """A same-padded k x k convolution in float32: input + weight + output, bytes."""
    return 4 * (n * c_in * h * w + c_out * c_in * k * k + n * c_out * h * w)


def expected_rows(device_bfloat16=True):
    """Every row of a tiny run, in order, with its counted columns (blank: not counted)."""
    blank = dict.fromkeys(("batch_size", "in_channels", "out_channels", "height", "width",
                           "macs", "flops", "bytes", "input_shape"), "")
    rows = []

    def add(status="measured", **row):
        macs = row.get("macs", "")
        rows.append({**blank, "status": status, "flops": "" if macs == "" else 2 * macs,
                     "memory_format": "contiguous", **row})

    def skipped(name):
        if name == "tf32":
            return True
        return name == "bfloat16" and not device_bfloat16

    sizes = {"float32": 4, "tf32": 4, "bfloat16": 2}
    dtypes = {"float32": "float32", "tf32": "float32", "bfloat16": "bfloat16"}
    n = 32  # peak: an n x n GEMM, 2 n^3 FLOPs, three n x n matrices moved
    for name, size in sizes.items():
        if skipped(name):
            add("skipped", experiment="peak", variant="matmul", precision=name,
                dtype=dtypes[name], memory_format="")
        else:
            add(experiment="peak", variant="matmul", precision=name, dtype=dtypes[name],
                macs=n**3, bytes=3 * n * n * size, input_shape="32x32")
    add(experiment="peak", variant="copy", precision="float32", dtype="float32", macs=0,
        bytes=2 * 10**6, input_shape="250000")  # 1 MB read, 1 MB written
    for name, size in sizes.items():
        for memory_format in ("contiguous", "channels_last"):
            for variant in ("conv2d", "linear", "matmul", "einsum"):
                shape = {"batch_size": 2, "in_channels": 8, "out_channels": 4, "height": 3,
                         "width": 3, "memory_format": memory_format}
                if skipped(name):
                    add("skipped", experiment="same_math", variant=variant, precision=name,
                        dtype=dtypes[name], **shape)
                    continue
                macs, moved = pointwise(2, 8, 4, 3, 3, size)
                add(experiment="same_math", variant=variant, precision=name, dtype=dtypes[name],
                    macs=macs, bytes=moved, input_shape="2x8x3x3", **shape)
    direct = PIXELS * 192 * 32 * 5 * 5  # 28 x 28 x 192 -> 5x5 -> 32
    reduced = PIXELS * (192 * 16 + 16 * 32 * 5 * 5)  # through 16 channels
    moved = {"direct": conv_bytes(1, 192, 32, 5, 28, 28),
             "reduced": conv_bytes(1, 192, 16, 1, 28, 28) + conv_bytes(1, 16, 32, 5, 28, 28)}
    for memory_format in ("contiguous", "channels_last"):
        for variant, macs in (("direct", direct), ("reduced", reduced)):
            add(experiment="bottleneck", variant=variant, precision="float32", dtype="float32",
                batch_size=1, in_channels=192, out_channels=32, height=28, width=28, macs=macs,
                bytes=moved[variant], input_shape="1x192x28x28", memory_format=memory_format)
    for name, size in sizes.items():
        for channels in (4, 8):
            shape = {"batch_size": 1, "in_channels": channels, "out_channels": channels,
                     "height": 4, "width": 4, "memory_format": "channels_last"}
            if skipped(name):
                add("skipped", experiment="roofline_sweep", variant="conv1x1", precision=name,
                    dtype=dtypes[name], **shape)
                continue
            macs, moved_ = pointwise(1, channels, channels, 4, 4, size)
            add(experiment="roofline_sweep", variant="conv1x1", precision=name,
                dtype=dtypes[name], macs=macs, bytes=moved_, input_shape=f"1x{channels}x4x4",
                **shape)
    branches = {  # Table 1 of Szegedy et al., (3a): MACs per branch, by hand
        "naive": {"branch1": PIXELS * 192 * 64, "branch2": PIXELS * 192 * 128 * 9,
                  "branch3": PIXELS * 192 * 32 * 25, "branch4": 0},  # branch4: pooling only
        "reduced": {"branch1": PIXELS * 192 * 64, "branch2": PIXELS * (192 * 96 + 96 * 128 * 9),
                    "branch3": PIXELS * (192 * 16 + 16 * 32 * 25), "branch4": PIXELS * 192 * 32},
    }
    out_channels = {"naive": 64 + 128 + 32 + 192, "reduced": 64 + 128 + 32 + 32}
    for memory_format in ("contiguous", "channels_last"):
        for module, costs in branches.items():
            for part, macs in (("module", sum(costs.values())), *costs.items()):
                add(experiment="inception", variant=f"{module}/{part}", precision="float32",
                    dtype="float32", batch_size=1, in_channels=192, height=28, width=28,
                    out_channels=out_channels[module], macs=macs, input_shape="1x192x28x28",
                    memory_format=memory_format)
    return rows


COUNTED = ("experiment", "variant", "precision", "status", "batch_size", "in_channels",
           "out_channels", "height", "width", "input_shape", "dtype", "memory_format", "macs",
           "flops", "bytes")


def test_every_row_counts_what_chapter_2_and_5_count_and_times_what_the_clock_said(
        tiny, script, tmp_path):
    rows = run_experiments("cpu", size=tiny, num_threads=1, progress=False, profile=False,
                           command="python -m onebyone.perf.experiments --size tiny")
    expected = expected_rows()
    assert [{key: row[key] for key in COUNTED} for row in rows] == expected
    measured = [row for row in rows if row["status"] == "measured"]
    assert len(script.timings) == len(measured)  # one timing per measured row, none skipped
    for seconds, row in enumerate(measured, start=1):  # timed in the order of the rows
        assert set(row) == set(FIELDS)
        assert row["median_s"] == seconds and row["times_s"] == str(seconds)
        assert (row["iqr_s"], row["relative_iqr"], row["noisy"]) == (0, 0, False)
        assert (row["runs"], row["blocks"], row["calls_per_block"], row["rounds"]) == (1, 1, 1, 1)
        assert (row["timer"], row["l2_flush"], row["cudnn_benchmark"]) == (
            "blocked_autorange", False, False)
        assert row["kernels"] == ""
        assert (row["matmul_fp32_precision"], row["conv_fp32_precision"],  # TF32 forbidden
                row["mkldnn_fp32_precision"]) == ("ieee", "ieee", "ieee")
        assert row["tf32_matmul"] is False and row["tf32_conv"] is False
    for row in rows:
        assert (row["size"], row["device"], row["num_threads"], row["partial"]) == (
            "tiny", "cpu", 1, False)
        assert row["command"] == "python -m onebyone.perf.experiments --size tiny"
        assert row["date"].startswith("20") and row["python_version"].count(".") == 2
        assert row["rounds"] == 1 and "processor" not in row
    path = tmp_path / "results" / "cpu" / "tiny.csv"  # folders made as needed
    back = read_results(write_csv(rows, path))  # a tidy CSV
    assert [row["median_s"] for row in back] == [row["median_s"] or None for row in rows]
    assert len(read_results(write_csv(rows[:1], path))) == 1  # written over, folder kept
    assert sorted(file.name for file in path.parent.iterdir()) == ["tiny.csv", "tiny.csv.npz"]


def test_skipped_rows_say_why_and_carry_no_time(tiny, script):
    script_skips = run_experiments("cpu", size=tiny, experiments=("peak", "roofline_sweep"),
                                   num_threads=1, progress=False, profile=False)
    skipped = [row for row in script_skips if row["status"] == "skipped"]
    assert [(row["experiment"], row["precision"]) for row in skipped] == [
        ("peak", "tf32"), ("roofline_sweep", "tf32"), ("roofline_sweep", "tf32")]
    for row in skipped:
        assert set(row) == set(FIELDS) and "CUDA" in row["note"]
        assert row["median_s"] == row["times_s"] == row["kernels"] == row["runs"] == ""
        assert row["partial"] is False and row["size"] == "tiny"


def test_bfloat16_is_skipped_on_a_cpu_without_bfloat16_instructions(tiny, script, monkeypatch):
    monkeypatch.setattr(precision, "has_native_cpu_bfloat16", lambda: False)
    rows = run_experiments("cpu", size=tiny, experiments=("peak", "same_math",
                                                           "roofline_sweep"),
                           num_threads=1, progress=False, profile=False)
    expected = [row for row in expected_rows(device_bfloat16=False)
                if row["experiment"] in ("peak", "same_math", "roofline_sweep")]
    assert [{key: row[key] for key in COUNTED} for row in rows] == expected
    notes = {row["note"] for row in rows if row["precision"] == "bfloat16"}
    assert len(notes) == 1 and "bfloat16 instructions" in notes.pop()


def test_the_harness_is_asked_for_the_row_s_dtype_layout_threads_and_run_time(tiny, script):
    rows = run_experiments("cpu", size=tiny, experiments=("same_math", "roofline_sweep"),
                           precisions=("bfloat16",), num_threads=2, progress=False,
                           profile=False)
    for row, asked in zip(rows, script.timings, strict=True):
        assert asked["dtype"] == torch.bfloat16 and asked["num_threads"] == 2
        assert asked["device"] == torch.device("cpu") and asked["min_run_time"] == 0.002
        assert asked["cudnn_benchmark"] is None and asked["cuda_graph"] is False
        assert asked["input_shape"] == tuple(int(size) for size in row["input_shape"].split("x"))
        layout = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
        assert asked["memory_format"] == layout[row["memory_format"]]
        assert row["num_threads"] == 2
    for row, asked in zip(rows[-2:], script.timings[-2:], strict=True):  # the sweep
        conv = asked["fn"]  # a bias-free 1x1 convolution, C_in = C_out: only the MACs counted
        assert (conv.kernel_size, conv.bias) == ((1, 1), None)
        assert conv.in_channels == conv.out_channels == row["in_channels"]


def test_same_math_checks_on_the_harness_s_input_and_times_outputs_of_order_one(
        tiny, script, monkeypatch):
    """The weights are scaled by 1 / sqrt(C_in), so the outputs are of order 1."""
    checked = []
    check = suite.check_same_math
    monkeypatch.setattr(suite, "check_same_math",
                        lambda variants, x, *args: checked.append(x) or check(variants, x, *args))
    rows = run_experiments("cpu", size=tiny, experiments=("same_math",), precisions=("float32",),
                           num_threads=1, progress=False, profile=False)
    layouts = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
    for row, x in zip(rows, checked, strict=True):  # the input the harness times, as it is
        layout = layouts[row["memory_format"]]
        assert torch.equal(x, make_input((2, 8, 3, 3), memory_format=layout))
        assert x.is_contiguous(memory_format=layout)
    outputs = [asked["fn"](make_input(asked["input_shape"])) for asked in script.timings]
    assert len(outputs) == 8  # 4 variants x 2 memory formats
    for output in outputs:  # N x 4 x 3 x 3, all the same convolution
        torch.testing.assert_close(output, outputs[0], rtol=1e-5, atol=1e-5)
        assert 0.5 < output.std().item() < 2


def test_rounds_interleave_pool_and_are_saved_as_each_experiment_finishes(tiny, script):
    saved = []
    rows = run_experiments("cpu", size=tiny, experiments=("bottleneck", "peak"),
                           precisions=("float32",), num_threads=1, rounds=2, progress=False,
                           profile=False, on_experiment=saved.append)
    # peak runs first (the suite's order): timings 1, 2 in round 1, then 3, 4 in round 2;
    # then the bottleneck's 4 measurements: 5 to 8, then 9 to 12.
    assert [row["times_s"] for row in rows] == ["1|3", "2|4", "5|9", "6|10", "7|11", "8|12"]
    # the geometric mean of the rounds' medians (intervals.row_time), e.g. sqrt(1 x 3)
    assert [row["median_s"] for row in rows] == pytest.approx(
        [math.sqrt(first * second) for first, second in ((1, 3), (2, 4), (5, 9), (6, 10),
                                                         (7, 11), (8, 12))])
    assert [row["iqr_s"] for row in rows] == [1, 1, 2, 2, 2, 2]  # 75th minus 25th percentile
    for row in rows:
        assert (row["rounds"], row["runs"], row["blocks"], row["partial"]) == (2, 2, 2, False)
        assert row["kernels"] == "" and row["command"] == ""  # not profiled; no command given
    assert saved == [rows[:2], rows]  # after peak, after the bottleneck: all finished rows
    assert script.profiled == []


def test_each_measurement_is_profiled_once_on_its_own_input_and_threads(tiny, script):
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the suite must switch to its own number of threads
    try:
        rows = run_experiments("cpu", size=tiny, experiments=("roofline_sweep",),
                               precisions=("float32", "bfloat16"), num_threads=2, rounds=2,
                               progress=False)
    finally:
        torch.set_num_threads(before)
    assert len(script.profiled) == len(rows) == 4  # in the first round only
    for row, profiled in zip(rows, script.profiled, strict=True):
        shape = tuple(int(size) for size in row["input_shape"].split("x"))
        x = make_input(shape, dtype=getattr(torch, row["dtype"]),
                       memory_format=torch.channels_last)
        assert torch.equal(profiled["x"], x) and profiled["x"].dtype == x.dtype
        assert profiled["x"].is_contiguous(memory_format=torch.channels_last)
        assert profiled["threads"] == 2
    assert [row["kernels"] for row in rows] == [f"first_kernel;kernel_{i}" for i in (1, 2, 3, 4)]
    assert all(row["num_threads"] == 2 for row in rows)


def test_the_progress_bar_counts_timings_and_shows_50_characters_of_each(tiny, script, capsys):
    before = torch.get_num_threads()
    rows = run_experiments("cpu", size=tiny, experiments=("same_math",),
                           precisions=("bfloat16",), rounds=2)  # progress by default
    progress = capsys.readouterr().err
    assert "16/16" in progress and "timing/s" in progress  # 8 measurements x 2 rounds
    last = "same_math einsum (2, 8, 4, 3, 3) channels_last bfloat16"  # 55 characters
    assert last[:50] in progress and last[:51] not in progress
    assert all(row["num_threads"] == before for row in rows)  # PyTorch's threads by default
    run_experiments("cpu", size=tiny, experiments=("same_math",), precisions=("bfloat16",),
                    progress=False)
    assert capsys.readouterr().err == ""


def test_the_defaults_are_a_cpu_and_the_small_size():
    assert run_experiments(experiments=(), progress=False) == []  # nothing to measure


def test_ctrl_c_keeps_every_measurement_with_a_timing_marked_partial(tiny, script, monkeypatch):
    scripted = suite.time_callable

    def interrupted_at_the_tenth(*args, **kwargs):
        if len(script.timings) == 9:
            raise KeyboardInterrupt
        return scripted(*args, **kwargs)

    monkeypatch.setattr(suite, "time_callable", interrupted_at_the_tenth)
    with pytest.raises(Interrupted, match="interrupted after 6 measurements") as stopped:
        run_experiments("cpu", size=tiny, experiments=("peak", "bottleneck", "roofline_sweep"),
                        precisions=("float32",), num_threads=1, rounds=2, progress=False,
                        profile=False)
    rows = stopped.value.rows
    # peak finished (1|3, 2|4); the bottleneck was in round 2 when Ctrl-C came; the sweep
    # never started, so it has no rows.
    assert [(row["variant"], row["times_s"]) for row in rows] == [
        ("matmul", "1|3"), ("copy", "2|4"), ("direct", "5|9"), ("reduced", "6"),
        ("direct", "7"), ("reduced", "8")]
    assert [row["rounds"] for row in rows] == [2, 2, 2, 1, 1, 1]
    assert all(row["partial"] is True and row["status"] == "measured" for row in rows)


def test_ctrl_c_before_anything_was_timed_keeps_no_row(tiny, script, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(suite, "time_callable", interrupted)
    with pytest.raises(Interrupted, match="after 0 measurements") as stopped:
        run_experiments("cpu", size=tiny, experiments=("peak",), num_threads=1,
                        progress=False, profile=False)  # the tf32 row is skipped, not timed
    assert stopped.value.rows == []


def test_tasks_follow_the_suite_s_order_and_name_what_they_time(tiny):
    settings = Settings(device=torch.device("cpu"), size=tiny, num_threads=1)
    tasks = build_tasks(settings, ("inception", "roofline_sweep", "bottleneck", "same_math",
                                   "peak"), ("bfloat16", "tf32"))
    experiments = [task.experiment for task in tasks]
    assert experiments == sorted(experiments, key=suite.EXPERIMENTS.index)
    assert [experiments.count(name) for name in suite.EXPERIMENTS] == [3, 16, 4, 4, 20]
    for task in tasks:
        assert task.description.startswith(task.experiment.split("_")[0])
        assert task.description.endswith(" (skipped)") == ("tf32" in task.description)
    assert [task.description for task in tasks if task.experiment == "peak"] == [
        "peak matmul 32 bfloat16", "peak matmul 32 tf32 (skipped)", "peak copy"]  # n = 32
    assert not build_tasks(settings, (), ("float32",))


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"size": "tiny"}, r"unknown size 'tiny'; choose from \['full', 'small'\]"),
        ({"rounds": True}, "rounds must be >= 1, got True"),
        ({"rounds": 1.0}, "rounds must be >= 1, got 1.0"),
        ({"rounds": -1}, "rounds must be >= 1, got -1"),
        ({"threads": True}, "threads must be >= 1, got True"),
        ({"threads": 2.0}, "threads must be >= 1, got 2.0"),
        ({"threads": 0}, "threads must be >= 1, got 0"),
        ({"device": torch.device("meta")}, "unsupported device 'meta'; use cpu, cuda or cuda:N"),
        ({"cuda_graph": True}, "^CUDA-graph replay needs --device cuda$"),
    ],
)
def test_check_run_refuses_settings_that_cannot_run(arguments, match):
    run = {"device": torch.device("cpu"), "size": "small", "rounds": 1, "threads": 1,
           "cuda_graph": False, **arguments}
    with pytest.raises(ValueError, match=match):
        suite.check_run(**run)


def test_check_run_accepts_the_least_settings_and_every_size():
    for size in ("small", "full"):
        suite.check_run(torch.device("cpu"), size, 1, 1, False)


def test_check_run_counts_the_gpus_pytorch_sees(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    suite.check_run(torch.device("cuda"), "full", 1, 1, True)
    suite.check_run(torch.device("cuda:1"), "full", 1, 1, True)
    with pytest.raises(ValueError, match=r"^there is no cuda:2: PyTorch sees 2 CUDA device\(s\)$"):
        suite.check_run(torch.device("cuda:2"), "full", 1, 1, False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"^--device cuda was asked for, but PyTorch sees no"):
        suite.check_run(torch.device("cuda:0"), "full", 1, 1, False)


@pytest.mark.parametrize("text", ["tpu", None])
def test_parse_device_names_the_choices(text):
    with pytest.raises(ValueError, match=f"^unknown device '{text}'; use cpu, cuda or cuda:N$"):
        suite.parse_device(text)


def test_parse_device_keeps_a_device():
    assert suite.parse_device(torch.device("cpu")) == torch.device("cpu")
    assert suite.parse_device("cuda:1") == torch.device("cuda", 1)


def test_a_tf32_measurement_is_timed_with_tf32_allowed_and_restored(tiny, script):
    settings = Settings(device=torch.device("cpu"), size=tiny, num_threads=1)
    before = precision.precision_settings()
    timing, kernels = suite._measure(settings, torch.relu, (2, 3), "tf32")
    assert (timing.matmul_fp32_precision, timing.conv_fp32_precision) == ("tf32", "tf32")
    assert timing.dtype == "float32" and kernels == ""
    assert precision.precision_settings() == before


def test_on_cuda_the_harness_autotunes_cudnn_and_may_replay_a_graph(tiny, monkeypatch):
    asked = []  # no GPU needed: the harness is replaced by a recorder
    monkeypatch.setattr(suite, "time_callable", lambda fn, shape, **kw: asked.append(kw) or "t")
    for cuda_graph in (False, True):
        settings = Settings(device=torch.device("cuda"), size=tiny, num_threads=1,
                            cuda_graph=cuda_graph)
        assert suite._measure(settings, torch.relu, (2, 3), "float32") == ("t", "")
    assert [(kw["cudnn_benchmark"], kw["cuda_graph"]) for kw in asked] == [(True, False),
                                                                          (True, True)]


def test_a_task_is_profiled_only_when_asked_and_on_the_input_it_times(tiny, script):
    settings = Settings(device=torch.device("cpu"), size=tiny, num_threads=1)
    tasks = build_tasks(settings, precisions=("float32",))
    first = [next(task for task in tasks if task.experiment == name)
             for name in suite.EXPERIMENTS]  # the first task of every experiment
    first.append(next(task for task in tasks if "copy" in task.description))
    for task in first:
        timing, plain = task.run()
        _, profiled = task.run(profile=True)
        assert timing is not None and plain["kernels"] == ""
        assert profiled["kernels"].startswith("first_kernel;kernel_")
    assert len(script.profiled) == len(first)
    for asked, profiled in zip(script.timings[1::2], script.profiled, strict=True):
        x = profiled["x"]
        assert tuple(x.shape) == asked["input_shape"] and x.dtype == asked["dtype"]
        assert x.is_contiguous(memory_format=asked["memory_format"])


def test_on_cuda_the_weight_and_the_inputs_are_made_on_the_gpu(tiny, monkeypatch):
    made = []  # no GPU needed: the tensors are made on the CPU, the device asked is recorded

    def make_here(shape, **options):
        made.append(options["device"])
        return make_input(shape, **{**options, "device": "cpu"})

    monkeypatch.setattr(suite, "make_input", make_here)
    monkeypatch.setattr(suite, "time_callable", lambda fn, shape, **kw: "t")
    monkeypatch.setattr(suite, "top_kernels", lambda fn, x: ("kernel",))
    settings = Settings(device=torch.device("cuda"), size=tiny, num_threads=1)
    timing, row = suite._same_math(settings, (2, 8, 4, 3, 3), "matmul", "float32",
                                   torch.contiguous_format, {}, profile=True)
    assert (timing, row["kernels"]) == ("t", "kernel")
    assert made == [torch.device("cuda")] * 3  # the weight, the checked and profiled inputs


def test_the_copy_buffer_is_made_on_the_measured_device(tiny, monkeypatch):
    asked = []  # the meta device stands in for a GPU: tensors without memory
    monkeypatch.setattr(suite, "time_callable", lambda fn, shape, **kw: asked.append(fn) or "t")
    settings = Settings(device=torch.device("meta"), size=tiny, num_threads=1)
    timing, row = suite._peak_copy(settings)
    assert timing == "t" and row["bytes"] == 2 * 10**6
    assert asked[0].__self__.device.type == "meta"  # destination.copy_


def a_timing(**changes):
    """A record as the harness makes it, with ``changes``."""
    timing = Timing(median_s=2.0, iqr_s=0.0, runs=1, blocks=1, calls_per_block=1, label="",
                    device="cuda:0", device_name="GPU", torch_version="2", cuda_version="12",
                    cudnn_version="9", dtype="float32", memory_format="contiguous",
                    cudnn_benchmark=True, matmul_fp32_precision="ieee",
                    conv_fp32_precision="ieee", mkldnn_fp32_precision="ieee", num_threads=1,
                    input_shape=(2, 3), times_s=(2.0,))
    return replace(timing, **changes)


@pytest.mark.parametrize(
    ("changes", "tf32_matmul", "tf32_conv"),
    [
        ({"matmul_fp32_precision": "tf32"}, True, False),
        ({"conv_fp32_precision": "tf32"}, False, True),
        ({}, False, False),
        ({"dtype": "bfloat16", "matmul_fp32_precision": "tf32", "conv_fp32_precision": "tf32"},
         False, False),
        ({"device": "cpu", "matmul_fp32_precision": "tf32", "conv_fp32_precision": "tf32"},
         False, False),
    ],
)
def test_tf32_columns_say_whether_cuda_float32_products_may_round_to_tf32(
        changes, tf32_matmul, tf32_conv):
    row = suite._timed_row(a_timing(**changes), {"experiment": "peak"})
    assert (row["tf32_matmul"], row["tf32_conv"]) == (tf32_matmul, tf32_conv)
    assert (row["status"], row["rounds"], row["times_s"]) == ("measured", 1, "2")


def test_cuda_graph_replay_reaches_every_timing_of_the_run(tiny, monkeypatch):
    asked = []  # no GPU needed: CUDA is faked and the harness is replaced by a recorder
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(suite, "run_metadata", lambda device, rounds, command: {})
    monkeypatch.setattr(suite, "time_callable",
                        lambda fn, shape, **kw: asked.append(kw) or a_timing())
    rows = run_experiments("cuda", size=tiny, experiments=("bottleneck",), num_threads=1,
                           progress=False, profile=False, cuda_graph=True)
    assert len(rows) == len(asked) == 4
    assert all(kw["cuda_graph"] is True and kw["cudnn_benchmark"] is True for kw in asked)
