"""``recorded_calls`` names every operation a function runs and returns its result unchanged;
``forbidden_calls`` picks out the forbidden ones."""

import torch

from onebyone.exercises.forbidden import CONVOLUTION_AND_EINSUM, forbidden_calls, recorded_calls


def test_recorded_calls_name_the_public_function_and_the_aten_operator():
    x = torch.ones(2, 3)
    result, calls = recorded_calls(lambda t: torch.einsum("ij->j", t), x)
    assert torch.equal(result, torch.full((3,), 2.0))
    assert "einsum" in calls  # the public function, by its name
    assert "sum" in calls  # the ATen operator einsum decomposes into (aten.sum)


def test_recorded_calls_pass_keyword_arguments_through():
    """``alpha`` is keyword-only in both torch.add and aten.add.Tensor: dropping it would give
    x + y instead of x + 10 y."""
    x, y = torch.ones(2), torch.full((2,), 2.0)
    result, calls = recorded_calls(lambda a, b: torch.add(a, b, alpha=10), x, y)
    assert torch.equal(result, torch.full((2,), 21.0))
    assert calls.count("add") == 2  # torch.add, then aten.add


class _Unnamed:
    """A callable without ``__name__``, as torch.overrides may be handed by any library."""

    def __call__(self, tensor):
        return tensor * 2

    def __repr__(self):
        return "unnamed_conv"


def test_recorded_calls_name_an_operation_without_a_name_by_its_repr():
    unnamed = _Unnamed()

    def through_torch_function(tensor):
        return torch.overrides.handle_torch_function(unnamed, (tensor,), tensor)

    result, calls = recorded_calls(through_torch_function, torch.ones(2))
    assert torch.equal(result, torch.full((2,), 2.0))
    assert calls[0] == "unnamed_conv"
    assert forbidden_calls(calls) == ["unnamed_conv"]


def test_forbidden_calls_ignore_case_and_list_each_call_once():
    calls = ["matmul", "Conv2d", "mm", "convolution", "Conv2d", "EinSum", "add"]
    assert forbidden_calls(calls) == ["Conv2d", "convolution", "EinSum"]
    assert forbidden_calls(["einsum", "mm"], fragments=["EINSUM"]) == ["einsum"]
    assert forbidden_calls(["matmul", "mm"], CONVOLUTION_AND_EINSUM) == []
