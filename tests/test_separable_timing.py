"""The separable-layer timing: rows, kernel names, the file round trip, bad arguments.

``measure_parts``, ``fix_allocator`` and ``page_faults_per_call`` are also run against scripted
stand-ins (clock, glibc, fault counter), so their protocol and arithmetic are checked exactly.
"""

import csv
import ctypes
import math
import re
import statistics
import types

import pytest
import torch

from onebyone.cost import model_macs
from onebyone.perf import separable_timing
from onebyone.perf.timing import Timing


def test_flops_agree_with_the_cost_model():
    parts = separable_timing.layer_parts(16)
    flops = separable_timing.part_flops((1, 16, 8, 8))
    for name, part in parts.items():
        assert flops[name] == 2 * model_macs(part, (1, 16, 8, 8))


def test_measure_write_and_read_back(tmp_path):
    out = tmp_path / "parts.csv"
    separable_timing.main(["--out", str(out), "--rounds", "2", "--min-run-time", "0.01"])
    parts = separable_timing.read_parts(out)
    assert set(parts) == {"depthwise", "pointwise"}
    for row in parts.values():
        assert len(row["rounds"]) == 2 and row["num_threads"] == 1
        assert row["median_s"] > 0 and "conv" in row["kernel"]
        assert "--rounds 2" in row["command"]
        assert row["page_faults_per_call_before"] is None or row["page_faults_per_call"] is None \
            or row["page_faults_per_call_before"] >= row["page_faults_per_call"]  # no more faults


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="rounds"):
        separable_timing.measure_parts(rounds=0)
    with pytest.raises(SystemExit):
        separable_timing.main(["--out", str(tmp_path / "missing" / "x.csv")])
    (tmp_path / "one.csv").write_text(
        ",".join(separable_timing.FIELDS) + "\ndepthwise,k,1,1.0,1,1,cpu,2,,,,,,,c\n")
    with pytest.raises(ValueError, match="line 3, column part: no pointwise row: the file must "
                                         "hold one depthwise and one pointwise"):
        separable_timing.read_parts(tmp_path / "one.csv")


def test_the_allocator_setting_is_recorded_and_removes_page_faults():
    setting = separable_timing.fix_allocator()
    assert setting.startswith("glibc") or setting.startswith("unchanged")
    if setting.startswith("glibc"):
        assert str(separable_timing.MMAP_THRESHOLD_BYTES) in setting
        parts = separable_timing.layer_parts(256)
        output_pages = 256 * 28 * 28 * 4 // 4096  # what a freshly mapped output costs per call
        for part in parts.values():
            assert separable_timing.page_faults_per_call(part, (1, 256, 28, 28)) < output_pages / 4


def test_time_share_interval_follows_the_ratio():
    depthwise = [[1.0, 1.1, 0.9], [1.0, 1.2]]
    pointwise = [[3.0, 3.3, 2.7], [3.0, 3.6]]  # three times the depthwise time in each round
    share = separable_timing.depthwise_time_share(depthwise, pointwise)
    assert share.low <= share.estimate <= share.high
    assert abs(share.estimate - 1.0 / (1.0 + 3.0)) < 1e-12
    slower = separable_timing.depthwise_time_share([[2 * t for t in r] for r in depthwise],
                                                   pointwise)
    assert slower.estimate > share.estimate


@pytest.mark.parametrize("confidence", [0.95, 0.5])
def test_time_share_bounds_are_the_ratio_interval_mapped_through_one_over_one_plus(confidence):
    # pointwise / depthwise = 3, 3 e^0.1, 3 e^-0.1 in the three rounds: mean log ratio log 3,
    # sd 0.1, so the ratio's interval is 3 exp(-+half) and the share 1 / (1 + ratio) flips it
    ratios = [3.0, 3.0 * math.exp(0.1), 3.0 * math.exp(-0.1)]
    depthwise = [[1.0], [1.0], [1.0]]
    pointwise = [[r] for r in ratios]
    share = separable_timing.depthwise_time_share(depthwise, pointwise, confidence=confidence)
    q = 0.5 + confidence / 2  # Student's t with 2 degrees of freedom has a closed form
    half = (2 * q - 1) / math.sqrt(2 * q * (1 - q)) * 0.1 / math.sqrt(3)
    assert share.estimate == pytest.approx(1 / (1 + 3.0))
    assert share.low == pytest.approx(1 / (1 + 3.0 * math.exp(half)))
    assert share.high == pytest.approx(1 / (1 + 3.0 * math.exp(-half)))
    assert share.confidence == confidence


