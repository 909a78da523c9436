import pytest
import torch

from onebyone.exercises.checks import (
    ExerciseFailed,
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
    with pytest.raises(ExerciseFailed, match="should be a number"):
        expect_close("1.0", 1.0, "ratio")


def test_expect_tensor_close():
    expected = torch.arange(6.0).reshape(2, 3)
    expect_tensor_close(expected.clone(), expected, "y")
    with pytest.raises(ExerciseFailed, match=r"should be a torch\.Tensor"):
        expect_tensor_close([1, 2], expected, "y")
    with pytest.raises(ExerciseFailed, match=r"shape \(3, 2\), expected \(2, 3\)"):
        expect_tensor_close(expected.T, expected, "y")
    with pytest.raises(ExerciseFailed, match="largest difference 1"):
        expect_tensor_close(expected + 1, expected, "y")
