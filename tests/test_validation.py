import pytest

from onebyone.validation import check_positive_integers


def test_positive_integers_pass():
    check_positive_integers(channels=1, height=28)


@pytest.mark.parametrize("bad", [0, -3, 2.0, True, "4", None])
def test_anything_else_is_refused_by_name(bad):
    with pytest.raises(ValueError, match=r"^width must be a positive integer, got "):
        check_positive_integers(height=2, width=bad)
