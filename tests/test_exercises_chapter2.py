"""The Chapter 2 checks accept right answers (worked out by hand here) and reject wrong ones."""

import pytest

from onebyone.exercises import chapter2
from onebyone.exercises.checks import ExerciseFailed


def _hint(check, answer) -> str:
    """The hint that ``check`` gives for a wrong ``answer``."""
    with pytest.raises(ExerciseFailed) as failure:
        check(answer)
    return str(failure.value)


def test_inception_3x3_branch_macs(capsys):
    right = 28 * 28 * 192 * 96 + 28 * 28 * 96 * 128 * 9
    assert chapter2.check_inception_3x3_branch_macs(right) is None
    assert capsys.readouterr().out == (
        "Correct: H * W * (C_in * r + r * k^2 * C_out) multiply-accumulates\n")
    assert _hint(chapter2.check_inception_3x3_branch_macs, right + 1) == (
        f"the branch's multiply-accumulates (MACs, one image) is {right + 1:,}, which is not "
        "right: recount it")
    with pytest.raises(ExerciseFailed, match="not right"):
        chapter2.check_inception_3x3_branch_macs(28 * 28 * 192 * 128 * 9)  # the direct 3x3
    with pytest.raises(ExerciseFailed, match="not right"):
        chapter2.check_inception_3x3_branch_macs(2 * right)  # FLOPs, not MACs
    with pytest.raises(ExerciseFailed, match="Python int"):
        chapter2.check_inception_3x3_branch_macs(float(right))


def test_break_even_width(capsys):
    # 256 * 9 * 256 / (256 + 9 * 256) = 589,824 / 2,560 = 230.4, so 231
    assert chapter2.check_break_even_width(231) is None
    assert capsys.readouterr().out == (
        "Correct: the saving disappears from r = C_in k^2 C_out / (C_in + k^2 C_out) up\n")
    assert _hint(chapter2.check_break_even_width, 230) == (
        "the break-even width (channels) is 230, which is not right: recount it")
    with pytest.raises(ExerciseFailed, match="not right"):
        chapter2.check_break_even_width(230)  # rounded down: still a (small) saving


def test_resnet_bottleneck_parameters(capsys):
    assert chapter2.check_resnet_bottleneck_parameters(256 * 64 + 9 * 64 * 64 + 64 * 256) is None
    assert capsys.readouterr().out == "Correct: the three weight tensors of the bottleneck block\n"
    assert _hint(chapter2.check_resnet_bottleneck_parameters, 256 * 64 + 64 * 64 + 64 * 256) == (
        "the block's parameters (weights only, no biases) is 36,864, which is not right: "
        "recount it")  # the 3x3 convolution counted as a 1x1
    with pytest.raises(ExerciseFailed, match="not right"):
        chapter2.check_resnet_bottleneck_parameters(
            256 * 64 + 9 * 64 * 64 + 64 * 256 + 64 + 64 + 256
        )


def _right(c_in, c_out, k, h, w, r):
    return h * w * r * (c_in + k * k * c_out)


def test_bottleneck_macs_function(capsys):
    right = _right

    def fitted_to_one_example(c_in, c_out, k, h, w, r):
        return 28 * 28 * r * (c_in + k * k * c_out)  # the image size of the first case only

    assert chapter2.check_bottleneck_macs_function(right) is None
    assert capsys.readouterr().out == (
        "Correct: H * W * r * (C_in + k^2 C_out) for every layer tried\n")
    with pytest.raises(ExerciseFailed, match=r"bottleneck_macs\(256, 256, 3, 14, 14, 64\)"):
        chapter2.check_bottleneck_macs_function(fitted_to_one_example)
    with pytest.raises(ExerciseFailed, match="should be a Python int"):
        chapter2.check_bottleneck_macs_function(lambda *sizes: float(right(*sizes)))
    with pytest.raises(ExerciseFailed, match="raised ZeroDivisionError"):
        chapter2.check_bottleneck_macs_function(lambda *sizes: 1 // 0)


def _flops(c_in, c_out, k, h, w, r):
    return 2 * _right(c_in, c_out, k, h, w, r)  # FLOPs, not MACs


def _three_by_three_only(c_in, c_out, k, h, w, r):
    return h * w * r * (c_in + 9 * c_out)  # k^2 = 9 typed in


def _two_one_by_ones_as_one(c_in, c_out, k, h, w, r):
    """For k = 1, counts the two 1x1 convolutions as the one they compose to, C_in -> C_out."""
    return h * w * c_in * c_out if k == 1 else _right(c_in, c_out, k, h, w, r)


@pytest.mark.parametrize(("wrong", "case"), [
    (_flops, (192, 128, 3, 28, 28, 96)),  # wrong on the first layer tried, Inception (3a)'s
    (_three_by_three_only, (480, 48, 5, 14, 7, 16)),  # the first 5x5 layer tried
    (_two_one_by_ones_as_one, (3, 8, 1, 5, 9, 2)),  # the 1x1 layer tried
])
def test_bottleneck_macs_function_hint_names_the_layer_and_the_wrong_count(wrong, case):
    assert _hint(chapter2.check_bottleneck_macs_function, wrong) == (
        f"bottleneck_macs{case} is {wrong(*case):,}, which is not right: recount it")
