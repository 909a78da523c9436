"""The Chapter 1 checks accept right answers and reject wrong ones."""

import copy

import pytest
import torch
import torch.nn.functional as F

from onebyone.exercises import chapter1
from onebyone.exercises.checks import ExerciseFailed


def _said(capsys) -> str:
    """What a check printed, its wrapped lines joined back (checks.passed wraps at 78)."""
    return capsys.readouterr().out.replace("\n  ", " ")



def test_parameters(capsys):
    assert chapter1.check_bottleneck_parameters(256 * 64 + 64) is None
    assert _said(capsys) == (
        "Correct: a 1x1 convolution from 256 to 64 channels has C_in*C_out + C_out parameters\n")
    with pytest.raises(ExerciseFailed):
        chapter1.check_bottleneck_parameters(256 * 64)  # biases forgotten


def test_parameters_hint_names_what_was_counted():
    weights_only = 256 * 64  # biases forgotten
    assert _hint(chapter1.check_bottleneck_parameters, weights_only) == (
        "the parameter count (weights and biases) is 16,384, which is not right: that leaves "
        "the biases out: nn.Conv2d has one per output channel unless bias=False")
    assert _hint(chapter1.check_bottleneck_parameters, 256 * 64 + 256).endswith(
        "one bias per output channel, not per input channel")
    assert _hint(chapter1.check_bottleneck_parameters, 16).endswith(
        "that looks like the count in thousands: give the number itself, every digit of it, "
        "as an int")
    assert _hint(chapter1.check_bottleneck_parameters, 16_449).endswith("recount it")


class _AlwaysEqual(int):
    """An int that says it equals anything."""

    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


@pytest.mark.parametrize("check", [chapter1.check_bottleneck_parameters,
                                   chapter1.check_pointwise_macs])
def test_integer_answers_must_be_exactly_int(check):
    for sneaky in (_AlwaysEqual(0), True, 16448.0, torch.tensor(True)):
        assert "should be a Python int" in _hint(check, sneaky)


def _hint(check, *answer) -> str:
    """The hint that ``check`` gives for a wrong ``answer``."""
    with pytest.raises(ExerciseFailed) as failure:
        check(*answer)
    return str(failure.value)


def test_macs(capsys):
    assert chapter1.check_pointwise_macs(14 * 14 * 512 * 128) is None
    assert _said(capsys) == "Correct: H * W * C_in * C_out multiply-accumulates\n"
    flops = 2 * 14 * 14 * 512 * 128  # FLOPs, not MACs
    assert _hint(chapter1.check_pointwise_macs, flops) == (
        f"the number of multiply-accumulates (MACs) is {flops:,}, which is not right: that is "
        "twice the MAC count: did you count FLOPs (two per multiply-accumulate)?")
    assert _hint(chapter1.check_pointwise_macs, 512 * 128).endswith(
        "that is the count for one pixel: multiply by the output's height and width")
    with_bias = 14 * 14 * (512 * 128 + 128)
    assert "a bias is added, not multiplied" in _hint(chapter1.check_pointwise_macs, with_bias)
    for millions in (12, 13):  # 12,845,056 MACs
        assert "in millions" in _hint(chapter1.check_pointwise_macs, millions)
    assert "in thousands" in _hint(chapter1.check_pointwise_macs, 12_845)


def _right(x, weight, bias):
    n, c, h, w = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(-1, c)  # (N*H*W) x C_in
    return (rows @ weight.T + bias).reshape(n, h, w, -1).permute(0, 3, 1, 2)


def _conv2d(x, weight, bias):
    return F.conv2d(x, weight[:, :, None, None], bias)


def _einsum(x, weight, bias):
    return torch.einsum("nchw,oc->nohw", x, weight) + bias[:, None, None]


def _hidden_conv2d(x, weight, bias):
    convolve = getattr(torch.nn.functional, "conv" + "2d")
    return convolve(x, weight[:, :, None, None], bias)


def _conv_module(x, weight, bias):
    conv = torch.nn.Conv2d(weight.shape[1], weight.shape[0], 1, dtype=x.dtype)
    with torch.no_grad():
        conv.weight.copy_(weight[:, :, None, None])
        conv.bias.copy_(bias)
    return conv(x)


def _height_width_swapped(x, weight, bias):
    n, c, h, w = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(-1, c)
    return (rows @ weight.T + bias).reshape(n, w, h, -1).permute(0, 3, 1, 2)


