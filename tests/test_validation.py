"""Tests for onebyone.validation: every check names the argument and returns the value typed."""

import numpy as np
import pytest
import torch
from torch import nn

from onebyone import validation
from onebyone.validation import check_positive_integers


def test_positive_integers_pass_and_come_back_as_plain_ints():
    assert check_positive_integers(channels=1, height=np.int64(28)) == (1, 28)
    assert type(validation.positive_integer("n", np.int32(3))) is int


@pytest.mark.parametrize("bad", [0, -3])
def test_non_positive_values_are_value_errors(bad):
    with pytest.raises(ValueError, match=rf"^width must be a positive integer, got {bad}$"):
        check_positive_integers(height=2, width=bad)


@pytest.mark.parametrize("bad", [2.0, True, np.True_, "4", None, np.float64(4)])
def test_non_integers_are_type_errors(bad):
    with pytest.raises(TypeError, match=r"^width must be an integer, got "):
        check_positive_integers(height=2, width=bad)


def test_non_negative_integer_accepts_zero_only_from_below():
    assert validation.non_negative_integer("padding", 0) == 0
    with pytest.raises(ValueError, match="padding must be a non-negative integer, got -1"):
        validation.non_negative_integer("padding", -1)


def test_integer_pair_reads_both_forms():
    assert validation.integer_pair("stride", np.int64(2)) == (2, 2)
    assert validation.integer_pair("stride", [1, 3]) == (1, 3)
    assert validation.integer_pair("padding", (0, 1), minimum=0) == (0, 1)
    with pytest.raises(ValueError, match=r"padding must be at least 0 on each axis, got \(0, -1\)"):
        validation.integer_pair("padding", (0, -1), minimum=0)
    with pytest.raises(ValueError, match=r"stride must be an integer or a pair"):
        validation.integer_pair("stride", (1, 2, 3))
    with pytest.raises(TypeError, match="stride must be an integer or a pair"):
        validation.integer_pair("stride", "11")
    with pytest.raises(TypeError, match=r"stride must be an integer, got 1\.5"):
        validation.integer_pair("stride", (1, 1.5))


def test_probability_bounds():
    assert validation.probability("dropout", 0) == 0.0
    assert validation.probability("fraction", 1, include_one=True) == 1.0
    with pytest.raises(ValueError, match=r"dropout must be a probability in \[0, 1\), got 1"):
        validation.probability("dropout", 1)
    with pytest.raises(ValueError, match="dropout must be finite"):
        validation.probability("dropout", float("nan"))
    with pytest.raises(TypeError, match="dropout must be a real number"):
        validation.probability("dropout", "0.5")


def test_positive_number_refuses_nan_zero_and_infinity():
    assert validation.positive_number("min_run_time", np.float32(0.5)) == 0.5
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="min_run_time must be"):
            validation.positive_number("min_run_time", bad)
    with pytest.raises(TypeError, match="min_run_time must be a real number"):
        validation.positive_number("min_run_time", True)


def test_odd_kernel_and_boolean():
    assert validation.odd_kernel("kernel_size", 5) == 5
    with pytest.raises(ValueError, match=r"kernel_size must be odd .* got 4"):
        validation.odd_kernel("kernel_size", 4)
    assert validation.boolean("bias", np.False_) is False
    with pytest.raises(TypeError, match="bias must be True or False, got 'no'"):
        validation.boolean("bias", "no")


def test_module_tensor_and_shape():
    conv = nn.Conv2d(1, 1, 1)
    assert validation.module("conv", conv, nn.Conv2d) is conv
    with pytest.raises(TypeError, match="conv must be an instance of Conv2d or Linear, got str"):
        validation.module("conv", "conv", (nn.Conv2d, nn.Linear))
    with pytest.raises(TypeError, match=r"x must be a torch\.Tensor, got list"):
        validation.tensor("x", [1.0])
    assert validation.shape("input_shape", torch.Size([1, 3])) == (1, 3)
    with pytest.raises(ValueError, match="input_shape must have 4 sizes"):
        validation.shape("input_shape", (1, 3), dims=4)
    with pytest.raises(ValueError, match=r"input_shape\[1\] must be a positive integer"):
        validation.shape("input_shape", (1, 0))
    with pytest.raises(TypeError, match="input_shape must be a tuple of sizes"):
        validation.shape("input_shape", 3)


def test_tensor_shape_names_both_shapes():
    validation.tensor_shape("x", torch.zeros(2, 3, 4, 5), ("N", 3, "H", "W"))
    validation.tensor_shape("x", torch.zeros(2, 7, 8), ("...", 8))
    with pytest.raises(ValueError, match=r"^Net: x must be N x 192 x H x W, got 1 x 3 x 28 x 28$"):
        validation.tensor_shape("x", torch.zeros(1, 3, 28, 28), ("N", 192, "H", "W"), owner="Net")
    with pytest.raises(ValueError, match=r"x must be N x 3 x H x W, got 3 x 28 x 28"):
        validation.tensor_shape("x", torch.zeros(3, 28, 28), ("N", 3, "H", "W"))
    with pytest.raises(ValueError, match=r"x must be \.\.\. x 8, got 2 x 7"):
        validation.tensor_shape("x", torch.zeros(2, 7), ("...", 8))
    with pytest.raises(ValueError, match=r"got a 0-D tensor"):
        validation.tensor_shape("x", torch.tensor(1.0), ("...", 8))


