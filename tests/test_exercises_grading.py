"""``fresh_check`` grades with the package's own code even after a notebook replaced a check.

Each test runs in a child process: reloading the modules replaces ``ExerciseFailed`` there, and
the other tests of this session must keep the class they imported.
"""

import subprocess
import sys
import textwrap


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120)


def test_replaced_check_and_helper_are_restored():
    result = _run("""
        from onebyone.exercises import chapter1, checks
        from onebyone.exercises.grading import fresh_check

        chapter1.check_pointwise_macs = lambda answer: None  # what a notebook could do
        checks.expect = lambda condition, hint: None
        try:
            fresh_check("chapter1", "check_pointwise_macs")(1)
        except AssertionError as error:
            print("refused:", error)
    """)
    assert result.returncode == 0, result.stderr
    assert "refused: the number of multiply-accumulates (MACs) is 1" in result.stdout


def test_fresh_check_accepts_a_right_answer_and_names_unknown_checks():
    result = _run("""
        from onebyone.exercises.grading import fresh_check

        fresh_check("chapter1", "check_pointwise_macs")(14 * 14 * 512 * 128)
        fresh_check("chapter1", "check_that_does_not_exist")
    """)
    assert "Correct: H * W * C_in * C_out" in result.stdout
    assert "has no attribute 'check_that_does_not_exist'" in result.stderr


def test_call_check_passes_the_hidden_seed_only_to_checks_that_take_it():
    from onebyone.exercises.grading import call_check

    seen = []

    def before_the_seed(answer):
        seen.append(("before", answer))

    def with_the_seed(answer, *, hidden_seed=None):
        seen.append(("with", answer, hidden_seed))

    def with_options(answer, **options):
        seen.append(("options", answer, options))

    call_check(before_the_seed, 1, hidden_seed=5)
    call_check(with_the_seed, 2, hidden_seed=5)
    call_check(with_the_seed, 3)
    call_check(with_options, 4, hidden_seed=6)
    assert seen == [("before", 1), ("with", 2, 5), ("with", 3, None),
                    ("options", 4, {"hidden_seed": 6})]
