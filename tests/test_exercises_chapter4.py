"""The Chapter 4 checks accept right answers and reject wrong ones with a useful hint."""

import pytest
import torch
from torch import nn

from onebyone.cost import count_parameters
from onebyone.exercises import chapter4
from onebyone.exercises.checks import ExerciseFailed
from onebyone.googlenet import INCEPTION_CHANNELS
from onebyone.inception import Inception
from onebyone.table1 import load_table1


def _hint(check, *answer) -> str:
    """The hint that ``check`` gives for a wrong ``answer``."""
    with pytest.raises(ExerciseFailed) as failure:
        check(*answer)
    return str(failure.value)


def test_inception_5a_macs(capsys):
    weights = 832 * 256 + 832 * 160 + 9 * 160 * 320 + 832 * 32 + 25 * 32 * 128 + 832 * 128
    assert chapter4.check_inception_5a_macs(weights * 49) is None
    # 1,042,432 weights x 49 pixels = 51.08 M MACs; Table 1 prints 54 M for inception (5a)
    assert capsys.readouterr().out == "Correct: 51.1 M MACs, not the 54 M the table prints\n"
    assert _hint(chapter4.check_inception_5a_macs, weights * 56) == (
        f"inception (5a)'s multiply-accumulates (MACs) is {weights * 56:,}, which is not right: "
        "recount it")
    assert _hint(chapter4.check_inception_5a_macs, weights * 196).endswith(
        "that is at 14 x 14: inception (5a) reads the 7 x 7 output of the max pooling before it")
    assert _hint(chapter4.check_inception_5a_macs, weights * 98).endswith(
        "did you count FLOPs (two per multiply-accumulate)?")
    assert _hint(chapter4.check_inception_5a_macs, weights).endswith(
        "that is the count for one pixel: multiply by the output's height and width")
    no_k_squared = 49 * (832 * (256 + 160 + 32 + 128) + 160 * 320 + 32 * 128)
    assert _hint(chapter4.check_inception_5a_macs, no_k_squared).endswith(
        "is k^2 there?")
    assert "in millions" in _hint(chapter4.check_inception_5a_macs, 51)
    with pytest.raises(ExerciseFailed, match="not right"):
        chapter4.check_inception_5a_macs(54_000_000)  # the table's printed value


def _conv_relu(c_in, c_out, k, bias=True):
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=bias), nn.ReLU())


class _Branches(nn.Module):
    def __init__(self, c_in, row, pool_proj_kernel=1, bias=True):
        super().__init__()
        self.branches = nn.ModuleList([
            _conv_relu(c_in, row.ch1x1, 1, bias),
            nn.Sequential(_conv_relu(c_in, row.ch3x3red, 1, bias),
                          _conv_relu(row.ch3x3red, row.ch3x3, 3, bias)),
            nn.Sequential(_conv_relu(c_in, row.ch5x5red, 1, bias),
                          _conv_relu(row.ch5x5red, row.ch5x5, 5, bias)),
            nn.Sequential(nn.MaxPool2d(3, 1, 1),
                          _conv_relu(c_in, row.pool_proj, pool_proj_kernel, bias)),
        ])


class _BranchOutputs(_Branches):
    """Forgets to concatenate: returns the list of the four branches' outputs."""

    def forward(self, x):
        return [branch(x) for branch in self.branches]


class _Block(_Branches):
    """The four branches, concatenated along the channels."""

    def forward(self, x):
        return torch.cat([branch(x) for branch in self.branches], dim=1)


def test_inception_block(capsys):
    assert chapter4.check_inception_block(_Block) is None
    # GoogLeNet has nine Inception modules: (3a), (3b), (4a) to (4e), (5a), (5b)
    assert capsys.readouterr().out == (
        "Correct: all 9 Inception rows of Table 1 rebuilt, parameters and outputs right\n")
    with pytest.raises(ExerciseFailed, match=r"called onebyone\.inception\.Inception\.__init__"):
        chapter4.check_inception_block(lambda c_in, row: Inception(c_in, *row.channels()))
    with pytest.raises(ExerciseFailed, match=r"parameters, expected .*\(too many"):
        chapter4.check_inception_block(lambda c_in, row: _Block(c_in, row, pool_proj_kernel=3))
    with pytest.raises(ExerciseFailed, match="raised AttributeError"):
        chapter4.check_inception_block(lambda c_in, row: row.missing)


def test_budget_design():
    assert chapter4.check_budget_design((192, 64, 208, 16, 48, 64)) is None
    with pytest.raises(ExerciseFailed, match="over the budget"):
        chapter4.check_budget_design((192, 96, 208, 16, 48, 64))  # inception (4a) itself
    with pytest.raises(ExerciseFailed, match="outputs 511 channels, expected 512"):
        chapter4.check_budget_design((191, 64, 208, 16, 48, 64))
    with pytest.raises(ExerciseFailed, match="below its minimum"):
        chapter4.check_budget_design((256, 64, 160, 16, 32, 64))
    with pytest.raises(ExerciseFailed, match="should be narrower"):
        chapter4.check_budget_design((128, 208, 208, 16, 48, 128))
    with pytest.raises(ExerciseFailed, match="tuple of 6 ints"):
        chapter4.check_budget_design(512)


