"""Tests of reading results back and of the experiment plots, on hand-made rows."""

from __future__ import annotations

import csv
import locale
import math
import statistics

import pytest
from matplotlib.figure import Figure

from onebyone.perf.results import (
    block_rounds,
    bottleneck_speedups,
    bytes_per_s,
    device_label,
    fastest_row,
    flag_above_roof,
    flops_per_s,
    kernel_names,
    measured_roofline,
    parse_row,
    rate_interval,
    rate_ratio,
    read_results,
    read_validation,
    roof_flag,
    roof_interval,
    rounds_by_id,
    select,
    time_ratio,
)
from onebyone.perf.roofline import Roofline
from onebyone.perf.suite import FIELDS, write_csv
from onebyone.perf.timing import format_rounds
from onebyone.plotting import (
    plot_bottleneck,
    plot_inception,
    plot_precision,
    plot_roofline_sweep,
    plot_same_math,
)
from onebyone.recording import write_csv_atomically

CELL_FIELDS = [name for name in FIELDS if name not in ("p05_s", "p50_s", "p95_s")]
"""The header of a file written before the sidecar: block times in its ``times_s`` cell."""


def approx(expected):
    """Equal within 0.01 %: the CSV keeps four significant digits of every block time."""
    return pytest.approx(expected, rel=1e-4)


def row(experiment, variant, precision="float32", status="measured", **fields):
    values = dict.fromkeys(FIELDS, "")
    values.update(experiment=experiment, variant=variant, precision=precision, status=status,
                  device="cpu", device_name="Test CPU", num_threads=1, memory_format="contiguous",
                  median_s=1.0, iqr_s=0.1, runs=9, blocks=9, calls_per_block=1, rounds=3)
    values.update(fields)
    if values["status"] == "measured":
        # three rounds whose medians are median, a factor below and the same factor above it
        # (a share that depends on the variant, so that paired per-round ratios differ); their
        # geometric mean, the row's time, is median
        median, shift = values["median_s"], 0.01 * (1 + len(variant) % 4)
        values["times_s"] = format_rounds([[median * factor * f for f in (0.98, 1.0, 1.02)]
                                           for factor in (1.0, 1 / (1 + shift), 1 + shift)])
    return values


@pytest.fixture
def rows(tmp_path):
    """A small results file, written and read back as the chapter does."""
    made = [
        row("peak", "matmul", flops=8 * 10**9, bytes=10**6, median_s=0.1,  # 80 GFLOP/s
            kernels="aten::mm"),
        row("peak", "matmul", "tf32", status="skipped", note="CUDA only"),
        row("peak", "copy", flops=0, bytes=2 * 10**9, median_s=0.5),  # 4 GB/s
        row("bottleneck", "direct", batch_size=1, macs=970, median_s=0.010),
        row("bottleneck", "reduced", batch_size=1, macs=100, median_s=0.002),
        row("bottleneck", "direct", batch_size=8, macs=7760, median_s=0.080),
        row("bottleneck", "reduced", batch_size=8, macs=800, median_s=0.020),
    ]
    for precision, rate in (("float32", 1.0), ("bfloat16", 2.0)):
        for channels in (16, 64):
            made.append(row("roofline_sweep", "conv1x1", precision, in_channels=channels,
                            out_channels=channels, flops=channels * 10**6, bytes=10**6,
                            median_s=channels * 10**6 / (rate * 10**9)))
    for layout in ("contiguous", "channels_last"):
        for variant in ("conv2d", "linear", "matmul", "einsum"):
            made.append(row("same_math", variant, memory_format=layout, input_shape="2x8x3x3",
                            out_channels=4, median_s=0.001))
    for module in ("naive", "reduced"):
        for part in ("module", "branch1", "branch2", "branch3", "branch4"):
            made.append(row("inception", f"{module}/{part}", batch_size=1, median_s=0.003))
    return read_results(write_csv(made, tmp_path / "results.csv"))