# --- fix_allocator against a scripted glibc -------------------------------------------------

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h


class ScriptedLibc:
    """glibc's ``mallopt`` (1 = done, 0 = refused) and version; logs every ``mallopt`` call."""

    def __init__(self, refuse=()):
        self.refuse = set(refuse)
        self.calls = []
        self.gnu_get_libc_version = lambda: b"2.99"  # a function: ctypes sets its restype

    def mallopt(self, parameter, value):
        self.calls.append((parameter, value))
        return 0 if parameter in self.refuse else 1


def use_libc(monkeypatch, load):
    """Make ``fix_allocator`` load its C library with ``load`` instead of ``ctypes.CDLL``."""
    scripted = types.SimpleNamespace(CDLL=load, c_char_p=ctypes.c_char_p,
                                     util=types.SimpleNamespace(find_library=lambda _: "libc"))
    monkeypatch.setattr(separable_timing, "ctypes", scripted)


@pytest.mark.parametrize(("arguments", "mmap", "trim"), [
    ((), 4_000_000, 100_000_000),  # the documented defaults
    ((128 * 1024, 128 * 1024), 128 * 1024, 128 * 1024),  # glibc's initial setting, held fixed
])
def test_fix_allocator_sets_both_thresholds_and_returns_the_setting(monkeypatch, arguments,
                                                                    mmap, trim):
    libc = ScriptedLibc()
    use_libc(monkeypatch, lambda name: libc)
    setting = separable_timing.fix_allocator(*arguments)
    assert libc.calls == [(M_MMAP_THRESHOLD, mmap), (M_TRIM_THRESHOLD, trim)]
    assert setting == f"glibc 2.99 mallopt mmap_threshold={mmap} trim_threshold={trim}"


@pytest.mark.parametrize(("refuse", "calls"), [
    ({M_MMAP_THRESHOLD}, 1),  # the first refusal is enough: the trim threshold is not tried
    ({M_TRIM_THRESHOLD}, 2),
])
def test_fix_allocator_reports_a_refused_threshold(monkeypatch, refuse, calls):
    libc = ScriptedLibc(refuse)
    use_libc(monkeypatch, lambda name: libc)
    assert separable_timing.fix_allocator() == "unchanged (mallopt refused)"
    assert [parameter for parameter, _ in libc.calls] == \
        [M_MMAP_THRESHOLD, M_TRIM_THRESHOLD][:calls]


def no_library(name):
    raise OSError(f"{name}: cannot open shared object file")


def no_name(name):
    raise TypeError("no C library found")  # ctypes.CDLL(None) on Windows


def without(attribute):
    """Loads a C library that has no ``attribute``."""
    def load(name):
        libc = ScriptedLibc()
        return types.SimpleNamespace(**{key: getattr(libc, key) for key in
                                        ("mallopt", "gnu_get_libc_version") if key != attribute})
    return load


@pytest.mark.parametrize("load", [no_library, no_name, without("mallopt"),
                                  without("gnu_get_libc_version")],
                         ids=["no library", "no name", "no mallopt", "musl"])
def test_fix_allocator_leaves_a_c_library_that_is_not_glibc_alone(monkeypatch, load):
    use_libc(monkeypatch, load)
    assert separable_timing.fix_allocator() == "unchanged (not glibc)"


# --- page_faults_per_call against a scripted fault counter ----------------------------------

class FaultingCall:
    """A function whose k-th call maps k fresh pages; ``getrusage`` reports the running total."""

    def __init__(self):
        self.calls = 0
        self.faults = 0

    def __call__(self, x):
        self.calls += 1
        self.faults += self.calls

    def getrusage(self, who):
        return types.SimpleNamespace(ru_minflt=self.faults)


@pytest.mark.parametrize(("options", "per_call", "calls"), [
    ({}, (6 + 55) / 2, 55),  # 5 warm-up calls, then calls 6..55 counted: their mean is 30.5
    ({"calls": 4}, (6 + 9) / 2, 9),  # calls 6..9 counted: 7.5
])
def test_page_faults_are_the_mean_over_the_counted_calls_after_the_warm_up(
        monkeypatch, options, per_call, calls):
    resource = pytest.importorskip("resource")
    function = FaultingCall()
    monkeypatch.setattr(resource, "getrusage", function.getrusage)
    faults = separable_timing.page_faults_per_call(function, (1, 2, 3, 3), **options)
    assert faults == per_call and function.calls == calls


