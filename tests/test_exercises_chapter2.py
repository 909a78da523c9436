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


def test_bottleneck_macs_function():
    def right(c_in, c_out, k, h, w, r):
        return h * w * r * (c_in + k * k * c_out)

    def fitted_to_one_example(c_in, c_out, k, h, w, r):
        return 28 * 28 * r * (c_in + k * k * c_out)  # the image size of the first case only

    assert chapter2.check_bottleneck_macs_function(right) is None
    with pytest.raises(ExerciseFailed, match=r"bottleneck_macs\(256, 256, 3, 14, 14, 64\)"):
        chapter2.check_bottleneck_macs_function(fitted_to_one_example)
    with pytest.raises(ExerciseFailed, match="should be a Python int"):
        chapter2.check_bottleneck_macs_function(lambda *sizes: float(right(*sizes)))
    with pytest.raises(ExerciseFailed, match="raised ZeroDivisionError"):
        chapter2.check_bottleneck_macs_function(lambda *sizes: 1 // 0)