def test_parse_row_types_and_blanks():
    parsed = parse_row({"macs": "12", "median_s": "0.5", "noisy": "False", "bytes": "",
                        "tf32_conv": "True", "experiment": "peak"})
    assert parsed["macs"] == 12 and parsed["median_s"] == 0.5 and parsed["noisy"] is False
    assert parsed["tf32_conv"] is True
    assert parsed["bytes"] is None and parsed["experiment"] == "peak"


def test_select_keeps_measured_rows_that_match(rows):
    assert [r["precision"] for r in select(rows, "peak", variant="matmul")] == ["float32"]
    assert len(select(rows, "bottleneck", batch_size=8)) == 2


def test_rates_and_the_measured_roof(rows):
    matmul = select(rows, "peak", variant="matmul")[0]
    assert flops_per_s(matmul) == approx(80e9)
    assert bytes_per_s(select(rows, "peak", variant="copy")[0]) == approx(4e9)
    roof = measured_roofline(rows)
    assert (roof.peak_flops_per_s, roof.bandwidth_bytes_per_s) == approx((80e9, 4e9))
    assert roof.label == "measured roof, float32:\nGEMM and copy"  # no kernel name
    with pytest.raises(ValueError, match=r"no measured peak matmul row \(experiment 0\) in tf32"):
        measured_roofline(rows, "tf32")


def test_a_kernel_above_the_gemm_is_flagged_and_never_becomes_the_roof(rows):
    faster = dict(select(rows, "roofline_sweep", precision="float32")[0])
    faster.update(flops=16 * 10**10, bytes=10**9, median_s=1.0,
                  kernels="aten::mkldnn_convolution",
                  times_s=format_rounds([[1.0], [1 / 1.1], [1.1]]))
    roof = measured_roofline([*rows, faster])
    assert roof.peak_flops_per_s == approx(80e9)  # the GEMM's, not the 160 above it
    assert fastest_row([*rows, faster]) is faster  # the fastest effective rate, not a roof
    note = roof_flag(faster, roof)
    assert "160 GFLOP/s (counted MACs over time) is 2.00x the roof's 80 GFLOP/s" in note
    flagged = flag_above_roof([*rows, faster], roof)
    assert [r["above_roof"] for r in flagged].count(True) == 1 and flagged[-1]["above_roof"]
    assert flagged[-1]["roof_note"] == note and "above_roof" not in faster  # copies
    # memory-bound: held to the slanted roof at its intensity, 4 GB/s x 2 FLOP/byte = 8 GFLOP/s
    slow_memory = dict(faster, flops=10 * 10**9, bytes=5 * 10**9,
                       times_s=format_rounds([[1.0], [0.99], [1.01]]))
    assert "1.25x the roof's 8 GFLOP/s" in roof_flag(slow_memory, roof)
    assert roof_flag(dict(faster, flops=10**9), roof) == ""  # 1 GFLOP/s: under the roof
    assert roof_flag(select(rows, "peak", variant="copy")[0], roof) == ""  # no FLOPs
    with pytest.raises(TypeError, match="roof must be a Roofline"):
        roof_flag(faster, 80e9)
    assert kernel_names(faster) == ("aten::mkldnn_convolution",)
    assert kernel_names({"kernels": "aten::empty;aten::mm"}) == ("aten::mm",)  # no allocation


def test_bottleneck_speedups_by_hand(rows):
    speedups = bottleneck_speedups(rows)
    assert [batch for batch, _, _ in speedups] == [1, 8]
    assert speedups[0][1] == approx(9.7) and speedups[0][2].estimate == approx(5.0)
    assert len(speedups[0][2].per_round) == 3  # the same run and experiment: paired
    assert speedups[1][2].estimate == approx(4.0)
    assert speedups[1][2].low < 4.0 < speedups[1][2].high  # the blocks spread by 2 %
    assert bottleneck_speedups(rows, "channels_last") == []