# Inception (3a), the table's first Inception row: 192 channels in, 64 + 128 + 32 + 32 = 256 out.
FIRST_ROW = "inception_block(192, row inception3a)"
FIRST_ROW_BIASES = 64 + 96 + 128 + 16 + 32 + 32
FIRST_ROW_WEIGHTS = 192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32


def test_inception_block_hints_name_the_row_tried():
    parameters = FIRST_ROW_WEIGHTS + FIRST_ROW_BIASES
    assert _hint(chapter4.check_inception_block,
                 lambda c_in, row: _Block(c_in, row, bias=False)) == (
        f"{FIRST_ROW} has {FIRST_ROW_WEIGHTS:,} parameters, expected {parameters:,} "
        "(too few: check each branch's widths and biases)")
    too_many = parameters + 8 * 192 * 32  # a 3x3 pool projection
    assert _hint(chapter4.check_inception_block,
                 lambda c_in, row: _Block(c_in, row, pool_proj_kernel=3)) == (
        f"{FIRST_ROW} has {too_many:,} parameters, expected {parameters:,} "
        "(too many: check each branch's widths and biases)")
    assert _hint(chapter4.check_inception_block, lambda c_in, row: _Branches(c_in, row)) == (
        f"{FIRST_ROW}(x) raised NotImplementedError: Module [_Branches] is missing the required "
        '"forward" function')
    assert _hint(chapter4.check_inception_block, lambda c_in, row: _BranchOutputs(c_in, row)) == (
        f"{FIRST_ROW}(x) for x of shape (1, 192, 5, 6) has shape (), expected (1, 256, 5, 6)")
    assert _hint(chapter4.check_inception_block,
                 lambda c_in, row: nn.Sequential(_Block(c_in, row), nn.MaxPool2d(2))) == (
        f"{FIRST_ROW}(x) for x of shape (1, 192, 5, 6) has shape (1, 256, 2, 3), "
        "expected (1, 256, 5, 6)")
    assert _hint(chapter4.check_inception_block, lambda c_in, row: row.ch1x1) == (
        f"{FIRST_ROW} should be an nn.Module, got <class 'int'>")
    assert _hint(chapter4.check_inception_block, lambda c_in, row: row.missing) == (
        f"{FIRST_ROW} raised AttributeError: 'PublishedRow' object has no attribute 'missing'")


class _RecordsItsInput(_Block):
    seen: list

    def forward(self, x):
        self.seen.append(x.clone())
        raise RuntimeError("stop after the first row")


def _first_input_under_global_seed(seed):
    seen = []

    def inception_block(c_in, row):
        block = _RecordsItsInput(c_in, row)
        block.seen = seen
        return block

    torch.manual_seed(seed)
    with pytest.raises(ExerciseFailed, match="stop after the first row"):
        chapter4.check_inception_block(inception_block)
    return seen


def test_inception_block_tries_the_same_input_whatever_the_notebook_seeded():
    (first,), (second,) = map(_first_input_under_global_seed, (0, 1))
    assert first.shape == (1, 192, 5, 6)  # one non-square image for inception (3a)
    assert torch.equal(first, second)


def test_budget_design_prints_the_cost(capsys):
    # 480 x 192 + 480 x 64 + 9 x 64 x 208 + 480 x 16 + 25 x 16 x 48 + 480 x 64 weights, 196 pixels
    macs = 196 * (480 * 192 + 480 * 64 + 9 * 64 * 208 + 480 * 16 + 25 * 16 * 48 + 480 * 64)
    assert chapter4.check_budget_design([192, 64, 208, 16, 48, 64]) is None  # a list will do
    assert capsys.readouterr().out == f"Correct: {macs:,} MACs, within the budget of 60,000,000\n"


def test_budget_design_hints():
    macs_4a = 196 * (480 * 192 + 480 * 96 + 9 * 96 * 208 + 480 * 16 + 25 * 16 * 48 + 480 * 64)
    assert _hint(chapter4.check_budget_design, (192, 96, 208, 16, 48, 64)) == (
        f"the module costs {macs_4a:,} MACs, {macs_4a - 60_000_000:,} over the budget of "
        "60,000,000")
    assert _hint(chapter4.check_budget_design, (192, 64, 208, 16, 48)) == (
        "the design should be a tuple of 6 ints ('ch1x1', 'ch3x3red', 'ch3x3', 'ch5x5red', "
        "'ch5x5', 'pool_proj'), got (192, 64, 208, 16, 48)")
    assert _hint(chapter4.check_budget_design, (192.0, 64, 208, 16, 48, 64)) == (
        "ch1x1 should be an int, got 192.0")
    assert _hint(chapter4.check_budget_design, (192, 64, 208, 16, 48, True)) == (
        "pool_proj should be an int, got True")
    assert _hint(chapter4.check_budget_design, (256, 64, 160, 16, 32, 64)) == (
        "ch3x3 is 160, below its minimum of 208")
    assert _hint(chapter4.check_budget_design, (128, 208, 208, 16, 48, 128)) == (
        "ch3x3red (208) should be narrower than ch3x3 (208)")
    assert _hint(chapter4.check_budget_design, (128, 64, 208, 48, 48, 128)) == (
        "ch5x5red (48) should be narrower than ch5x5 (48)")
    assert _hint(chapter4.check_budget_design, (192, 64, 208, 16, 48, 63)) == (
        "the module outputs 511 channels, expected 512")