# --- layer_parts and part_flops -------------------------------------------------------------

def test_layer_parts_default_to_mobilenets_256_channels_without_biases():
    parts = separable_timing.layer_parts()
    channels = separable_timing.LAYER_INPUT[1]  # 256
    assert parts["depthwise"].groups == channels and parts["pointwise"].groups == 1
    for part in parts.values():
        assert (part.in_channels, part.out_channels, part.bias) == (channels, channels, None)


@pytest.mark.parametrize("shape", [(1, 16, 8), (1, 16, 8, 8, 1)])
def test_part_flops_refuses_a_shape_that_is_not_n_c_h_w(shape):
    with pytest.raises(ValueError, match="input_shape must have 4 sizes"):
        separable_timing.part_flops(shape)


# --- measure_parts on scripted times --------------------------------------------------------

GLIBC_DEFAULT = separable_timing.GLIBC_DEFAULT_THRESHOLD_BYTES


def part_name(module):
    return "depthwise" if module.groups > 1 else "pointwise"


class ScriptedLab:
    """Stands in for the clock, the allocator, the page-fault counter, the profiler and the copy
    benchmark of :func:`separable_timing.measure_parts`.

    Each call is logged in order with the arguments that take effect (the real functions'
    defaults filled in), so a test can check the protocol; each result is scripted, so a test
    can check the rows' arithmetic exactly. ``times`` and ``faults`` are queues per part: the
    timing before the allocator is fixed, the warm-up round, then the kept rounds; the page
    faults before and after.
    """

    def __init__(self, monkeypatch, times, faults, kernels):
        self.times, self.faults, self.kernels = times, faults, kernels
        self.log = []
        for name in ("fix_allocator", "page_faults_per_call", "time_callable", "top_kernels",
                     "measure_copy_bandwidth"):
            monkeypatch.setattr(separable_timing, name, getattr(self, name))

    def fix_allocator(self, mmap_threshold=separable_timing.MMAP_THRESHOLD_BYTES,
                      trim_threshold=separable_timing.TRIM_THRESHOLD_BYTES):
        self.log.append(("allocator", mmap_threshold, trim_threshold))
        return f"scripted mmap_threshold={mmap_threshold} trim_threshold={trim_threshold}"

    def page_faults_per_call(self, function, input_shape, calls=50):
        self.log.append(("faults", part_name(function), tuple(input_shape), calls))
        return self.faults[part_name(function)].pop(0)

    def time_callable(self, fn, input_shape, *, device="cpu", label="", min_run_time=0.2,
                      num_threads=None):
        threads = torch.get_num_threads() if num_threads is None else num_threads
        self.log.append(("time", part_name(fn), label, device, threads, min_run_time))
        times = self.times[part_name(fn)].pop(0)
        return Timing(median_s=statistics.median(times), iqr_s=0.0, runs=len(times),
                      blocks=len(times), calls_per_block=1, label=label, device=device,
                      device_name="scripted CPU", torch_version=torch.__version__,
                      cuda_version="", cudnn_version="", dtype="float32",
                      memory_format="contiguous", cudnn_benchmark=False,
                      matmul_fp32_precision="ieee", conv_fp32_precision="ieee",
                      mkldnn_fp32_precision="ieee", num_threads=threads,
                      input_shape=tuple(input_shape), times_s=tuple(times))

    def top_kernels(self, fn, x):
        self.log.append(("kernels", part_name(fn), tuple(x.shape)))
        return self.kernels[part_name(fn)]

    def measure_copy_bandwidth(self, device="cpu", megabytes=256, min_run_time=0.5,
                               num_threads=None):
        threads = torch.get_num_threads() if num_threads is None else num_threads
        self.log.append(("copy", device, megabytes, min_run_time, threads))
        return megabytes * 1e9, None  # 1 GB/s per MB of buffer: which buffer is in which column


