import pytest
import torch

from onebyone.exercises.checks import (
    ExerciseFailed,
    exact_integer,
    exact_number,
    expect,
    expect_close,
    expect_integer,
    expect_tensor_close,
    passed,
)


def test_failure_is_an_assertion_error_with_the_hint():
    assert issubclass(ExerciseFailed, AssertionError)
    with pytest.raises(ExerciseFailed, match="the hint"):
        expect(False, "the hint")
    expect(True, "never shown")


def test_passed_prints_and_returns_nothing(capsys):
    assert passed("exercise 1") is None
    assert capsys.readouterr().out == "Correct: exercise 1\n"


def test_a_check_cell_shows_one_output_in_ipython():
    """A notebook cell ending in a check shows its "Correct" line and no echoed value ("True")."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    shell = InteractiveShell.instance()
    with capture_output() as captured:
        result = shell.run_cell(
            "from onebyone.exercises import chapter1\n"
            "chapter1.check_bottleneck_parameters(256 * 64 + 64)"
        )
    assert result.success, result.error_in_exec
    assert result.result is None
    assert captured.stdout.startswith("Correct: ")
    assert "True" not in captured.stdout
    assert not captured.outputs  # nothing displayed besides the printed line


def test_expect_integer():
    expect_integer(12, 12, "count")
    expect_integer(torch.tensor(12), 12, "count")
    with pytest.raises(ExerciseFailed, match="count is 13"):
        expect_integer(13, 12, "count")
    with pytest.raises(ExerciseFailed, match="should be a Python int, got float"):
        expect_integer(12.0, 12, "count")
    with pytest.raises(ExerciseFailed, match="got bool"):
        expect_integer(True, 1, "count")


def test_expect_close():
    expect_close(1.0 + 1e-9, 1.0, "ratio")
    expect_close(torch.tensor(2.0), 2.0, "ratio")
    with pytest.raises(ExerciseFailed, match=r"ratio is 1\.1"):
        expect_close(1.1, 1.0, "ratio")
    with pytest.raises(ExerciseFailed, match="ratio should be a number, got str"):
        expect_close("1.0", 1.0, "ratio")


def test_expect_tensor_close():
    expected = torch.arange(6.0).reshape(2, 3)
    expect_tensor_close(expected.clone(), expected, "y")
    with pytest.raises(ExerciseFailed, match=r"y should be a torch\.Tensor, got list"):
        expect_tensor_close([1, 2], expected, "y")
    with pytest.raises(ExerciseFailed, match=r"shape \(3, 2\), expected \(2, 3\)"):
        expect_tensor_close(expected.T, expected, "y")
    with pytest.raises(ExerciseFailed, match=r"wrong values \(largest difference 1\)"):
        expect_tensor_close(expected + 1, expected, "y")
    with pytest.raises(ExerciseFailed, match=r"largest difference 0\.5\)"):
        expect_tensor_close(expected - torch.tensor([0.0, 0.5, 0.25]), expected, "y")


def test_expect_close_default_tolerance_is_one_part_in_a_million():
    expect_close(1e6 + 0.9, 1e6, "count")  # 0.9e-6 relative
    with pytest.raises(ExerciseFailed, match=r"relative tolerance 1e-06\)"):
        expect_close(1e6 + 1.1, 1e6, "count")  # 1.1e-6 relative
    expect_close(1.09, 1.0, "ratio", rel_tol=0.1)
    with pytest.raises(ExerciseFailed, match=r"relative tolerance 0\.1\)"):
        expect_close(1.12, 1.0, "ratio", rel_tol=0.1)  # 0.12 > 0.1 x 1.12


def test_expect_tensor_close_default_tolerances():
    """``|value - expected| <= atol + rtol |expected|`` with rtol 1e-5 and atol 1e-6."""
    large = torch.full((3,), 1000.0, dtype=torch.float64)  # the relative term: 1e-2
    expect_tensor_close(large + 0.009, large, "y")
    with pytest.raises(ExerciseFailed, match="wrong values"):
        expect_tensor_close(large + 0.011, large, "y")
    zero = torch.zeros(3, dtype=torch.float64)  # the absolute term alone: 1e-6
    expect_tensor_close(zero + 0.9e-6, zero, "y")
    with pytest.raises(ExerciseFailed, match="wrong values"):
        expect_tensor_close(zero + 1.1e-6, zero, "y")
    # tolerances passed by name are the ones used
    expect_tensor_close(large + 9.0, large, "y", rtol=1e-2)
    with pytest.raises(ExerciseFailed, match="wrong values"):
        expect_tensor_close(large + 11.0, large, "y", rtol=1e-2)
    expect_tensor_close(zero + 0.09, zero, "y", atol=0.1)
    with pytest.raises(ExerciseFailed, match="wrong values"):
        expect_tensor_close(zero + 0.11, zero, "y", atol=0.1)


def test_a_tensor_in_another_dtype_gets_a_hint_naming_both_dtypes():
    expected = torch.arange(6.0).reshape(2, 3)  # float32
    hint = r"y has dtype torch\.float64, expected torch\.float32"
    with pytest.raises(ExerciseFailed, match=hint):
        expect_tensor_close(expected.double(), expected, "y")
    with pytest.raises(ExerciseFailed, match=r"dtype torch\.int64, expected torch\.float32"):
        expect_tensor_close(expected.long(), expected, "y")
    with pytest.raises(ExerciseFailed, match=r"dtype torch\.float32, expected torch\.float64"):
        expect_tensor_close(expected, expected.double(), "y")


def test_a_meta_tensor_has_no_values_and_is_refused():
    expected = torch.zeros(2, 3)
    with pytest.raises(ExerciseFailed, match="y is on the meta device"):
        expect_tensor_close(torch.zeros(2, 3, device="meta"), expected, "y")
    with pytest.raises(ExerciseFailed, match=r"y has shape \(3, 2\)"):  # shape comes first
        expect_tensor_close(torch.zeros(3, 2, device="meta"), expected, "y")


def test_empty_tensors_and_tensors_needing_grad():
    empty = torch.zeros(0, 3)
    expect_tensor_close(torch.zeros(0, 3), empty, "y")
    with pytest.raises(ExerciseFailed, match=r"shape \(3, 0\), expected \(0, 3\)"):
        expect_tensor_close(torch.zeros(3, 0), empty, "y")
    weight = torch.ones(2, requires_grad=True)
    expect_tensor_close(weight * 1, torch.ones(2), "y")  # detached, no autograd error


class _AlwaysEqualInt(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class _AlwaysCloseFloat(float):
    """A float subclass that lies about itself: ==, __float__."""

    def __eq__(self, other):
        return True

    def __float__(self):
        return 1.0

    __hash__ = float.__hash__


class _AllcloseTensor(torch.Tensor):
    """A tensor subclass whose torch functions all answer True."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return True