def test_ratios_of_rows_have_intervals_around_the_ratio_of_medians(rows):
    direct, reduced = select(rows, "bottleneck", batch_size=8)
    assert time_ratio(direct, reduced).estimate == approx(4.0)
    matmul = select(rows, "peak", variant="matmul")[0]
    direct = dict(direct, flops=2 * 7760)
    fraction = rate_ratio(direct, matmul)  # direct's FLOP/s over the matmul's
    assert fraction.estimate == approx((2 * 7760 / 0.080) / 80e9)
    assert fraction.per_round == ()  # two experiments: rounds not interleaved, so unpaired
    assert len(block_rounds(direct)) == 3
    with pytest.raises(ValueError, match="no recorded block times"):
        block_rounds(dict(direct, times_s=""))


def test_device_label_names_the_device_and_threads(rows):
    assert device_label(rows) == "Test CPU (cpu, 1 thread)"
    with pytest.raises(ValueError, match="nothing was measured"):
        device_label([])


def test_plots_are_figures_with_labelled_axes(rows):
    figures = [
        plot_same_math(rows),
        plot_bottleneck(rows),
        plot_roofline_sweep(rows),
        plot_inception(rows, batch_size=1),
        plot_precision(rows),
    ]
    for figure in figures:
        assert isinstance(figure, Figure)
        for axes in figure.axes:
            assert axes.get_xlabel() and axes.get_ylabel()


def test_plot_contents(rows):
    bars = plot_same_math(rows).axes[0].patches
    assert len(bars) == 8  # 4 implementations x 2 memory formats
    speedup_line = plot_bottleneck(rows).axes[0].lines[1]
    assert list(speedup_line.get_ydata()) == approx([5.0, 4.0])
    labels = plot_bottleneck(rows).axes[0].get_legend_handles_labels()[1]
    assert labels == ["MAC ratio (on paper)", "measured speedup, NCHW"]
    precision_lines = plot_precision(rows).axes[0].lines
    assert [line.get_label() for line in precision_lines] == ["float32", "bfloat16"]
    assert list(precision_lines[1].get_ydata()) == approx([2.0, 2.0])  # GFLOP/s


@pytest.mark.parametrize(
    ("plot", "match"),
    [
        (lambda rows: plot_same_math(rows, "tf32"), "no measured same_math rows in tf32"),
        (lambda rows: plot_inception(rows, batch_size=3), "batch size 3"),
        (lambda rows: plot_bottleneck([]), "no measured bottleneck pairs"),
        (lambda rows: plot_roofline_sweep(rows, "tf32"), "no measured roofline_sweep rows"),
        (lambda rows: plot_precision([]), "no measured roofline_sweep rows"),
    ],
)
def test_missing_data_raises_clear_errors(rows, plot, match):
    with pytest.raises(ValueError, match=match):
        plot(rows)


def test_a_rate_interval_spans_the_rates_of_the_rounds(rows):
    matmul = select(rows, "peak", variant="matmul")[0]  # rounds at 0.1 s, / 1.03 and x 1.03
    rate = rate_interval(matmul)
    assert rate.estimate == approx(80e9)
    assert rate.low < 8e9 / 0.103 and rate.high > 8e9 * 1.03 / 0.1  # wider than the rounds
    assert sorted(rate.per_round) == approx(
        sorted(8e9 / (0.1 * f) for f in (1, 1 / 1.03, 1.03)))


def test_a_rate_interval_is_the_flops_over_the_time_interval_by_hand(rows):
    matmul = select(rows, "peak", variant="matmul")[0]  # round medians 0.1 s, / 1.03, x 1.03
    logs = [math.log(seconds) for seconds in (0.1, 0.1 / 1.03, 0.103)]
    # Student's t(0.975), 2 degrees of freedom: (2 x 0.975 - 1) / sqrt(2 x 0.975 x 0.025)
    half = 0.95 / math.sqrt(2 * 0.975 * 0.025) * statistics.stdev(logs) / math.sqrt(3)
    centre = statistics.mean(logs)
    fastest, slowest = math.exp(centre - half), math.exp(centre + half)
    rate = rate_interval(matmul)
    assert rate.low == approx(8e9 / slowest)  # the slow end of time is the low rate
    assert rate.high == approx(8e9 / fastest)
    assert rate.confidence == 0.95


