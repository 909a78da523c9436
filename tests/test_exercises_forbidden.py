"""``recorded_calls`` names every operation a function runs and returns its result unchanged;
``forbidden_calls`` picks out the forbidden ones."""

import pytest
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


def _fake_package_module(name="onebyone.fake_for_test"):
    """A module of the package made up for the test: a plain function, a closure, a class."""
    import sys
    import types

    module = types.ModuleType(name)
    exec(
        "def helper(x):\n"
        "    return x + 1\n"
        "def _make():\n"
        "    offset = 10\n"
        "    def closure(x):\n"
        "        return x + offset\n"
        "    return closure\n"
        "closure = _make()\n"
        "class Thing:\n"
        "    def __init__(self):\n"
        "        self.value = helper(1)\n",
        module.__dict__,
    )
    sys.modules[name] = module
    return module


def test_refusing_stops_and_names_every_kind_of_function_and_restores_them():
    import sys

    from onebyone.exercises.forbidden import ForbiddenCall, Rule, refusing

    module = _fake_package_module()
    try:
        alias = module.helper  # taken before, as `from ... import helper as alias` would
        codes = (module.helper.__code__, module.closure.__code__, module.Thing.__init__.__code__)
        with refusing(Rule(modules=("onebyone.fake_for_test",))) as watch:
            for call in (lambda: alias(1), lambda: module.closure(1), module.Thing):
                with pytest.raises(ForbiddenCall, match="is not allowed in this exercise"):
                    call()
        assert watch.used == ["onebyone.fake_for_test.helper", "onebyone.fake_for_test._make."
                              "<locals>.closure", "onebyone.fake_for_test.Thing.__init__"]
        assert (module.helper.__code__, module.closure.__code__,
                module.Thing.__init__.__code__) == codes
        assert alias(1) == 2 and module.closure(1) == 11 and module.Thing().value == 2
    finally:
        del sys.modules["onebyone.fake_for_test"]


def test_refusing_sees_code_saved_before_and_run_through_a_new_function():
    import sys
    import types

    from onebyone.exercises.forbidden import Rule, run_refusing

    module = _fake_package_module()
    try:
        saved = module.helper.__code__
        outcome = run_refusing(Rule(modules=("onebyone.fake_for_test",)),
                               lambda: types.FunctionType(saved, module.__dict__)(1))
        assert outcome.result == 2 and outcome.used == ["onebyone.fake_for_test.helper"]
    finally:
        del sys.modules["onebyone.fake_for_test"]


def test_refusing_leaves_the_exercises_and_other_modules_alone():
    from onebyone import cost
    from onebyone.exercises import checks
    from onebyone.exercises.forbidden import PACKAGE, Rule, run_refusing

    outcome = run_refusing(Rule(modules=("onebyone.pointwise",)),
                           lambda: cost.conv2d_parameters(2, 3, 1))
    assert outcome.result == 9 and outcome.used == []
    outcome = run_refusing(Rule(modules=(PACKAGE,)), lambda: checks.exact_integer(3))
    assert outcome.result == 3 and outcome.used == []
    outcome = run_refusing(Rule(modules=(PACKAGE,)), lambda: cost.conv2d_parameters(2, 3, 1))
    assert type(outcome.error).__name__ == "ForbiddenCall"
    assert outcome.used == ["onebyone.cost.conv2d_parameters"]


def test_refusing_restores_the_profile_hook_it_found():
    import sys

    from onebyone.exercises.forbidden import Rule, run_refusing

    def hook(frame, event, arg):
        return None

    sys.setprofile(hook)
    try:
        assert run_refusing(Rule(), lambda: 1).result == 1
        assert sys.getprofile() is hook
    finally:
        sys.setprofile(None)


def test_every_answer_rule_names_importable_modules_and_says_what_to_do():
    import importlib

    from onebyone.exercises import forbidden

    for name, rule in forbidden.ANSWER_RULES.items():
        chapter, check = name.split(".")
        assert callable(getattr(importlib.import_module(f"onebyone.exercises.{chapter}"), check))
        assert rule.hint and (rule.modules or rule.operations)
        for module in rule.modules:
            importlib.import_module(module)


def test_refusing_patches_what_a_decorator_wraps_not_the_decorators_shared_code():
    """contextlib's wrapper code is shared by every @contextmanager function: refusing
    onebyone.atomic must not refuse another library's context manager."""
    import contextlib

    from onebyone import atomic
    from onebyone.exercises.forbidden import Rule, run_refusing

    @contextlib.contextmanager
    def elsewhere():
        yield 1

    def use():
        with elsewhere() as value:
            return value

    rule = Rule(modules=("onebyone.atomic",))
    assert run_refusing(rule, use).used == []
    outcome = run_refusing(rule, lambda: atomic.open_atomically("unused"))
    assert outcome.used == ["onebyone.atomic.open_atomically"]