def test_exact_integer_refuses_subclasses_bools_and_tensor_tricks():
    assert exact_integer(12) == 12 and exact_integer(torch.tensor(12)) == 12
    for sneaky in (_AlwaysEqualInt(3), True, 12.0, torch.tensor(True), torch.tensor([1, 2])):
        assert exact_integer(sneaky) is None
    with pytest.raises(ExerciseFailed, match="should be a Python int, got _AlwaysEqualInt"):
        expect_integer(_AlwaysEqualInt(3), 12, "count")


def test_exact_number_reads_a_float_subclass_by_its_stored_value():
    import numpy as np

    assert exact_number(np.float64(0.5)) == 0.5 and type(exact_number(np.float64(0.5))) is float
    assert exact_number(_AlwaysCloseFloat(2.0)) == 2.0  # neither __eq__ nor __float__ is asked
    expect_close(np.float64(1.0), 1.0, "ratio")
    with pytest.raises(ExerciseFailed, match=r"ratio is 2\.0, which is not right"):
        expect_close(_AlwaysCloseFloat(2.0), 1.0, "ratio")
    for refused in (True, "1.0", _AlwaysEqualInt(1)):
        assert exact_number(refused) is None


def test_mistakes_get_their_hint_and_scales_are_recognised():
    mistakes = [(24, "twice"), (3, "a third")]
    with pytest.raises(ExerciseFailed, match=r"count is 24, which is not right: twice$"):
        expect_integer(24, 12, "count", mistakes)
    with pytest.raises(ExerciseFailed, match=r"recount it$"):
        expect_integer(13, 12, "count", mistakes)
    for thousands in (12_345, 12_346):
        with pytest.raises(ExerciseFailed, match="in thousands"):
            expect_integer(thousands, 12_345_678, "count")
    with pytest.raises(ExerciseFailed, match="in millions"):
        expect_integer(12, 12_345_678, "count")
    with pytest.raises(ExerciseFailed, match=r"^upside down$"):
        expect_close(2.0, 0.5, "ratio", mistakes=[(2.0, "upside down")])


def test_expect_tensor_close_compares_plain_tensors_only():
    expected = torch.zeros(2)
    sneaky = torch.ones(2).as_subclass(_AllcloseTensor)
    with pytest.raises(ExerciseFailed, match=r"plain torch\.Tensor, got the subclass _Allclose"):
        expect_tensor_close(sneaky, expected, "y")
    expect_tensor_close(torch.nn.Parameter(torch.zeros(2)), expected, "y")  # a Parameter will do
