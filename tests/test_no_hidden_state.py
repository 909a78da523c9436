"""No public function changes a model or a tensor it is given, unless that is its documented job.

Why: a count, a measurement or a conversion that moved a trained model's batch-norm statistics,
switched it to training mode or left a hook on it would corrupt the caller's model silently: its
eval output would change afterwards (issue 23: ``saved_activation_bytes`` moved
``running_mean``, and ``pixel_accuracy`` left models in eval mode).

Driven by one table, :data:`CASES`: for each public callable that takes a module or a tensor,
how to call it on fresh objects. Each is called on models in training mode and in eval mode,
with batch normalisation (non-default statistics), dropout, a forward hook and a frozen
parameter, and everything the caller can see is compared before and after: the state dict
(buffers such as ``num_batches_tracked`` included) with dtypes, devices and layouts, the
parameter objects, their ``requires_grad`` and ``.grad``, every submodule's ``training`` flag
and hook dictionaries, and the input tensors.
:func:`test_every_function_taking_a_module_is_in_the_table` fails when a public callable whose
signature takes a module or a tensor has neither a row nor an entry in :data:`EXCLUDED` with its
reason.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import typing
from collections.abc import Callable

import pytest
import torch
from torch import nn

import onebyone
from onebyone import (
    backward_cost,
    batchnorm_fold,
    bottleneck,
    composition,
    cost,
    feed_forward,
    googlenet,
    inception,
    mobilenet,
    mobilenet_table2,
    multiseed,
    nin,
    pointwise,
    resnet_bottleneck,
    synthetic,
    table1,
    training,
)
from onebyone.perf import kernels, roofline, separable_timing, timing, workloads
from onebyone.plotting import networks as plotting_networks

HOOKS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)


def _tensor_view(tensor: torch.Tensor) -> tuple:
    """Everything a caller can observe of a tensor, its values as a detached copy."""
    grad = None if tensor.grad is None else tensor.grad.detach().clone()
    return (tensor.dtype, tensor.device, tuple(tensor.shape), tensor.stride(),
            tensor.requires_grad, tensor.detach().clone(), grad)


def _module_view(module: nn.Module) -> dict:
    return {
        "state": {name: _tensor_view(value)
                  for name, value in module.state_dict(keep_vars=True).items()},
        "parameter objects": [id(parameter) for parameter in module.parameters()],
        "submodules": {name: (type(sub), sub.training,
                              {hook: list(getattr(sub, hook)) for hook in HOOKS})
                       for name, sub in module.named_modules()},
    }


def _view(thing: object) -> object:
    if isinstance(thing, nn.Module):
        return _module_view(thing)
    if isinstance(thing, torch.Tensor):
        return _tensor_view(thing)
    raise TypeError(type(thing))


def _same(before: object, after: object) -> bool:
    if isinstance(before, torch.Tensor):
        return (isinstance(after, torch.Tensor) and before.dtype == after.dtype
                and torch.equal(before, after))
    if isinstance(before, dict):
        return before.keys() == after.keys() and all(_same(before[k], after[k]) for k in before)
    if isinstance(before, (list, tuple)):
        return len(before) == len(after) and all(map(_same, before, after))
    return before == after


def _differences(before: object, after: object, where: str = "") -> list[str]:
    """Where two views differ, for the failure message."""
    if isinstance(before, dict) and isinstance(after, dict) and before.keys() == after.keys():
        return [d for key in before for d in _differences(before[key], after[key],
                                                          f"{where}/{key}")]
    return [] if _same(before, after) else [where or "(the object)"]


def prepared(module: nn.Module, training_mode: bool) -> nn.Module:
    """``module`` with non-default batch-norm statistics, a hook, a frozen parameter, a mode."""
    generator = torch.Generator().manual_seed(0)
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            size = layer.num_features
            layer.running_mean.copy_(torch.randn(size, generator=generator))
            layer.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
            layer.num_batches_tracked.fill_(7)
    module.register_forward_hook(lambda *args: None)
    next(module.parameters()).requires_grad_(False)
    return module.train(training_mode)


def classifier() -> nn.Sequential:
    """1 x 8 x 8 images to 3 class scores, with batch normalisation and dropout."""
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Dropout(0.5), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


def pixel_net() -> nn.Sequential:
    """Per-pixel scores of two classes for two-channel images, with batch norm and dropout."""
    return nn.Sequential(nn.Conv2d(2, 4, 1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5),
                         nn.Conv2d(4, 2, 1))


def images(*shape: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(1))


def pixel_data() -> synthetic.SignXorImages:
    return synthetic.make_sign_xor_images(2, size=4)


def seed_runs(model: nn.Module) -> multiseed.SeedRuns:
    history = training.TrainingHistory([1.0, 0.9], [0.5, 0.6], [0.5, 0.7])
    other = training.TrainingHistory([1.0, 0.9], [0.4, 0.6], [0.6, 0.7])
    return multiseed.SeedRuns("a", (0, 1), (history, other), (model, model))


Build = Callable[[bool], tuple[list, Callable[[], object]]]


def on(factory: Callable[[], nn.Module], call: Callable[..., object],
       *inputs: Callable[[], object]) -> Build:
    """A row: ``call(model, *inputs)`` on a prepared ``factory()``; model and tensors watched."""

    def build(training_mode: bool) -> tuple[list, Callable[[], object]]:
        model = prepared(factory(), training_mode)
        made = [make() for make in inputs]
        watched = [model, *(x for x in made if isinstance(x, (nn.Module, torch.Tensor)))]
        for thing in made:
            if isinstance(thing, synthetic.SignXorImages):
                watched += [thing.images, thing.labels]
        return watched, lambda: call(model, *made)

    return build


def on_tensors(call: Callable[..., object], *inputs: Callable[[], torch.Tensor]) -> Build:
    """A row for a function of tensors alone (the mode does not apply)."""

    def build(training_mode: bool) -> tuple[list, Callable[[], object]]:
        made = [make() for make in inputs]
        return made, lambda: call(*made)

    return build


def conv1x1(c_in: int = 3, c_out: int = 4) -> Callable[[], nn.Conv2d]:
    return lambda: nn.Conv2d(c_in, c_out, 1)


def eight_by_eight() -> torch.Tensor:
    return images(2, 1, 8, 8)


def labels() -> torch.Tensor:
    return torch.tensor([0, 2])


def inception_module() -> inception.Inception:
    return inception.Inception(8, 2, 2, 3, 2, 3, 2)


def float64_channels_last() -> torch.Tensor:
    return images(2, 1, 8, 8).double().contiguous(memory_format=torch.channels_last)


CASES: dict[Callable, Build] = {
    cost.count_parameters: on(classifier, cost.count_parameters),
    bottleneck.strategy_costs: on(
        lambda: nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Dropout()),
        lambda m: bottleneck.strategy_costs({"direct": m}, 3, 5, 5),
    ),
    cost.count_model: on(classifier, lambda m: cost.count_model(m, (2, 1, 8, 8))),
    cost.model_macs: on(classifier, lambda m: cost.model_macs(m, (2, 1, 8, 8))),
    cost.floating_dtype: on(classifier, cost.floating_dtype),
    backward_cost.saved_activation_bytes: on(
        classifier, lambda m: backward_cost.saved_activation_bytes(m, (2, 1, 8, 8))
    ),
    training.accuracy: on(classifier, training.accuracy, eight_by_eight, labels),
    timing.time_callable: on(
        classifier,
        lambda m: timing.time_callable(m, (2, 1, 8, 8), dtype=torch.float64, warmup=1,
                                       memory_format=torch.channels_last, min_run_time=1e-3),
    ),
    kernels.top_kernels: on(
        classifier, lambda m, x: kernels.top_kernels(m, x, calls=1), float64_channels_last
    ),
    separable_timing.page_faults_per_call: on(
        classifier, lambda m: separable_timing.page_faults_per_call(m, (2, 1, 8, 8), calls=1)
    ),
    roofline.layer_workloads: on(classifier, lambda m: roofline.layer_workloads(m, (2, 1, 8, 8))),
    synthetic.pixel_accuracy: on(pixel_net, synthetic.pixel_accuracy, pixel_data),
    synthetic.sign_xor_labels: on_tensors(synthetic.sign_xor_labels, lambda: images(2, 2, 3, 3)),
    synthetic.best_affine_accuracy: on_tensors(
        lambda x: synthetic.best_affine_accuracy(
            synthetic.SignXorImages(x, synthetic.sign_xor_labels(x)), directions=4),
        lambda: images(2, 2, 3, 3),
    ),
    multiseed.paired_difference: on(
        classifier, lambda m: multiseed.paired_difference(seed_runs(m), seed_runs(m))
    ),
    multiseed.format_runs: on(classifier, lambda m: multiseed.format_runs({"a": seed_runs(m)})),
    nin.dead_class_maps: on(
        lambda: nin.SmallNiN(channels=(2, 2, 2), dropout=0.5), nin.dead_class_maps, eight_by_eight
    ),
    nin.per_pixel_mlp: on(lambda: nin.MlpConv(3, 4, 5, 3), nin.per_pixel_mlp),
    inception.branch_costs: on(inception_module, lambda m: inception.branch_costs(m, (1, 8, 5, 5))),
    inception.branch_parameters: on(inception_module, inception.branch_parameters),
    feed_forward.feed_forward_as_conv1d: on(
        lambda: feed_forward.PositionwiseFeedForward(4, 8), feed_forward.feed_forward_as_conv1d
    ),
    feed_forward.feed_forward_as_conv2d: on(
        lambda: feed_forward.PositionwiseFeedForward(4, 8), feed_forward.feed_forward_as_conv2d
    ),
    resnet_bottleneck.convolution_weights: on(
        lambda: resnet_bottleneck.Bottleneck(16, 4), resnet_bottleneck.convolution_weights
    ),
    mobilenet_table2.layer_type: on(conv1x1(), mobilenet_table2.layer_type),
    mobilenet_table2.recount_table2: on(mobilenet.MobileNet, mobilenet_table2.recount_table2),
    table1.recount_table1: on(googlenet.GoogLeNet, table1.recount_table1),
    batchnorm_fold.fold_batchnorm: on(
        conv1x1(), batchnorm_fold.fold_batchnorm, lambda: prepared(nn.BatchNorm2d(4), True)
    ),
    composition.compose_pointwise: on(
        conv1x1(), composition.compose_pointwise, lambda: prepared(conv1x1(4, 2)(), True)
    ),
    composition.collapse_pointwise_stack: on(
        lambda: nn.Sequential(nn.Conv2d(3, 4, 1), nn.Conv2d(4, 2, 1)),
        composition.collapse_pointwise_stack,
    ),
    pointwise.check_pointwise_conv: on(conv1x1(), pointwise.check_pointwise_conv),
    pointwise.conv1x1_to_linear: on(conv1x1(), pointwise.conv1x1_to_linear),
    pointwise.linear_to_conv1x1: on(lambda: nn.Linear(3, 4), pointwise.linear_to_conv1x1),
    pointwise.linear_per_pixel: on(
        lambda: nn.Linear(3, 4), pointwise.linear_per_pixel, lambda: images(2, 3, 2, 2)
    ),
    pointwise.pointwise_as_matmul: on_tensors(
        pointwise.pointwise_as_matmul,
        lambda: images(2, 3, 2, 2),
        lambda: images(4, 3).requires_grad_(),
        lambda: images(4),
    ),
    pointwise.pointwise_as_einsum: on_tensors(
        pointwise.pointwise_as_einsum,
        lambda: images(2, 3, 2, 2),
        lambda: images(4, 3).requires_grad_(),
        lambda: images(4),
    ),
    workloads.same_math_variants: on_tensors(
        lambda w: {name: f(images(1, 3, 2, 2)) for name, f in
                   workloads.same_math_variants(w).items()},
        lambda: images(4, 3),
    ),
    workloads.check_same_math: on_tensors(
        lambda x, w: workloads.check_same_math(workloads.same_math_variants(w.clone()), x, w,
                                               "float32"),
        lambda: images(1, 3, 2, 2),
        lambda: images(4, 3),
    ),
    plotting_networks.show_channels: on_tensors(
        lambda x: plotting_networks.show_channels([x], ["a"]), lambda: images(2, 3, 3)
    ),
}
"""One row per public callable that takes a module or a tensor: how to call it."""

EXCLUDED = {
    # changing the model is their documented job (their docstrings say so): they train or
    # initialise it in place
    "onebyone.training.train_classifier": "trains the model in place",
    "onebyone.synthetic.train_pixel_classifier": "re-initialises and trains the model",
    "onebyone.layers.init_he_normal": "initialises the weights in place",
    "onebyone.multiseed.train_over_seeds": "takes constructors and trains the models it builds",
    # records: they keep the tensors and models they are given, as they are
    "onebyone.digits.DigitsSplit": "a record",
    "onebyone.synthetic.SignXorImages": "a record",
    "onebyone.multiseed.SeedRuns": "a record",
    "onebyone.perf.peak.PeakKernel": "a record",
    # need a CUDA device; they call fn as given (time_callable hands them its eval-mode copy)
    "onebyone.perf.gpu_timing.time_with_events": "needs CUDA events",
    "onebyone.perf.gpu_timing.capture_cuda_graph": "needs CUDA",
    "onebyone.perf.gpu_timing.estimate_enqueue_seconds": "needs a device's events; calls fn",
    "onebyone.perf.gpu_referee.profile_calls": "needs the CUDA profiler; calls fn as given",
    # exercise checkers call a student's function on models and tensors they build themselves
    "onebyone.exercises": "checkers of answers (tests/test_exercises_*.py)",
}
"""Public callables that take a module or a tensor but are not in the table, with reasons."""


def _qualified(function: Callable) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def _mentions_module_or_tensor(hint: object, seen: set) -> bool:
    """Whether a type hint names an ``nn.Module``, a tensor, or a dataclass holding one."""
    if isinstance(hint, type):
        if issubclass(hint, (nn.Module, torch.Tensor)):
            return True
        if dataclasses.is_dataclass(hint) and hint not in seen:
            seen.add(hint)
            fields = typing.get_type_hints(hint)
            return any(_mentions_module_or_tensor(field, seen) for field in fields.values())
        return False
    if isinstance(hint, (list, tuple)):
        return any(_mentions_module_or_tensor(item, seen) for item in hint)
    return any(_mentions_module_or_tensor(arg, seen) for arg in typing.get_args(hint))


def _takes_a_module_or_tensor(value: Callable) -> bool:
    """Whether a function's arguments (a class's ``__init__``'s) name a module or a tensor."""
    function = value.__init__ if inspect.isclass(value) else value
    try:
        hints = typing.get_type_hints(function)
    except (NameError, TypeError):  # an unresolvable hint: judge by its text
        annotations = [str(p.annotation) for p in inspect.signature(function).parameters.values()]
        return any(word in text for text in annotations for word in ("Module", "Tensor"))
    hints.pop("return", None)
    return any(_mentions_module_or_tensor(hint, set()) for hint in hints.values())