SHAPE = (1, 4, 5, 6)  # N x C x H x W
DEPTHWISE_TIMES = [(7.0,), (9.0, 9.0), (1.0, 3.0), (2.0,), (5.0, 4.0)]  # before, warm-up, 3 rounds
POINTWISE_TIMES = [(8.0,), (0.5,), (6.0,), (6.5, 7.5), (7.0,)]
KERNELS = {"depthwise": ("aten::copy_", "aten::mkldnn_convolution"), "pointwise": ("aten::mm",)}


def expected_log(shape, rounds, min_run_time):
    """Before at glibc's initial thresholds, allocator fixed, kernels, faults, warm-up, rounds."""
    def time(name):
        return ("time", name, name, "cpu", 1, min_run_time)
    def faults(name):
        return ("faults", name, shape, 50)
    return [("allocator", GLIBC_DEFAULT, GLIBC_DEFAULT),
            faults("depthwise"), time("depthwise"), faults("pointwise"), time("pointwise"),
            ("allocator", 4_000_000, 100_000_000),
            ("kernels", "depthwise", shape), ("kernels", "pointwise", shape),
            faults("depthwise"), faults("pointwise"),
            *[time(name) for _ in range(rounds + 1) for name in ("depthwise", "pointwise")]]


def test_measure_parts_discards_the_warm_up_round_and_pools_the_rest(monkeypatch, tmp_path):
    lab = ScriptedLab(monkeypatch, {"depthwise": list(DEPTHWISE_TIMES),
                                    "pointwise": list(POINTWISE_TIMES)},
                      {"depthwise": [196.0, 0.5], "pointwise": [200.0, 0.25]}, KERNELS)
    threads = torch.get_num_threads()
    rows = separable_timing.measure_parts(SHAPE)  # default: 3 rounds of 0.15 s, no bandwidth
    assert torch.get_num_threads() == threads
    assert lab.log == expected_log(SHAPE, 3, 0.15)
    common = {"num_threads": 1, "device_name": "scripted CPU", "torch_version": torch.__version__,
              "allocator": "scripted mmap_threshold=4000000 trim_threshold=100000000",
              "cache_copy_bytes_per_s": "", "memory_copy_bytes_per_s": "", "command": ""}
    assert rows == [
        {"part": "depthwise", "kernel": "aten::mkldnn_convolution",
         "flops": 2 * 5 * 6 * 4 * 9,  # 2 x (H W C 3 x 3) MACs
         # the row's time: the geometric mean of the rounds' medians 2, 2 and 4.5 (the
         # warm-up's 9 9 left out)
         "median_s": pytest.approx((2 * 2 * 4.5) ** (1 / 3)),
         "rounds": "1 3|2|5 4", "median_s_before": 7.0, "page_faults_per_call_before": 196.0,
         "page_faults_per_call": 0.5, **common},
        {"part": "pointwise", "kernel": "aten::mm",  # no convolution: the top kernel
         "flops": 2 * 5 * 6 * 4 * 4,  # 2 x (H W C C) MACs
         "median_s": pytest.approx((6 * 7 * 7) ** (1 / 3)),  # round medians 6, 7 and 7
         "rounds": "6|6.5 7.5|7", "median_s_before": 8.0, "page_faults_per_call_before": 200.0,
         "page_faults_per_call": 0.25, **common},
    ]
    path = tmp_path / "parts.csv"
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=separable_timing.FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    parts = separable_timing.read_parts(path)
    assert parts["depthwise"]["rounds"] == ((1.0, 3.0), (2.0,), (5.0, 4.0))
    assert parts["pointwise"]["cache_copy_bytes_per_s"] is None  # blank: not measured
    assert parts["pointwise"]["memory_copy_bytes_per_s"] is None


@pytest.mark.parametrize(("shape", "layer_megabytes"), [
    ((1, 55, 100, 250), 6),  # 1 375 000 floats x 4 B = 5.5 MB, rounded half to even: 6
    ((1, 2, 4, 4), 1),  # 128 B: at least 1 MB
])
def test_measure_parts_copies_a_layer_sized_and_a_256_mb_buffer_on_one_thread(
        monkeypatch, shape, layer_megabytes):
    lab = ScriptedLab(monkeypatch, {name: [(1.0,), (1.0,), (2.0,)] for name in KERNELS},
                      {name: [1.0, 0.0] for name in KERNELS}, KERNELS)
    rows = separable_timing.measure_parts(shape, rounds=1, min_run_time=0.01, command="cmd",
                                          bandwidth=True)
    copies = [entry for entry in lab.log if entry[0] == "copy"]
    assert copies == [("copy", "cpu", layer_megabytes, 0.01, 1), ("copy", "cpu", 256, 0.01, 1)]
    assert [entry for entry in lab.log if entry[0] != "copy"] == expected_log(shape, 1, 0.01)
    for row in rows:
        assert row["cache_copy_bytes_per_s"] == layer_megabytes * 1e9
        assert row["memory_copy_bytes_per_s"] == 256 * 1e9
        assert (row["median_s"], row["rounds"], row["command"]) == (2.0, "2", "cmd")