def _no_bias(x, weight, bias):
    n, c, h, w = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(-1, c)
    return (rows @ weight.T).reshape(n, h, w, -1).permute(0, 3, 1, 2)


def _crashes(x, weight, bias):
    raise RuntimeError("shape mismatch")


def test_pointwise_function(capsys):
    assert chapter1.check_pointwise_function(_right) is None
    assert _said(capsys) == (
        "Correct: pointwise(x, weight, bias) agrees with F.conv2d(kernel_size=1), "
        "with no convolution\n")
    for wrong in (_height_width_swapped, _no_bias):
        with pytest.raises(ExerciseFailed):
            chapter1.check_pointwise_function(wrong)
    with pytest.raises(ExerciseFailed, match="raised RuntimeError: shape mismatch"):
        chapter1.check_pointwise_function(_crashes)


def test_swapped_height_width_is_really_wrong_on_non_square_images():
    x = torch.randn(1, 2, 3, 4)
    weight, bias = torch.randn(2, 2), torch.randn(2)
    assert _height_width_swapped(x, weight, bias).shape != _right(x, weight, bias).shape


@pytest.mark.parametrize("cheat", [_conv2d, _einsum, _hidden_conv2d, _conv_module])
def test_pointwise_function_refuses_convolution_and_einsum(cheat):
    with pytest.raises(ExerciseFailed, match=r"without any convolution, einsum, F\.linear"):
        chapter1.check_pointwise_function(cheat)


NO_CONVOLUTION = (": write it with a matrix product (@) and reshapes, without any convolution, "
                  "einsum, F.linear or the package")


def test_pointwise_function_hint_lists_every_forbidden_operation():
    assert _hint(chapter1.check_pointwise_function, _einsum) == (
        f"pointwise called einsum{NO_CONVOLUTION}")
    # F.conv2d is seen as called, then the ATen operator(s) it dispatches to
    hint = _hint(chapter1.check_pointwise_function, _conv2d)
    assert hint.startswith("pointwise called conv2d, ")
    assert hint.endswith(NO_CONVOLUTION)


def _channels_last(x, weight, bias):
    """Forgets to permute back: returns N x H x W x C_out."""
    n, c, h, w = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(-1, c)  # (N*H*W) x C_in
    return (rows @ weight.T + bias).reshape(n, h, w, -1)


def _dot_product_without_keepdim(x, weight, bias):
    """A special case for one output channel, a sum over channels that drops their dimension."""
    if weight.shape[0] == 1:
        return (x * weight.view(1, -1, 1, 1)).sum(1) + bias  # N x H x W
    return _right(x, weight, bias)


def _float32_inside(x, weight, bias):
    """Computes in float32 and hands back float64: errors of about 1e-7, float32's precision."""
    return _right(x.float(), weight.float(), bias.float()).double()


def test_pointwise_function_hints_name_the_input_tried():
    """Each hint names the shape of x on which the answer went wrong: the first shape tried
    (a batch of one, square), the second (non-square), the third (one output channel)."""
    assert _hint(chapter1.check_pointwise_function, _channels_last) == (
        "pointwise(x, weight, bias) for x of shape (1, 3, 4, 4) has shape (1, 4, 4, 2), "
        "expected (1, 2, 4, 4)")
    assert _hint(chapter1.check_pointwise_function, _height_width_swapped) == (
        "pointwise(x, weight, bias) for x of shape (2, 5, 3, 6) has shape (2, 7, 6, 3), "
        "expected (2, 7, 3, 6)")
    assert _hint(chapter1.check_pointwise_function, _dot_product_without_keepdim) == (
        "pointwise(x, weight, bias) for x of shape (3, 8, 1, 2) has shape (3, 1, 2), "
        "expected (3, 1, 1, 2)")


def test_pointwise_function_compares_at_float64_precision():
    """An answer computed in float32 is off by about 1e-7, far above the check's 1e-10."""
    assert _hint(chapter1.check_pointwise_function, _float32_inside).startswith(
        "pointwise(x, weight, bias) for x of shape (1, 3, 4, 4) has the right shape but wrong "
        "values")


def _pointwise_tried_under_global_seed(seed):
    tried = []

    def pointwise(x, weight, bias):
        tried.append((x.clone(), weight.clone(), bias.clone()))
        return _right(x, weight, bias)

    torch.manual_seed(seed)
    chapter1.check_pointwise_function(pointwise)
    return tried