def _public_callables() -> dict[str, Callable]:
    found = {}
    for info in pkgutil.walk_packages(onebyone.__path__, "onebyone."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if name.startswith("_") or not (inspect.isfunction(value) or inspect.isclass(value)):
                continue
            if value.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = value
    return found


def _excluded(name: str) -> bool:
    return any(name == item or name.startswith(item + ".") for item in EXCLUDED)


def test_every_function_taking_a_module_is_in_the_table():
    public = _public_callables()
    covered = {_qualified(function) for function in CASES}
    taking = {name for name, value in public.items() if _takes_a_module_or_tensor(value)}
    missing = sorted(name for name in taking - covered if not _excluded(name))
    assert not missing, f"take a module or tensor, but no row in CASES or EXCLUDED: {missing}"
    assert not {name for name in covered if _excluded(name)}, "both covered and excluded"
    stale = [item for item in EXCLUDED
             if not any(n == item or n.startswith(item + ".") for n in public)]
    assert not stale, f"exclusions that name nothing: {stale}"


def test_the_completeness_check_sees_modules_tensors_and_records_of_them():
    assert _takes_a_module_or_tensor(cost.model_macs)  # nn.Module
    assert _takes_a_module_or_tensor(pointwise.conv1x1_to_linear)  # a subclass
    assert _takes_a_module_or_tensor(kernels.top_kernels)  # a tensor, and one inside a Callable
    assert _takes_a_module_or_tensor(synthetic.best_affine_accuracy)  # a record of tensors
    assert _takes_a_module_or_tensor(multiseed.format_runs)  # a dict of records of modules
    assert _takes_a_module_or_tensor(synthetic.SignXorImages)  # a record's constructor
    assert not _takes_a_module_or_tensor(cost.conv2d_macs)
    assert not _takes_a_module_or_tensor(nin.SmallNiN)  # a model is built from sizes


ROWS = [
    pytest.param(function, training_mode, id=f"{function.__name__}-{mode}")
    for function in CASES
    for training_mode, mode in ((True, "train"), (False, "eval"))
]


@pytest.mark.parametrize(("function", "training_mode"), ROWS)
def test_nothing_the_caller_holds_changes(function, training_mode):
    watched, call = CASES[function](training_mode)
    before = [_view(thing) for thing in watched]
    call()
    after = [_view(thing) for thing in watched]
    changed = [d for b, a in zip(before, after, strict=True) for d in _differences(b, a)]
    assert not changed, f"{_qualified(function)} changed {changed}"


def test_the_snapshot_sees_each_kind_of_change():
    """Each change a function could make is one the comparison notices."""
    changes = {
        "statistics": lambda m: m[1].running_mean.add_(1.0),
        "batches tracked": lambda m: m[1].num_batches_tracked.add_(1),
        "mode": lambda m: m.eval(),
        "a submodule's mode": lambda m: m[3].eval(),
        "a hook": lambda m: m[0].register_forward_pre_hook(lambda *args: None),
        "requires_grad": lambda m: m[0].bias.requires_grad_(False),
        "a gradient": lambda m: m(eight_by_eight()).sum().backward(),
        "dtype": lambda m: m.double(),
        "layout": lambda m: m.to(memory_format=torch.channels_last),
        "a parameter replaced": lambda m: setattr(m[6], "bias", nn.Parameter(m[6].bias.clone())),
    }
    for what, change in changes.items():
        model = prepared(classifier(), True)
        before = _view(model)
        change(model)
        assert _differences(before, _view(model)), what
    x = eight_by_eight()
    before = _view(x)
    x.mul_(2)
    assert _differences(before, _view(x)), "a tensor's values"