@pytest.mark.parametrize(("kernels", "kernel"), [
    (("aten::copy_", "aten::mkldnn_convolution"), "aten::mkldnn_convolution"),  # the convolution
    (("aten::addmm", "aten::copy_"), "aten::addmm"),  # no convolution: the top kernel
    ((), ""),  # nothing took measurable time
])
def test_kernel_column_names_the_convolution_else_the_top_kernel_else_nothing(
        monkeypatch, kernels, kernel):
    ScriptedLab(monkeypatch, {name: [(1.0,), (1.0,), (1.0,)] for name in KERNELS},
                {name: [1.0, 0.0] for name in KERNELS}, dict.fromkeys(KERNELS, kernels))
    rows = separable_timing.measure_parts(SHAPE, rounds=1)
    assert [row["kernel"] for row in rows] == [kernel, kernel]


def test_uncounted_page_faults_are_blank_cells_like_unmeasured_bandwidth(monkeypatch):
    ScriptedLab(monkeypatch, {name: [(1.0,), (1.0,), (1.0,)] for name in KERNELS},
                {name: [None, None] for name in KERNELS}, KERNELS)  # no getrusage: Windows
    for row in separable_timing.measure_parts(SHAPE, rounds=1):
        assert row["page_faults_per_call_before"] == row["page_faults_per_call"] == ""
        assert row["cache_copy_bytes_per_s"] == ""


@pytest.mark.parametrize(("options", "got"), [
    ({"rounds": 0}, "0, 0.15"),
    ({"min_run_time": 0}, "3, 0"),
    ({"rounds": 2, "min_run_time": -0.5}, "2, -0.5"),
])
def test_measure_parts_refuses_no_rounds_or_no_time(options, got):
    message = f"rounds must be >= 1 and min_run_time > 0, got {got}"
    with pytest.raises(ValueError, match=re.escape(message) + "$"):
        separable_timing.measure_parts(SHAPE, **options)


@pytest.mark.parametrize("faults", [[196.0, 0.5], [None, None]], ids=["counted", "windows"])
def test_the_command_writes_a_file_that_reads_back_field_by_field(monkeypatch, tmp_path, faults):
    ScriptedLab(monkeypatch, {"depthwise": [(7.0,), (9.0,), (1.0, 3.0)],
                              "pointwise": [(8.0,), (9.0,), (6.0,)]},
                {name: list(faults) for name in KERNELS}, KERNELS)
    out = separable_timing.main(["--out", str(tmp_path / "parts.csv"), "--rounds", "1",
                                 "--min-run-time", "0.01"])
    parts = separable_timing.read_parts(out)
    depthwise = parts["depthwise"]
    assert set(depthwise) == set(separable_timing.FIELDS)
    assert depthwise["flops"] == 2 * 28 * 28 * 256 * 9  # MobileNet's layer: 3 612 672
    assert parts["pointwise"]["flops"] == 2 * 28 * 28 * 256 * 256
    assert (depthwise["median_s"], depthwise["rounds"], depthwise["num_threads"]) == \
        (2.0, ((1.0, 3.0),), 1)
    assert depthwise["median_s_before"] == 7.0
    assert depthwise["page_faults_per_call_before"] == faults[0]  # None: the cell was blank
    assert depthwise["page_faults_per_call"] == faults[1]
    assert depthwise["cache_copy_bytes_per_s"] == 1e9  # 256 x 28 x 28 x 4 B = 0.8 MB: 1 MB
    assert depthwise["memory_copy_bytes_per_s"] == 256e9
    assert depthwise["command"] == ("python -m onebyone.perf.separable_timing --out "
                                    f"{tmp_path / 'parts.csv'} --rounds 1 --min-run-time 0.01")