def test_pointwise_function_tries_the_same_inputs_whatever_the_notebook_seeded():
    """The check draws x, weight and bias from its own generator, not torch's global one."""
    tried_0, tried_1 = map(_pointwise_tried_under_global_seed, (0, 1))
    assert len(tried_0) == 3
    for first, second in zip(tried_0, tried_1, strict=True):
        assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def _linear_copy(conv):
    linear = torch.nn.Linear(conv.in_channels, conv.out_channels, bias=conv.bias is not None,
                             dtype=conv.weight.dtype)
    with torch.no_grad():
        linear.weight.copy_(conv.weight[:, :, 0, 0])
        if conv.bias is not None:
            linear.bias.copy_(conv.bias)
    return linear


def _linear_shared(conv):
    linear = _linear_copy(conv)
    linear.weight = torch.nn.Parameter(conv.weight.view(conv.out_channels, conv.in_channels))
    return linear


def _linear_transposed(conv):
    linear = torch.nn.Linear(conv.out_channels, conv.in_channels, dtype=conv.weight.dtype)
    return linear


def _linear_always_bias(conv):
    linear = torch.nn.Linear(conv.in_channels, conv.out_channels, dtype=conv.weight.dtype)
    with torch.no_grad():
        linear.weight.copy_(conv.weight[:, :, 0, 0])
    return linear


def _linear_never_bias(conv):
    linear = torch.nn.Linear(conv.in_channels, conv.out_channels, bias=False,
                             dtype=conv.weight.dtype)
    with torch.no_grad():
        linear.weight.copy_(conv.weight[:, :, 0, 0])
    return linear


def _linear_zero_bias(conv):
    """Right on every input, but with a (zero) bias where the convolution has none."""
    linear = torch.nn.Linear(conv.in_channels, conv.out_channels, dtype=conv.weight.dtype)
    with torch.no_grad():
        linear.weight.copy_(conv.weight[:, :, 0, 0])
        linear.bias.copy_(conv.bias if conv.bias is not None else torch.zeros(conv.out_channels))
    return linear


def _linear_fitted_to_five_inputs(conv):
    """Right for the first convolution tried (5 input channels) only."""
    linear = torch.nn.Linear(5, conv.out_channels, bias=conv.bias is not None,
                             dtype=conv.weight.dtype)
    with torch.no_grad():
        linear.weight[:, : conv.in_channels].copy_(conv.weight[:, :, 0, 0])
        if conv.bias is not None:
            linear.bias.copy_(conv.bias)
    return linear


def _linear_float32(conv):
    """The weights rounded to float32, the dtype nn.Linear has by default."""
    linear = torch.nn.Linear(conv.in_channels, conv.out_channels, bias=conv.bias is not None)
    with torch.no_grad():
        linear.weight.copy_(conv.weight[:, :, 0, 0])
        if conv.bias is not None:
            linear.bias.copy_(conv.bias)
    return linear


class _LinearSwappingHeightWidth(torch.nn.Linear):
    """Works on flattened pixels, then restores them as W x H: right on square images only."""

    def forward(self, x):  # N x H x W x C_in
        n, h, w, c = x.shape
        return super().forward(x.reshape(-1, c)).reshape(n, w, h, -1)


def _linear_swapping_height_width(conv):
    linear = _LinearSwappingHeightWidth(conv.in_channels, conv.out_channels,
                                        bias=conv.bias is not None, dtype=conv.weight.dtype)
    linear.load_state_dict(_linear_copy(conv).state_dict())
    return linear


FIRST_CONV = "conv_to_linear(nn.Conv2d(5, 3, 1, bias=True))"
SECOND_CONV = "conv_to_linear(nn.Conv2d(4, 6, 1, bias=False))"


def test_conv_to_linear(capsys):
    assert chapter1.check_conv_to_linear(_linear_copy) is None
    assert _said(capsys) == (
        "Correct: a 1x1 convolution is a linear layer on each pixel's channels\n")
    with pytest.raises(ExerciseFailed, match="copy the weights"):
        chapter1.check_conv_to_linear(_linear_shared)
    with pytest.raises(ExerciseFailed, match="maps 3 to 5 features, expected 5 to 3"):
        chapter1.check_conv_to_linear(_linear_transposed)
    with pytest.raises(ExerciseFailed, match="right shape but wrong values"):
        chapter1.check_conv_to_linear(_linear_always_bias)