def test_bottleneck_speedups_keep_the_two_memory_formats_apart(rows):
    channels_last = [  # NHWC: the reduced path 2x faster at batch 8 (NCHW: 4x)
        row("bottleneck", "direct", batch_size=8, macs=7760, median_s=0.030,
            memory_format="channels_last"),
        row("bottleneck", "reduced", batch_size=8, macs=800, median_s=0.015,
            memory_format="channels_last"),
    ]
    both = [*rows, *(parse_row({k: str(v) for k, v in r.items()}) for r in channels_last)]
    (batch, _, speedup), = bottleneck_speedups(both, "channels_last")
    assert batch == 8 and speedup.estimate == pytest.approx(2.0, rel=1e-3)  # 4 digits kept
    assert [s.estimate for _, _, s in bottleneck_speedups(both)] == approx([5.0, 4.0])


def test_device_label_of_a_gpu_of_many_threads_and_of_nothing(rows):
    gpu = dict(rows[0], device="cuda", device_name="NVIDIA H100 SXM")
    assert device_label([gpu, *rows]) == "NVIDIA H100 SXM (cuda)"  # the first row decides
    assert device_label([dict(rows[0], num_threads=2), gpu]) == "Test CPU (cpu, 2 threads)"
    with pytest.raises(ValueError, match=r"^no rows: nothing was measured$"):
        device_label([])


def test_a_roof_whose_best_row_names_no_kernel_says_so(rows):
    nameless = [dict(r, kernels="") for r in rows]
    assert kernel_names(nameless[0]) == ()
    assert measured_roofline(nameless).label.endswith("GEMM and copy")
    without_matmul = [r for r in rows if r["variant"] != "matmul"]
    with pytest.raises(ValueError, match=r"^no measured peak matmul row"):
        measured_roofline(without_matmul)
    without_copy = [r for r in rows if r["variant"] != "copy"]
    with pytest.raises(ValueError, match=r"^no measured copy row \(experiment 0\)"):
        measured_roofline(without_copy)


def test_results_read_back_as_written_whatever_the_locale(tmp_path):
    command = "python -m onebyone.perf.experiments --out résultats.csv"  # not ASCII
    note = "line one\r\nline two"  # a quoted field may hold a Windows line break
    made = [row("peak", "copy", flops=0, bytes=8, command=command, note=note)]
    path = write_csv(made, tmp_path / "results.csv")
    before = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")  # an ASCII locale, as on a bare server
    try:
        (back,) = read_results(path)
    finally:
        locale.setlocale(locale.LC_CTYPE, before)
    assert back["command"] == command and back["note"] == note


def test_a_gpu_sized_times_cell_reads_back_and_the_csv_limit_is_restored(tmp_path):
    """A GPU's measurement holds tens of thousands of block times: more than csv's default cell."""
    times = " ".join(["0.0000123"] * 30_000)  # 299,999 characters, as in an H200's file
    assert len(times) > csv.field_size_limit()
    before = csv.field_size_limit()
    made = row("peak", "copy", flops=0, bytes=8)
    made.update(times_s=times, rounds=1, blocks=30_000)  # row() writes its own three rounds
    made = {name: made[name] for name in CELL_FIELDS}  # a file recorded before the sidecar
    path = write_csv_atomically(tmp_path / "g.csv", [made], CELL_FIELDS)
    (back,) = read_results(path)
    assert back["times_s"] == times
    assert csv.field_size_limit() == before


def test_rows_are_paired_by_round_id_only_within_one_run_and_experiment(rows):
    direct, reduced = select(rows, "bottleneck", batch_size=8)
    assert next(iter(rounds_by_id(direct))) == ("", "", "bottleneck", 0)
    other_run = dict(reduced, date="2026-12-04T16:41:45+00:00")
    assert time_ratio(direct, other_run).per_round == ()  # another run: unpaired
    assert time_ratio(direct, other_run).estimate == approx(4.0)
    partial = dict(reduced, times_s=format_rounds(block_rounds(reduced)[:2]))
    with pytest.raises(ValueError, match=r"round ids \[\('', '', 'bottleneck', 2\)\] only in"):
        time_ratio(direct, partial)  # the same run, a round missing: refused, not re-paired