class _Configurable(nn.Module):
    """An Inception module with one mistake switched on: a ReLU left out of one branch, average
    instead of max pooling, no pooling at all in the fourth branch, or zeros returned."""

    def __init__(self, c_in, row, relu_in_3x3=True, pool=nn.MaxPool2d, zeros=False,
                 branch_order=(0, 1, 2, 3)):
        super().__init__()
        last = nn.ReLU() if relu_in_3x3 else nn.Identity()
        self.branches = nn.ModuleList([
            _conv_relu(c_in, row.ch1x1, 1),
            nn.Sequential(_conv_relu(c_in, row.ch3x3red, 1),
                          nn.Conv2d(row.ch3x3red, row.ch3x3, 3, padding=1), last),
            nn.Sequential(_conv_relu(c_in, row.ch5x5red, 1),
                          _conv_relu(row.ch5x5red, row.ch5x5, 5)),
            nn.Sequential(pool(3, 1, 1) if pool else nn.Identity(),
                          _conv_relu(c_in, row.pool_proj, 1)),
        ])
        self.branch_order = branch_order
        self.zeros = zeros

    def forward(self, x):
        outputs = [self.branches[index](x) for index in self.branch_order]
        out = torch.cat(outputs, dim=1)
        return torch.zeros_like(out) if self.zeros else out


class _FlatParameter(nn.Module):
    """As many parameters as the module should have, in one flat tensor; returns zeros."""

    def __init__(self, c_in, row):
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(PARAMETERS[row.stage]))
        self.out_channels = row.output_size[0]

    def forward(self, x):
        return x.new_zeros(x.shape[0], self.out_channels, *x.shape[2:])


class _RegisteredInAnotherOrder(_Configurable):
    """Registers the branches in another order but concatenates them in the paper's: right."""

    def __init__(self, c_in, row):
        super().__init__(c_in, row)
        self.branches = nn.ModuleList([self.branches[index] for index in (3, 2, 1, 0)])
        self.branch_order = (3, 2, 1, 0)


WRONG_VALUES = ("with the package's weights loaded, for x of shape (1, 192, 5, 6) has the right "
                "shape but wrong values")


@pytest.mark.parametrize(("wrong", "hint"), [
    (lambda c_in, row: _Configurable(c_in, row, relu_in_3x3=False), WRONG_VALUES),
    (lambda c_in, row: _Configurable(c_in, row, pool=nn.AvgPool2d), WRONG_VALUES),
    (lambda c_in, row: _Configurable(c_in, row, pool=None), WRONG_VALUES),
    (lambda c_in, row: _Configurable(c_in, row, zeros=True), WRONG_VALUES),
    (lambda c_in, row: _Configurable(c_in, row, branch_order=(0, 2, 1, 3)), "wrong values"),
    (_FlatParameter, "has the convolutions (in, out, kernel, bias) []"),
])
def test_inception_block_refuses_a_module_that_computes_something_else(wrong, hint):
    assert hint in _hint(chapter4.check_inception_block, wrong)


def test_inception_block_accepts_any_registration_order():
    assert chapter4.check_inception_block(_RegisteredInAnotherOrder) is None


def _package_inception(c_in, row):
    from onebyone.inception import Inception as Mine

    return Mine(c_in, *row.channels())


def test_inception_block_refuses_the_packages_inception_module():
    assert _hint(chapter4.check_inception_block, _package_inception) == (
        "inception_block(192, row inception3a) called onebyone.inception.Inception.__init__: "
        "build the branches yourself from nn.Conv2d, nn.ReLU and nn.MaxPool2d, without the "
        "package's inception module")


def test_inception_block_hidden_seed(capsys):
    """A block fitted to the table's rows (it passes without a hidden seed, as
    test_inception_block shows for _Block) fails on the rows a hidden seed makes up."""
    stages = {row.stage for row in load_table1() if row.type == "inception"}

    def lookup_table(c_in, row):
        """Right on the table's rows; the widths of inception (3a) on any other."""
        return _Block(c_in, row) if row.stage in stages else _Block(c_in, ROW_3A)

    with pytest.raises(ExerciseFailed, match="row hidden1"):
        chapter4.check_inception_block(lookup_table, hidden_seed=0)
    assert chapter4.check_inception_block(_Block, hidden_seed=1) is None
    assert capsys.readouterr().out.count("Correct: all 9 Inception rows") == 1


ROW_3A = next(row for row in load_table1() if row.stage == "inception3a")
PARAMETERS = {row.stage: count_parameters(Inception(INCEPTION_CHANNELS[row.stage][0],
                                                    *row.channels()))
              for row in load_table1() if row.type == "inception"}