def test_conv_to_linear_hints_name_the_convolution_tried():
    assert _hint(chapter1.check_conv_to_linear, _linear_never_bias) == (
        f"{FIRST_CONV} has no bias, but the convolution has one")
    assert _hint(chapter1.check_conv_to_linear, _linear_zero_bias) == (
        f"{SECOND_CONV} has a bias, but the convolution has none")
    assert _hint(chapter1.check_conv_to_linear, _linear_fitted_to_five_inputs) == (
        f"{SECOND_CONV} maps 5 to 6 features, expected 4 to 6")
    assert _hint(chapter1.check_conv_to_linear, lambda conv: conv.weight[:, :, 0, 0]) == (
        f"{FIRST_CONV} should be an nn.Linear, got <class 'torch.Tensor'>")
    assert _hint(chapter1.check_conv_to_linear, lambda conv: _crashes(conv, None, None)) == (
        f"{FIRST_CONV}: conv_to_linear raised RuntimeError: shape mismatch")
    assert _hint(chapter1.check_conv_to_linear, _linear_swapping_height_width).startswith(
        f"{FIRST_CONV} on a channels-last input has shape (2, 4, 3, 3), expected (2, 3, 4, 3)")
    assert _hint(chapter1.check_conv_to_linear, _linear_always_bias).startswith(
        f"{FIRST_CONV} on a channels-last input has the right shape but wrong values")


def _linear_nudged(conv):
    linear = _linear_copy(conv)
    with torch.no_grad():
        linear.weight.add_(1e-8)
    return linear


def test_conv_to_linear_accepts_float32_and_compares_at_float64_precision():
    """The layers tried hold float32 numbers in float64, so a float32 copy is exact; a weight
    1e-8 off is wrong (the check's tolerance is 1e-10)."""
    assert chapter1.check_conv_to_linear(_linear_float32) is None
    assert _hint(chapter1.check_conv_to_linear, _linear_nudged).startswith(
        f"{FIRST_CONV} on a channels-last input has the right shape but wrong values")


def _linear_registering_on_the_conv(conv):
    """Right linear layer, but it changes the convolution it was given (a new parameter)."""
    conv.register_parameter("scale", torch.nn.Parameter(torch.ones(1, dtype=conv.weight.dtype)))
    return _linear_copy(conv)


def test_conv_to_linear_refuses_an_answer_that_changes_the_convolution():
    # the check compares the convolution's parameters before and after, one for one; an extra
    # parameter ends that comparison with zip's ValueError today, a hint would do as well
    with pytest.raises((ExerciseFailed, ValueError)):
        chapter1.check_conv_to_linear(_linear_registering_on_the_conv)


class _RecordingLinear(torch.nn.Linear):
    """An nn.Linear that keeps a copy of every input it sees."""

    seen: list

    def forward(self, x):
        self.seen.append(x.clone())
        return super().forward(x)


def _tried_under_global_seed(seed):
    layers, inputs = [], []

    def conv_to_linear(conv):
        layers.append([parameter.detach().clone() for parameter in conv.parameters()])
        linear = _RecordingLinear(conv.in_channels, conv.out_channels,
                                  bias=conv.bias is not None, dtype=conv.weight.dtype)
        linear.seen = inputs
        with torch.no_grad():
            linear.load_state_dict(_linear_copy(conv).state_dict())
        return linear

    torch.manual_seed(seed)
    chapter1.check_conv_to_linear(conv_to_linear)
    return layers, inputs


def test_conv_to_linear_tries_the_same_layers_and_inputs_whatever_the_notebook_seeded():
    """The check draws from its own generator, so its verdict cannot change with torch's seed."""
    (layers_0, inputs_0), (layers_1, inputs_1) = map(_tried_under_global_seed, (0, 1))
    assert len(layers_0) == len(inputs_0) == 2
    for first, second in zip(layers_0, layers_1, strict=True):
        assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(inputs_0, inputs_1, strict=True))


_ALIASED_CONV2D = F.conv2d  # taken before the check starts, as a notebook cell would


def _conv2d_with_dispatch_switched_off(x, weight, bias):
    with torch._C._DisableTorchDispatch(), torch._C.DisableTorchFunction():
        return _ALIASED_CONV2D(x, weight[:, :, None, None], bias)


def _aten_convolution(x, weight, bias):
    return torch.ops.aten.convolution(x, weight[:, :, None, None], bias, [1, 1], [0, 0], [1, 1],
                                      False, [0, 0], 1)


def _f_linear(x, weight, bias):
    return F.linear(x.permute(0, 2, 3, 1), weight, bias).permute(0, 3, 1, 2)


