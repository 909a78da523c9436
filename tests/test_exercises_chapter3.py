"""The Chapter 3 checks accept right answers (worked out by hand here) and reject wrong ones."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from onebyone.exercises import chapter3
from onebyone.exercises.checks import ExerciseFailed


def _said(capsys) -> str:
    """What a check printed, its wrapped lines joined back (checks.passed wraps at 78)."""
    return capsys.readouterr().out.replace("\n  ", " ")



def by_hand(bias: bool = True, forget_first_bias: bool = False) -> nn.Conv2d:
    first, second = chapter3.exercise_pointwise_pair()
    w1, w2 = first.weight[:, :, 0, 0], second.weight[:, :, 0, 0]  # 3 x 4, 2 x 3
    conv = nn.Conv2d(4, 2, 1, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        conv.weight.copy_((w2 @ w1).reshape(2, 4, 1, 1))
        if bias:
            carried = torch.zeros(2) if forget_first_bias else w2 @ first.bias
            conv.bias.copy_(carried + second.bias)
    return conv


def test_exercise_layers_are_seeded():
    a, b = chapter3.exercise_pointwise_pair(0), chapter3.exercise_pointwise_pair(0)
    assert torch.equal(a[0].weight, b[0].weight) and torch.equal(a[1].bias, b[1].bias)
    assert not torch.equal(a[0].weight, chapter3.exercise_pointwise_pair(1)[0].weight)


def test_collapsed_conv():
    assert chapter3.check_collapsed_conv(by_hand()) is None
    with pytest.raises(ExerciseFailed, match="no bias"):
        chapter3.check_collapsed_conv(by_hand(bias=False))
    with pytest.raises(ExerciseFailed, match="wrong values"):
        chapter3.check_collapsed_conv(by_hand(forget_first_bias=True))
    with pytest.raises(ExerciseFailed, match="1x1 convolution"):
        chapter3.check_collapsed_conv(nn.Conv2d(4, 2, 3))
    with pytest.raises(ExerciseFailed, match="maps 4 to 3 channels"):
        chapter3.check_collapsed_conv(nn.Conv2d(4, 3, 1))
    with pytest.raises(ExerciseFailed, match=r"should be an nn\.Conv2d"):
        chapter3.check_collapsed_conv(nn.Linear(4, 2))


def test_collapsed_conv_hints(capsys):
    """Each wrong answer gets its own hint, word for word; the right one its own praise."""
    assert chapter3.check_collapsed_conv(by_hand()) is None
    assert _said(capsys) == (
        "Correct: the stack of two 1x1 convolutions is one 1x1 convolution\n")
    assert _hint(chapter3.check_collapsed_conv, nn.Linear(4, 2)) == (
        f"answer should be an nn.Conv2d, got {nn.Linear}")
    assert _hint(chapter3.check_collapsed_conv, nn.Conv2d(4, 3, 1)) == (
        "answer maps 4 to 3 channels; it should map the first layer's inputs to the second "
        "layer's outputs")
    assert _hint(chapter3.check_collapsed_conv, by_hand(bias=False)) == (
        "answer has no bias, but the stack adds W2 b1 + b2")
    # padding=1 out of a 3x3 habit: the 5 x 6 test maps grow by a ring of pixels
    padded = nn.Conv2d(4, 2, 1, padding=1, dtype=torch.float64)
    padded.load_state_dict(by_hand().state_dict())
    assert _hint(chapter3.check_collapsed_conv, padded) == (
        "answer(x) has shape (3, 2, 7, 8), expected (3, 2, 5, 6)")


@pytest.mark.parametrize("global_seed", [0, 1])
def test_collapsed_conv_tries_the_answer_on_a_seeded_batch(global_seed):
    """The check feeds x ~ N(0, 1) of 3 x 4 x 5 x 6 drawn from seed + 1, not from the reader's
    random state: a weight off by 0.1 at (0, j) is off by 0.1 |x_j| at each pixel, and the hint
    reports the largest such difference, the same whatever the global seed."""
    torch.manual_seed(global_seed)
    wrong = by_hand()
    with torch.no_grad():
        wrong.weight[0, 2] += 0.1
    x = torch.randn(3, 4, 5, 6, generator=torch.Generator().manual_seed(1)).double()
    worst = 0.1 * x[:, 2].abs().max().item()
    assert _hint(chapter3.check_collapsed_conv, wrong) == (
        f"answer(x) has the right shape but wrong values (largest difference {worst:.3g})")


def _bias_nudged(dtype: torch.dtype, shift: float = 0.0, scale: float = 1.0) -> nn.Conv2d:
    """The right answer in ``dtype``, its weight and bias times ``scale``, its bias + ``shift``."""
    conv = by_hand().to(dtype)
    with torch.no_grad():
        conv.weight *= scale
        conv.bias.mul_(scale).add_(shift)
    return conv


@pytest.mark.parametrize(
    "dtype, shift, scale, right",
    [
        (torch.float64, 5e-7, 1.0, False),  # float64 is held to 1e-8 + 1e-6 |y|
        (torch.float64, 0.0, 1 + 3e-6, False),  # 3 parts in a million: beyond rtol 1e-6
        (torch.float64, 5e-9, 1 + 5e-7, True),
        (torch.float32, 5e-6, 1.0, True),  # float32 weights hold ~7 digits: atol 1e-5
        (torch.float32, 1e-4, 1.0, False),
    ],
)
def test_collapsed_conv_tolerance_follows_the_answers_precision(dtype, shift, scale, right):
    answer = _bias_nudged(dtype, shift, scale)
    if right:
        assert chapter3.check_collapsed_conv(answer) is None
    else:
        assert "wrong values" in _hint(chapter3.check_collapsed_conv, answer)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU for a CUDA answer")
def test_collapsed_conv_judges_a_cuda_answer_on_the_cpu():
    answer = by_hand().cuda()
    assert chapter3.check_collapsed_conv(answer) is None
    assert answer.weight.is_cuda  # the student's layer stays where it was


def test_collapsed_conv_never_judges_a_meta_answer_on_values():
    """A layer on the meta device has shapes but no values: the check must refuse it outright,
    not run it on the CPU input and report a "largest difference" made up from no data."""
    # any refusal will do (today PyTorch's own "Cannot copy out of meta tensor"), not a verdict
    with pytest.raises(Exception) as failure:
        chapter3.check_collapsed_conv(nn.Conv2d(4, 2, 1, device="meta"))
    assert "meta" in str(failure.value) and "wrong values" not in str(failure.value)


def test_collapsed_conv_leaves_the_answer_as_it_was():
    answer = by_hand().float()  # a float32 answer is accepted...
    before = answer.weight.detach().clone()
    assert chapter3.check_collapsed_conv(answer) is None
    # ...and the check does not convert the student's own module to float64
    assert answer.weight.dtype == torch.float32 and answer.bias.dtype == torch.float32
    assert torch.equal(answer.weight, before)
    with pytest.raises(ExerciseFailed, match="wrong values"):  # float32, but wrong
        chapter3.check_collapsed_conv(by_hand(forget_first_bias=True).float())


def _hint(check, answer) -> str:
    """The hint that ``check`` gives for a wrong ``answer``."""
    with pytest.raises(ExerciseFailed) as failure:
        check(answer)
    return str(failure.value)


def test_mlpconv_parameters(capsys):
    right = (5 * 5 * 3 * 192 + 192) + (192 * 160 + 160) + (160 * 96 + 96)
    assert chapter3.check_mlpconv_parameters(right) is None
    assert _said(capsys) == (
        "Correct: k^2 C_in C_hidden + C_hidden C_hidden' + C_hidden' C_out, plus the biases\n")
    no_biases = right - 192 - 160 - 96
    assert _hint(chapter3.check_mlpconv_parameters, no_biases) == (
        f"the mlpconv layer's parameters (weights and biases) is {no_biases:,}, which is not "
        f"right: {NO_BIASES}")
    one_by_one = (3 * 192 + 192) + (192 * 160 + 160) + (160 * 96 + 96)  # the 5x5 as a 1x1
    assert _hint(chapter3.check_mlpconv_parameters, one_by_one).endswith(
        "the 5x5 convolution has k^2 = 25 weights per input and output channel")
    assert "in thousands" in _hint(chapter3.check_mlpconv_parameters, right // 1000)
    assert _hint(chapter3.check_mlpconv_parameters, right + 1).endswith("recount it")


def test_fully_connected_head_parameters(capsys):
    right = (9216 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    assert chapter3.check_fully_connected_head_parameters(right) is None
    assert _said(capsys) == (
        "Correct: a global average pooling head would have none of these\n")
    no_biases = 9216 * 4096 + 4096 * 4096 + 4096 * 1000
    assert _hint(chapter3.check_fully_connected_head_parameters, no_biases) == (
        f"the head's parameters (weights and biases) is {no_biases:,}, which is not right: "
        f"{NO_BIASES}")
    unflattened = (256 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    assert _hint(chapter3.check_fully_connected_head_parameters, unflattened).endswith(
        "the first layer reads every number of the flattened 256 x 6 x 6 maps")
    for millions in (58, 59):  # 58,631,144
        assert "in millions" in _hint(chapter3.check_fully_connected_head_parameters, millions)


NO_BIASES = "that leaves the biases out: each layer has one per output channel"


def _mlpconv(c_in, hidden, c_out, k, relus=(True, True, True), padding=None):
    padding = k // 2 if padding is None else padding
    layers = [nn.Conv2d(c_in, hidden, k, padding=padding), nn.Conv2d(hidden, hidden, 1),
              nn.Conv2d(hidden, c_out, 1)]
    modules = []
    for layer, relu in zip(layers, relus, strict=True):
        modules += [layer, nn.ReLU()] if relu else [layer]
    return nn.Sequential(*modules)


def test_mlpconv_block(capsys):
    assert chapter3.check_mlpconv_block(_mlpconv) is None
    assert _said(capsys) == ("Correct: k x k convolution, then a per-pixel MLP of two "
                                       "1x1 convolutions, ReLU after each\n")
    with pytest.raises(ExerciseFailed, match="wrong values"):
        chapter3.check_mlpconv_block(lambda *a: _mlpconv(*a, relus=(True, False, True)))
    with pytest.raises(ExerciseFailed, match=r"has shape \(2, 4, 2, 3\), expected \(2, 4, 6, 7\)"):
        chapter3.check_mlpconv_block(lambda *a: _mlpconv(*a, padding=0))
    with pytest.raises(ExerciseFailed, match=r"convolution 2 .* expected 8 to 8"):
        chapter3.check_mlpconv_block(
            lambda c_in, hidden, c_out, k: nn.Sequential(
                nn.Conv2d(c_in, hidden, k, padding=k // 2), nn.Conv2d(hidden, c_out, 1),
                nn.Conv2d(c_out, c_out, 1)))


class _Nudged(nn.Module):
    """A block whose output is ``block(x) * scale + shift``: right up to a hair."""

    def __init__(self, block: nn.Module, scale: float = 1.0, shift: float = 0.0) -> None:
        super().__init__()
        self.block, self.scale, self.shift = block, scale, shift

    def forward(self, x):
        return self.block(x) * self.scale + self.shift


def test_mlpconv_block_hints_name_the_call_and_the_problem():
    """Each plausible mistake gets a hint that names the call mlpconv(3, 8, 4, 5) and what is
    wrong, word for word."""
    def hint(mlpconv):
        return _hint(chapter3.check_mlpconv_block, mlpconv)

    with pytest.raises(ValueError) as torch_error:
        nn.Conv2d(3, 8, 5, padding="half")
    assert hint(lambda c_in, hidden, c_out, k: nn.Conv2d(c_in, hidden, k, padding="half")) == (
        f"mlpconv(3, 8, 4, 5) raised ValueError: {torch_error.value}")
    # the layers in a list, nn.Sequential forgotten
    assert hint(lambda *a: list(_mlpconv(*a))) == (
        "mlpconv(3, 8, 4, 5) should be an nn.Module, got <class 'list'>")
    # one 1x1 convolution forgotten
    assert hint(lambda c_in, hidden, c_out, k: nn.Sequential(
        nn.Conv2d(c_in, hidden, k, padding=k // 2), nn.ReLU(), nn.Conv2d(hidden, c_out, 1),
        nn.ReLU())) == "mlpconv(3, 8, 4, 5) has 2 nn.Conv2d layers; an mlpconv layer has 3"
    # the k x k convolution made 1x1
    assert hint(lambda c_in, hidden, c_out, k: _mlpconv(c_in, hidden, c_out, 1)) == (
        "convolution 1 of mlpconv(3, 8, 4, 5) maps 3 to 8 channels with a (1, 1) kernel; "
        "expected 3 to 8 with a (5, 5) kernel")
    # bias=False everywhere: 5 x 5 x 3 x 8 + 8 x 8 + 8 x 4 weights, no biases
    assert hint(lambda c_in, hidden, c_out, k: nn.Sequential(
        nn.Conv2d(c_in, hidden, k, padding=k // 2, bias=False), nn.ReLU(),
        nn.Conv2d(hidden, hidden, 1, bias=False), nn.ReLU(),
        nn.Conv2d(hidden, c_out, 1, bias=False), nn.ReLU())) == (
        "mlpconv(3, 8, 4, 5) has 696 parameters: are the biases there?")
    # the layers in an nn.ModuleList, which has no forward
    with pytest.raises(NotImplementedError) as torch_error:
        nn.ModuleList()(torch.zeros(1))
    assert hint(lambda *a: nn.ModuleList(_mlpconv(*a))) == (
        f"mlpconv(3, 8, 4, 5)(x) raised NotImplementedError: {torch_error.value}")


def test_mlpconv_block_tries_a_second_shape():
    """padding=2 is "same" for the 5x5 kernel of the first call only: the second call,
    mlpconv(6, 5, 7, 3), catches it (6 x 7 maps grow to 8 x 9)."""
    assert _hint(chapter3.check_mlpconv_block, lambda *a: _mlpconv(*a, padding=2)) == (
        "mlpconv(6, 5, 7, 3)(x) for x of shape (2, 6, 6, 7) has shape (2, 7, 8, 9), "
        "expected (2, 7, 6, 7)")


@pytest.mark.parametrize("global_seed", [0, 1])
def test_mlpconv_block_draws_weights_and_input_from_its_own_seed(global_seed):
    """The check gives both blocks the weights and biases drawn, layer by layer, from seed 5,
    then x of 2 x 3 x 6 x 7 in float64, whatever the reader's random state; the hint for a
    missing middle ReLU reports the largest difference worked out here by hand."""
    torch.manual_seed(global_seed)
    generator = torch.Generator().manual_seed(5)
    params = []
    for shape in [(8, 3, 5, 5), (8, 8, 1, 1), (4, 8, 1, 1)]:
        weight = torch.randn(shape, generator=generator).double()
        params.append((weight, torch.randn(shape[0], generator=generator).double()))
    x = torch.randn(2, 3, 6, 7, generator=generator, dtype=torch.float64)
    (w1, b1), (w2, b2), (w3, b3) = params
    hidden = F.relu(F.conv2d(x, w1, b1, padding=2))  # 2 x 8 x 6 x 7
    right = F.relu(F.conv2d(F.relu(F.conv2d(hidden, w2, b2)), w3, b3))  # 2 x 4 x 6 x 7
    no_middle_relu = F.relu(F.conv2d(F.conv2d(hidden, w2, b2), w3, b3))
    worst = (no_middle_relu - right).abs().max().item()
    assert worst > 0
    assert _hint(chapter3.check_mlpconv_block,
                 lambda *a: _mlpconv(*a, relus=(True, False, True))) == (
        "mlpconv(3, 8, 4, 5)(x) for x of shape (2, 3, 6, 7) has the right shape but wrong values "
        f"(largest difference {worst:.3g})")


@pytest.mark.parametrize(
    "scale, shift, right",
    [
        (1 + 1e-7, 0.0, False),  # a relative error of 1e-7 is beyond rtol 1e-10
        (1.0, 1e-8, False),  # so is an absolute one of 1e-8, beyond atol 1e-10
        (1 + 1e-12, 1e-11, True),  # float64 rounding is well inside
    ],
)
def test_mlpconv_block_tolerance_is_float64s(scale, shift, right):
    def mlpconv(*args):
        return _Nudged(_mlpconv(*args), scale, shift)

    if right:
        assert chapter3.check_mlpconv_block(mlpconv) is None
    else:
        assert "wrong values" in _hint(chapter3.check_mlpconv_block, mlpconv)


def _package_mlpconv(c_in, hidden, c_out, k):
    from onebyone.nin import MlpConv as Mine  # aliased, as a notebook cell might

    return Mine(c_in, hidden, c_out, k, padding=k // 2)


_PREBUILT = {}


def _prebuilt_mlpconv(c_in, hidden, c_out, k):
    """Hands out a package block built before the check ran (no package call while it runs)."""
    import copy

    from onebyone.nin import MlpConv

    key = (c_in, hidden, c_out, k)
    if key not in _PREBUILT:
        _PREBUILT[key] = MlpConv(c_in, hidden, c_out, k, padding=k // 2)
    return copy.deepcopy(_PREBUILT[key])


NO_NIN = "build it from nn.Conv2d and nn.ReLU, without the package's nin module"


def test_mlpconv_block_refuses_the_packages_nin_module():
    assert _hint(chapter3.check_mlpconv_block, _package_mlpconv) == (
        f"mlpconv(3, 8, 4, 5) called onebyone.nin.MlpConv.__init__: {NO_NIN}")
    _prebuilt_mlpconv(3, 8, 4, 5)  # built outside the check
    assert _hint(chapter3.check_mlpconv_block, _prebuilt_mlpconv) == (
        f"mlpconv(3, 8, 4, 5) uses onebyone.nin.MlpConv: {NO_NIN}")


def _lookup_table(c_in, hidden, c_out, k):
    """Right for the two blocks the check shows; a plain 3-layer stack without ReLUs else."""
    if (c_in, hidden, c_out, k) in [(3, 8, 4, 5), (6, 5, 7, 3)]:
        return _mlpconv(c_in, hidden, c_out, k)
    return _mlpconv(c_in, hidden, c_out, k, relus=(False, False, False))


@pytest.mark.parametrize("hidden_seed", [0, 1])
def test_mlpconv_block_hidden_seed(hidden_seed):
    assert chapter3.check_mlpconv_block(_lookup_table) is None
    assert "wrong values" in _hint(
        lambda answer: chapter3.check_mlpconv_block(answer, hidden_seed=hidden_seed),
        _lookup_table)
    assert chapter3.check_mlpconv_block(_mlpconv, hidden_seed=hidden_seed) is None


def test_collapsed_conv_hidden_seed():
    assert chapter3.check_collapsed_conv(by_hand(), hidden_seed=3) is None

    class _FittedToTheVisibleInput(nn.Conv2d):
        def forward(self, x):
            return super().forward(x) if x.shape == (3, 4, 5, 6) else super().forward(x) * 0

    fitted = _FittedToTheVisibleInput(4, 2, 1, dtype=torch.float64)
    fitted.load_state_dict(by_hand().state_dict())
    assert chapter3.check_collapsed_conv(fitted) is None
    assert "wrong values" in _hint(
        lambda answer: chapter3.check_collapsed_conv(answer, hidden_seed=3), fitted)


def test_collapsed_conv_refuses_a_forward_that_calls_the_composition_module():
    class _Composing(nn.Conv2d):
        def forward(self, x):
            from onebyone.composition import compose_pointwise

            return compose_pointwise(*chapter3.exercise_pointwise_pair())(x)

    with pytest.raises(ExerciseFailed, match=r"called onebyone\.composition\.compose_pointwise"):
        chapter3.check_collapsed_conv(_Composing(4, 2, 1))
