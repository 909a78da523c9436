"""The separable-layer timing: rows, kernel names, the file round trip, bad arguments."""

import math

import pytest

from onebyone.cost import model_macs
from onebyone.perf import separable_timing


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
        ",".join(separable_timing.FIELDS) + "\ndepthwise,k,1,1.0,1,1,cpu,2,c\n")
    with pytest.raises(ValueError, match="one depthwise and one pointwise"):
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