def _package(x, weight, bias):
    from onebyone.pointwise import pointwise_as_matmul as mine  # an alias of the package's

    return mine(x, weight, bias)


def _package_caught(x, weight, bias):
    """Tries the package's answer, falls back to its own when that is refused."""
    from onebyone import pointwise as pointwise_module

    try:
        return pointwise_module.pointwise_as_matmul(x, weight, bias)
    except Exception:
        return _right(x, weight, bias)


def _recorder_switched_off(x, weight, bias):
    import sys

    sys.setprofile(None)
    return _right(x, weight, bias)


@pytest.mark.parametrize(("cheat", "named"), [
    (_conv2d_with_dispatch_switched_off, "conv2d"),
    (_aten_convolution, "aten.convolution"),
    (_f_linear, "linear"),
    (_package, "onebyone.pointwise.pointwise_as_matmul"),
    (_package_caught, "onebyone.pointwise.pointwise_as_matmul"),
    (_recorder_switched_off, "sys.setprofile"),
])
def test_pointwise_function_refuses_every_way_round_the_rule(cheat, named):
    hint = _hint(chapter1.check_pointwise_function, cheat)
    assert hint.startswith("pointwise called ") and named in hint
    assert hint.endswith(NO_CONVOLUTION)


def test_pointwise_function_leaves_the_package_as_it_was():
    from onebyone import pointwise as pointwise_module

    code = pointwise_module.pointwise_as_matmul.__code__
    _hint(chapter1.check_pointwise_function, _package)
    assert pointwise_module.pointwise_as_matmul.__code__ is code
    x, weight, bias = torch.randn(1, 2, 3, 3), torch.randn(4, 2), torch.randn(4)
    torch.testing.assert_close(pointwise_module.pointwise_as_matmul(x, weight, bias),
                               _right(x, weight, bias))


def _lookup_table(function, check):
    """An answer that replays what ``function`` returned on the check's visible inputs."""
    seen = []

    def recording(*args):
        seen.append(([copy.deepcopy(arg) for arg in args], copy.deepcopy(function(*args))))
        return copy.deepcopy(seen[-1][1])

    check(recording)

    def replaying(*args):
        for known, result in seen:
            if all(_same(a, b) for a, b in zip(known, args, strict=True)):
                return copy.deepcopy(result)
        raise KeyError("an input the table does not hold")

    return replaying


def _same(a, b):
    if isinstance(a, torch.nn.Module):
        return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    return a.shape == b.shape and torch.equal(a, b)


def test_a_lookup_table_of_the_visible_inputs_fails_under_a_hidden_seed():
    table = _lookup_table(_right, chapter1.check_pointwise_function)
    assert chapter1.check_pointwise_function(table) is None  # the visible inputs alone
    assert "raised KeyError" in _hint(
        lambda answer: chapter1.check_pointwise_function(answer, hidden_seed=11), table)
    table = _lookup_table(_linear_copy, chapter1.check_conv_to_linear)
    assert chapter1.check_conv_to_linear(table) is None
    assert "raised KeyError" in _hint(
        lambda answer: chapter1.check_conv_to_linear(answer, hidden_seed=11), table)


def _conv1x1_to_linear(conv):
    from onebyone.pointwise import conv1x1_to_linear

    return conv1x1_to_linear(conv)


def test_conv_to_linear_refuses_the_packages_pointwise_module():
    hint = _hint(chapter1.check_conv_to_linear, _conv1x1_to_linear)
    # the functions it calls are named too when the answer is the first to import the module
    assert hint.startswith(
        f"{FIRST_CONV}: conv_to_linear called onebyone.pointwise.conv1x1_to_linear")
    assert hint.endswith(": build the nn.Linear yourself, without the package's pointwise module")


@pytest.mark.parametrize("hidden_seed", [0, 1, 2])
def test_hidden_seeds_draw_other_sizes_the_right_answer_passes(hidden_seed, capsys):
    """A hidden seed adds cases (every one drawn anew): the right answers still pass."""
    seen = []

    def pointwise(x, weight, bias):
        seen.append(tuple(x.shape))
        return _right(x, weight, bias)

    chapter1.check_pointwise_function(pointwise, hidden_seed=hidden_seed)
    assert len(seen) == 5 and seen[:3] == [(1, 3, 4, 4), (2, 5, 3, 6), (3, 8, 1, 2)]
    chapter1.check_conv_to_linear(_linear_copy, hidden_seed=hidden_seed)
    assert _said(capsys).count("Correct: ") == 2