def test_probability_bounds_and_the_interval_named():
    from onebyone import validation

    assert validation.probability("p", 0.0, include_one=True) == 0.0
    assert validation.probability("p", 1.0, include_one=True) == 1.0
    assert validation.probability("p", 0.5, include_one=True) == 0.5
    with pytest.raises(ValueError, match=r"^p must be a probability in \[0, 1\], got 1\.5$"):
        validation.probability("p", 1.5, include_one=True)
    with pytest.raises(ValueError, match=r"^p must be a probability in \[0, 1\), got 1\.0$"):
        validation.probability("p", 1.0)
    with pytest.raises(TypeError, match=r"^layers must be a list, got int: 5"):
        validation.items("layers", 5)


@pytest.mark.parametrize(
    ("bad", "type_name"), [(2.5, "float"), ("4", "str"), (None, "NoneType"), (True, "bool")]
)
def test_type_errors_name_the_type_that_was_given(bad, type_name):
    with pytest.raises(TypeError, match=rf"^n must be an integer, got {bad!r} \({type_name}\)$"):
        validation.integer("n", bad)
    if type_name != "float":
        with pytest.raises(TypeError, match=rf"^t must be a real number, got .* \({type_name}\)$"):
            validation.real_number("t", bad)


def test_tensor_shape_without_an_owner_starts_with_the_argument():
    with pytest.raises(ValueError, match=r"^x must be N x 3 x H x W, got 3 x 28 x 28$"):
        validation.tensor_shape("x", torch.zeros(3, 28, 28), ("N", 3, "H", "W"))
    with pytest.raises(ValueError, match=r"^x must be N x 3 x H x W, got 2 x 4 x 28 x 28$"):
        validation.tensor_shape("x", torch.zeros(2, 4, 28, 28), ("N", 3, "H", "W"), owner="")


def test_leading_axes_alone_need_at_least_one_axis():
    validation.tensor_shape("x", torch.zeros(3), ("...",))
    validation.tensor_shape("x", torch.zeros(2, 3, 4), ("...",))
    with pytest.raises(ValueError, match=r"^x must be \.\.\., got a 0-D tensor$"):
        validation.tensor_shape("x", torch.tensor(1.0), ("...",))


@pytest.mark.parametrize("huge", [2**63, 10**30, -(2**63) - 1, np.uint64(2**63)])
def test_integers_beyond_64_bits_are_refused_by_name(huge):
    # issue 23: PyTorch's "Overflow when unpacking long long" named no argument
    for check in (validation.integer, validation.positive_integer,
                  validation.non_negative_integer, validation.integer_pair):
        with pytest.raises(ValueError, match=r"^channels must fit in a 64-bit integer"):
            check("channels", huge)
    assert validation.positive_integer("channels", 2**63 - 1) == 2**63 - 1
    with pytest.raises(ValueError, match=r"^size\[1\] must fit in a 64-bit integer"):
        validation.shape("size", (1, 10**30))


def test_seeds_and_threads_have_the_ranges_of_their_generators_and_of_torch():
    assert validation.seed("seed", 2**32 - 1) == 2**32 - 1
    assert validation.seed("seed", 0) == 0
    with pytest.raises(ValueError, match=r"^seed must be at most 4,294,967,295 \(NumPy and "
                                         r"scikit-learn take 32-bit seeds\), got 4294967296$"):
        validation.seed("seed", 2**32)
    with pytest.raises(ValueError, match=r"^seed must be a non-negative integer"):
        validation.seed("seed", -1)
    assert validation.threads("num_threads", 2**31 - 1) == 2**31 - 1
    with pytest.raises(ValueError, match=r"^num_threads must be at most 2,147,483,647"):
        validation.threads("num_threads", 2**31)
    with pytest.raises(ValueError, match=r"^num_threads must be a positive integer"):
        validation.threads("num_threads", 0)


def test_dtypes_and_devices_are_checked_by_name():
    assert validation.dtype("dtype", torch.float16) is torch.float16
    with pytest.raises(TypeError, match=r"^dtype must be a torch\.dtype such as torch\.float32, "
                                        r"got str: 'float32'$"):
        validation.dtype("dtype", "float32")
    assert validation.device("device", "cpu") == torch.device("cpu")
    assert validation.device("device", torch.device("meta")) == torch.device("meta")
    with pytest.raises(ValueError, match=r"^device must name a device such as 'cpu' or 'cuda:0', "
                                         r"got 'gpu'$"):
        validation.device("device", "gpu")
    with pytest.raises(TypeError, match=r"^device must be a torch\.device or a string"):
        validation.device("device", 0)