def test_a_row_time_is_the_geometric_mean_of_its_round_medians(rows):
    skewed = dict(rows[0], times_s=format_rounds([[1.0, 1.0, 9.0], [4.0], [2.0, 2.0]]))
    assert flops_per_s(skewed) == approx(8e9 / 2.0)  # (1 x 4 x 2) ** (1/3) = 2 s
    assert isinstance(measured_roofline(rows), Roofline)


def test_a_gpu_roofline_draws_the_datasheet_beside_the_gemm_and_flags_points_above(rows):
    gpu = [dict(r, device="cuda", device_name="NVIDIA H100 80GB HBM3") for r in rows]
    gpu = [dict(r, flops=10**12, bytes=10**9)  # 64 channels at 1e4 "GFLOP/s", above the GEMM
           if r["experiment"] == "roofline_sweep" and r["in_channels"] == 64 else r for r in gpu]
    axes = plot_roofline_sweep(gpu).axes[0]
    labels = axes.get_legend_handles_labels()[1]
    assert labels[:2] == ["measured roof, float32:\nGEMM and copy", "H100 datasheet, float32"]
    assert labels[2] == "effective (counted MACs)"
    assert [text.get_text() for text in axes.texts] == ["C=16", "C=64 above roof"]


def test_the_timer_validation_file_reads_strictly_into_typed_rows(root, tmp_path):
    """Chapter 5's appendix reads benchmarks/results/validate_timer_cpu.csv with the package's
    reader: typed cells, and a refusal naming file, line and column for a bad one."""
    path = root / "benchmarks" / "results" / "validate_timer_cpu.csv"
    rows = read_validation(path)
    assert len(rows) == 3 and all(row["num_threads"] == 1 for row in rows)
    assert all(isinstance(row["within_5_percent"], bool) for row in rows)
    bad = tmp_path / "bad.csv"
    lines = path.read_text().splitlines(keepends=True)
    bad.write_text(lines[0] + lines[1].replace(",True\n", ",yes\n"))
    with pytest.raises(ValueError, match=r"bad\.csv, line 2, column within_5_percent"):
        read_validation(bad)


def test_above_the_roof_means_the_whole_interval_is_above(rows):
    """A rate whose estimate is above the GEMM but whose rounds scatter across it is at the
    roof, not above it; the same estimate with rounds that agree is above."""
    gemm = select(rows, "peak", variant="matmul")[0]
    roof = measured_roofline(rows)
    scattered = dict(select(rows, "roofline_sweep", precision="float32")[0])
    # 84 GFLOP/s on the 80 GFLOP/s roof, its three rounds 10 % apart either way
    scattered.update(flops=84 * 10**9, bytes=None, median_s=1.0,
                     times_s=format_rounds([[1.0], [1 / 1.1], [1.1]]))
    alone = roof_interval(scattered, roof)
    assert alone.estimate == approx(1.05) and alone.low < 1 < alone.high
    assert roof_flag(scattered, roof) == ""
    assert not flag_above_roof([scattered], roof)[0]["above_roof"]
    paired = roof_interval(scattered, roof, gemm)  # the GEMM's rounds scatter by 1 %
    assert paired.estimate == approx(1.05) and paired.low < 1 < paired.high
    assert roof_flag(scattered, roof, gemm) == ""
    tight = dict(scattered, times_s=format_rounds([[1.0], [0.999], [1.001]]))
    assert roof_interval(tight, roof).low > 1
    assert "1.05x the roof's 80 GFLOP/s (95 % interval" in roof_flag(tight, roof)
    one_round = dict(scattered, times_s=format_rounds([[1.0]]))
    assert "1.05x" in roof_flag(one_round, roof)  # no interval: judged on its estimate
    with pytest.raises(ValueError, match="not a measured row with counted FLOPs"):
        roof_interval(select(rows, "peak", variant="copy")[0], roof)
    with pytest.raises(TypeError, match="roof must be a Roofline"):
        roof_interval(scattered, 80e9)
