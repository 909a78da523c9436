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
        "the break-even width (channels) is 230, which is not right: at that width the pair "
        "still saves a few MACs: the bound r* is not a whole number")
    assert _hint(chapter2.check_break_even_width, 232).endswith("recount it")
    with pytest.raises(ExerciseFailed, match="not right"):
        chapter2.check_break_even_width(230)  # rounded down: still a (small) saving


def test_resnet_bottleneck_parameters(capsys):
    assert chapter2.check_resnet_bottleneck_parameters(256 * 64 + 9 * 64 * 64 + 64 * 256) is None
    assert capsys.readouterr().out == "Correct: the three weight tensors of the bottleneck block\n"
    assert _hint(chapter2.check_resnet_bottleneck_parameters, 256 * 64 + 64 * 64 + 64 * 256) == (
        "the block's parameters (weights only, no biases) is 36,864, which is not right: "
        f"{NO_K_SQUARED}")  # the 3x3 convolution counted as a 1x1
    assert _hint(chapter2.check_resnet_bottleneck_parameters,
                 256 * 64 + 9 * 64 * 64 + 64 * 256 + 64 + 64 + 256).endswith(
        "the question leaves the biases out: count the weights only")
    assert "in thousands" in _hint(chapter2.check_resnet_bottleneck_parameters, 70)
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


NO_K_SQUARED = ("a k x k convolution does k^2 multiply-accumulates per input channel and output "
                "channel: is k^2 there?")
FLOPS = "that is twice the MAC count: did you count FLOPs (two per multiply-accumulate)?"
DIRECT = "that is the direct convolution on all the input channels: the branch reduces first"


def _no_k_squared(c_in, c_out, k, h, w, r):
    return h * w * r * (c_in + c_out)


def _reduction_forgotten(c_in, c_out, k, h, w, r):
    return h * w * r * k * k * c_out


def _per_pixel(c_in, c_out, k, h, w, r):
    return r * (c_in + k * k * c_out)


@pytest.mark.parametrize(("wrong", "case", "hint"), [
    (_flops, (192, 128, 3, 28, 28, 96), FLOPS),  # wrong on the first layer, Inception (3a)'s
    (_three_by_three_only, (480, 48, 5, 14, 7, 16), "recount it"),  # the first 5x5 layer
    (_two_one_by_ones_as_one, (3, 8, 1, 5, 9, 2), DIRECT),  # the 1x1 layer tried
    (_no_k_squared, (192, 128, 3, 28, 28, 96), NO_K_SQUARED),
    (_reduction_forgotten, (192, 128, 3, 28, 28, 96), "add the 1x1 reduction's "
                                                      "multiply-accumulates"),
    (_per_pixel, (192, 128, 3, 28, 28, 96), "that is the count for one pixel: multiply by the "
                                            "output's height and width"),
])
def test_bottleneck_macs_function_hint_names_the_layer_and_the_wrong_count(wrong, case, hint):
    assert _hint(chapter2.check_bottleneck_macs_function, wrong) == (
        f"bottleneck_macs{case} is {wrong(*case):,}, which is not right: {hint}")


def test_inception_3x3_branch_hints():
    right = 28 * 28 * 192 * 96 + 28 * 28 * 96 * 128 * 9
    check = chapter2.check_inception_3x3_branch_macs
    assert _hint(check, 2 * right).endswith(FLOPS)
    assert _hint(check, 28 * 28 * 192 * 128 * 9).endswith(DIRECT)
    assert _hint(check, 28 * 28 * (192 * 96 + 96 * 128)).endswith(NO_K_SQUARED)
    assert _hint(check, 28 * 28 * 96 * 128 * 9).endswith("add the 1x1 reduction's "
                                                         "multiply-accumulates")
    assert _hint(check, 28 * 28 * 192 * 96).endswith("add the 3x3 convolution's "
                                                     "multiply-accumulates")
    assert "in millions" in _hint(check, right // 1_000_000)


def _package(c_in, c_out, k, h, w, r):
    from onebyone.bottleneck import compare_bottleneck as compare  # aliased, as a cell might

    return compare(c_in, c_out, k, h, w, reduced_channels=r).bottleneck.macs


def _package_cost(c_in, c_out, k, h, w, r):
    from onebyone import cost

    return (cost.conv2d_macs(c_in, r, 1, output_size=(h, w))
            + cost.conv2d_macs(r, c_out, k, output_size=(h, w)))


def test_bottleneck_macs_function_refuses_the_package():
    assert _hint(chapter2.check_bottleneck_macs_function, _package).startswith(
        "bottleneck_macs(192, 128, 3, 28, 28, 96) called "
        "onebyone.bottleneck.compare_bottleneck")
    hint = _hint(chapter2.check_bottleneck_macs_function, _package_cost)
    assert "onebyone.cost.conv2d_macs" in hint
    assert hint.endswith(": write the formula yourself, without the package's bottleneck and "
                         "cost modules")


def _lookup_table(c_in, c_out, k, h, w, r):
    """Knows the layers the check shows, and nothing else."""
    known = {case: _right(*case) for case in [(192, 128, 3, 28, 28, 96), (256, 256, 3, 14, 14, 64),
                                              (480, 48, 5, 14, 7, 16), (3, 8, 1, 5, 9, 2)]}
    return known.get((c_in, c_out, k, h, w, r), 0)


@pytest.mark.parametrize("hidden_seed", [0, 1, 2])
def test_bottleneck_macs_function_hidden_seed(hidden_seed):
    assert chapter2.check_bottleneck_macs_function(_lookup_table) is None
    with pytest.raises(ExerciseFailed, match="which is not right"):
        chapter2.check_bottleneck_macs_function(_lookup_table, hidden_seed=hidden_seed)
    assert chapter2.check_bottleneck_macs_function(_right, hidden_seed=hidden_seed) is None


class _AlwaysEqual(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


def test_integer_answers_must_be_exactly_int():
    for check in (chapter2.check_inception_3x3_branch_macs, chapter2.check_break_even_width,
                  chapter2.check_resnet_bottleneck_parameters):
        assert "should be a Python int, got _AlwaysEqual" in _hint(check, _AlwaysEqual(1))
    assert "should be a Python int, got _AlwaysEqual" in _hint(
        chapter2.check_bottleneck_macs_function, lambda *sizes: _AlwaysEqual(1))
