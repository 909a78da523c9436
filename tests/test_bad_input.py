"""Every public function and layer refuses bad input with an error that names the argument.

Driven by one table, :data:`CASES`: for each public callable, a strategy of keyword arguments that
work and the kind of each argument that is fed bad values (a count, a probability, a module...).
For every argument, generated bad values must raise ``ValueError`` or ``TypeError`` whose message
names the argument, within a second. For the functions that compute a number, generated good
arguments (NumPy integers among them) must agree with PyTorch: ``FlopCounterMode`` (FLOPs, so
MACs are half) for multiply-accumulates, ``numel`` for parameters, ``nn.Conv2d`` for output
sizes. The model classes' forward passes on wrongly shaped inputs must name the expected shape.
:func:`test_every_public_callable_is_in_the_table` fails when a new public function is added to
the package without a row here (or a commented exclusion).
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import hypothesis
import hypothesis.strategies as st
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from matplotlib.figure import Figure
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import onebyone
from onebyone import (
    backward_cost,
    batchnorm_fold,
    bottleneck,
    composition,
    cost,
    digits,
    feed_forward,
    glue,
    googlenet,
    inception,
    layers,
    mobilenet,
    mobilenet_table2,
    multiseed,
    nin,
    pointwise,
    resnet_bottleneck,
    runtime,
    separable,
    small_inception,
    squeeze_excitation,
    synthetic,
    table1,
    training,
)
from onebyone.perf import (
    intervals,
    kernels,
    machine,
    peak,
    precision,
    roofline,
    separable_timing,
    timing,
)
from onebyone.plotting import networks as plotting_networks
from onebyone.plotting import perf as plotting_perf
from onebyone.plotting import style as plotting_style

BAD_SETTINGS = settings(
    max_examples=10, deadline=1000, suppress_health_check=[HealthCheck.too_slow]
)
GOOD_SETTINGS = settings(
    max_examples=20, deadline=1000, suppress_health_check=[HealthCheck.too_slow]
)


def ints(low: int, high: int) -> st.SearchStrategy:
    """Integers in ``[low, high]``, some of them as NumPy integers (which must be accepted)."""
    return st.integers(low, high).flatmap(lambda n: st.sampled_from([n, np.int64(n)]))


# Bad values by the kind of argument they are fed to. Each must be refused by name.
NOT_NUMBERS = st.one_of(st.text(max_size=3), st.none(), st.just([1]))
NOT_INTEGERS = st.one_of(
    NOT_NUMBERS, st.booleans(), st.floats(allow_nan=True), st.just(np.float64(2.0))
)
# beyond a signed 64-bit integer: PyTorch's "Overflow when unpacking long long" named nothing
HUGE = st.one_of(st.integers(min_value=2**63), st.just(10**30))
BAD = {
    "count": st.one_of(st.integers(max_value=0), NOT_INTEGERS, HUGE),
    "non-negative": st.one_of(st.integers(max_value=-1), NOT_INTEGERS, HUGE),
    "pair": st.one_of(
        st.integers(max_value=0),
        NOT_INTEGERS,
        HUGE,
        st.tuples(st.integers(1, 3), st.integers(max_value=0)),
        st.tuples(st.integers(1, 3), HUGE),
        st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
    ),
    "pair from 0": st.one_of(
        st.integers(max_value=-1),
        NOT_INTEGERS,
        HUGE,
        st.tuples(st.integers(0, 3), st.integers(max_value=-1)),
    ),
    "bool": st.one_of(st.integers(), st.text(max_size=3), st.none(), st.floats()),
    "probability": st.one_of(
        st.floats(min_value=1.0),
        st.floats(max_value=-1e-9),
        st.just(math.nan),
        NOT_NUMBERS,
        st.booleans(),
    ),
    "positive": st.one_of(
        st.floats(max_value=0.0),
        st.sampled_from([math.nan, math.inf]),
        NOT_NUMBERS,
        st.booleans(),
    ),
    "module": st.one_of(st.integers(), NOT_NUMBERS, st.just(torch.zeros(1))),
    "tensor": st.one_of(st.integers(), NOT_NUMBERS, st.just(np.zeros(2))),
    "shape": st.one_of(
        st.integers(),
        st.text(max_size=3),
        st.none(),
        st.lists(st.integers(max_value=0), min_size=1, max_size=4),
        st.just((1, 2.5)),
        st.tuples(st.integers(1, 3), HUGE),
    ),
    "str": st.one_of(st.integers(), st.none(), st.floats(), st.just(b"x")),
    "iterable": st.one_of(st.integers(), st.none(), st.floats()),
    "mapping": st.one_of(st.integers(), st.none(), st.text(max_size=3), st.just([1])),
    "real": st.one_of(st.sampled_from([math.nan, math.inf]), NOT_NUMBERS, st.booleans()),
    "dtype": st.one_of(
        st.sampled_from(["float32", "torch.float32", np.float32, torch.int64, torch.bool]),
        st.none(),
        st.integers(),
    ),
    "device": st.one_of(st.sampled_from(["gpu", "", "cuda:x", "cpu0"]), st.integers(), st.none()),
}
# a seed must also suit NumPy's and scikit-learn's 32-bit generators
BAD["seed"] = st.one_of(BAD["non-negative"], st.integers(min_value=2**32, max_value=2**63 - 1))
# an odd kernel keeps the image size under "same" padding; an even one would count other FLOPs
BAD["odd kernel"] = st.one_of(BAD["count"], st.integers(1, 50).map(lambda n: 2 * n))
# torch.set_num_threads takes a C int
BAD["threads"] = st.one_of(BAD["count"], st.integers(min_value=2**31, max_value=2**63 - 1))
# spreads whose images could overflow float32 (inf), besides non-numbers and negatives
BAD["contrast spread"] = st.one_of(
    BAD["real"], st.floats(max_value=-1e-9), st.floats(min_value=10.001, allow_infinity=False)
)
# fractions of the 1,797 digits that leave a set with fewer images than the ten digits
BAD["test fraction"] = st.one_of(
    BAD["probability"],
    st.floats(min_value=1e-9, max_value=9 / 1797),
    st.floats(min_value=1 - 9 / 1797, max_value=1, exclude_max=True),
)
BAD["validation fraction"] = st.one_of(
    BAD["probability"], st.floats(min_value=1e-9, max_value=9 / 1797)
)
# an argument that may be None (the default) refuses the same values, None apart
for kind in ("count", "module", "tensor", "positive", "threads", "device"):
    BAD[f"optional {kind}"] = BAD[kind].filter(lambda value: value is not None)


@dataclass(frozen=True)
class Case:
    """One public callable: arguments that work, and the kind of each argument to spoil."""

    function: Callable
    good: st.SearchStrategy  # of keyword-argument dicts that work
    kinds: dict[str, str]  # argument name -> key of BAD
    agrees: Callable[[dict, object], None] | None = field(default=None)  # vs PyTorch


def _plain(value: object) -> object:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


def _flop_macs(function: Callable[[], object]) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        function()
    return counter.get_total_flops() // 2


def _meta(*shape: int) -> torch.Tensor:
    return torch.empty(*shape, device="meta")


# The first convolution under FlopCounterMode loads PyTorch's meta kernels (about a second);
# paid here, once, so that the one-second deadline measures the functions, not the import.
_flop_macs(lambda: F.conv2d(_meta(1, 1, 3, 3), _meta(1, 1, 1, 1)))
_flop_macs(lambda: F.linear(_meta(1, 1), _meta(1, 1)))


# ---- good-argument strategies -------------------------------------------------------------


@st.composite
def output_size_arguments(draw):
    kernel, dilation = draw(ints(1, 5)), draw(ints(1, 3))
    padding, stride = draw(ints(0, 2)), draw(ints(1, 3))
    smallest = max(1, int(dilation) * (int(kernel) - 1) + 1 - 2 * int(padding))
    size = draw(ints(smallest, smallest + 12))
    return {
        "input_size": size,
        "kernel_size": kernel,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
    }


def _check_output_size(kw: dict, result: object) -> None:
    k = _plain(kw)
    x = _meta(1, 1, k["input_size"], k["input_size"])
    w = _meta(1, 1, k["kernel_size"], k["kernel_size"])
    y = F.conv2d(x, w, stride=k["stride"], padding=k["padding"], dilation=k["dilation"])
    assert result == tuple(y.shape[-2:])
    assert all(type(n) is int for n in result)


@st.composite
def conv_arguments(draw, with_output=False):
    groups = draw(ints(1, 3))
    kw = {
        "in_channels": int(groups) * draw(st.integers(1, 4)),
        "out_channels": int(groups) * draw(st.integers(1, 4)),
        "kernel_size": draw(st.one_of(ints(1, 5), st.tuples(ints(1, 5), ints(1, 5)))),
        "groups": groups,
    }
    if with_output:
        kw["output_size"] = draw(st.one_of(ints(1, 9), st.tuples(ints(1, 9), ints(1, 9))))
        kw["batch_size"] = draw(ints(1, 3))
    else:
        kw["bias"] = draw(st.booleans())
    return kw


def _check_conv_parameters(kw: dict, result: object) -> None:
    k = _plain(kw)
    conv = nn.Conv2d(
        k["in_channels"],
        k["out_channels"],
        k["kernel_size"],
        groups=k["groups"],
        bias=k["bias"],
        device="meta",
    )
    assert result == sum(p.numel() for p in conv.parameters()) and type(result) is int


def _check_conv_macs(kw: dict, result: object) -> None:
    k = _plain(kw)
    k_h, k_w = k["kernel_size"] if isinstance(k["kernel_size"], tuple) else (k["kernel_size"],) * 2
    h, w = k["output_size"] if isinstance(k["output_size"], tuple) else (k["output_size"],) * 2
    x = _meta(k["batch_size"], k["in_channels"], h + k_h - 1, w + k_w - 1)
    weight = _meta(k["out_channels"], k["in_channels"] // k["groups"], k_h, k_w)
    assert result == _flop_macs(lambda: F.conv2d(x, weight, groups=k["groups"]))
    assert type(result) is int


def _check_linear_macs(kw: dict, result: object) -> None:
    k = _plain(kw)
    x, weight = _meta(k["rows"], k["in_features"]), _meta(k["out_features"], k["in_features"])
    assert result == _flop_macs(lambda: F.linear(x, weight))


SMALL_MODELS = [
    nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 1)),
    nn.Sequential(nn.Conv2d(3, 6, 3, stride=2, groups=3), nn.Flatten(), nn.LazyLinear(5)),
    nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3), nn.AdaptiveAvgPool2d(1)),
]
SMALL_MODELS[1](torch.zeros(1, 3, 9, 9))  # materialise the lazy layer: 9 x 9 inputs only
model_arguments = st.sampled_from(
    [
        {"model": SMALL_MODELS[0], "input_shape": (2, 3, 5, 7)},
        {"model": SMALL_MODELS[1], "input_shape": (np.int64(1), 3, 9, 9)},
        {"model": SMALL_MODELS[2], "input_shape": [1, 3, 4, 4]},
    ]
)


def _check_model_macs(kw: dict, result: object) -> None:
    x = torch.zeros(_plain(tuple(kw["input_shape"])))
    assert result == _flop_macs(lambda: kw["model"](x))


def _check_count_model(kw: dict, result: object) -> None:
    _check_model_macs(kw, sum(layer.macs for layer in result))
    assert [layer.parameters for layer in result] == [
        sum(p.numel() for p in m.parameters())
        for m in kw["model"].modules()
        if type(m) in (nn.Conv2d, nn.Linear)
    ]


def _check_count_parameters(kw: dict, result: object) -> None:
    assert result == sum(p.numel() for p in kw["module"].parameters())


@st.composite
def same_conv_arguments(draw, reduced=False, strides=True):
    kw = {
        "in_channels": draw(ints(1, 8)),
        "out_channels": draw(ints(1, 8)),
        "kernel_size": draw(st.sampled_from([1, 3, np.int64(5)])),
        "height": draw(ints(1, 9)),
        "width": draw(ints(1, 9)),
    }
    if reduced:
        kw["reduced_channels"] = draw(ints(1, 8))
    elif strides:
        kw["stride"] = draw(ints(1, 2))
    kw["bias"] = draw(st.booleans())
    return kw


def _check_conv_cost(kw: dict, result: object) -> None:
    k = _plain(kw)
    conv = nn.Conv2d(
        k["in_channels"],
        k["out_channels"],
        k["kernel_size"],
        k["stride"],
        k["kernel_size"] // 2,
        bias=k["bias"],
        device="meta",
    )
    x = _meta(1, k["in_channels"], k["height"], k["width"])
    assert result.parameters == sum(p.numel() for p in conv.parameters())
    assert result.macs == _flop_macs(lambda: conv(x))


def _check_break_even(kw: dict, result: object) -> None:
    c_in, c_out, k = (int(kw[name]) for name in ("in_channels", "out_channels", "kernel_size"))
    x = _meta(1, c_in, 7, 7)
    direct = _flop_macs(lambda: F.conv2d(x, _meta(c_out, c_in, k, k), padding=k // 2))

    def through(width: int) -> int:  # 1x1 reduction to width channels, then the k x k
        reduce, spatial = _meta(width, c_in, 1, 1), _meta(c_out, width, k, k)
        return _flop_macs(lambda: F.conv2d(F.conv2d(x, reduce), spatial, padding=k // 2))

    # no saving at the break-even width, a saving one channel narrower
    assert through(result) >= direct
    assert result == 1 or through(result - 1) < direct


def _check_training_macs(kw: dict, result: object) -> None:
    k = _plain(kw)
    x = _meta(k["batch_size"], k["in_channels"], k["height"], k["width"])
    weight = _meta(k["out_channels"], k["in_channels"], 1, 1)
    assert result["forward"] == result["grad_weight"] == _flop_macs(lambda: F.conv2d(x, weight))


def _check_se_weights(kw: dict, result: object) -> None:
    block = squeeze_excitation.SqueezeExcitation(*_plain((kw["channels"], kw["reduction"])))
    assert result == sum(m.weight.numel() for m in block.modules() if isinstance(m, nn.Conv2d))


def _check_separable_ratio(kw: dict, result: object) -> None:
    n, k = _plain((kw["out_channels"], kw["kernel_size"]))
    x = _meta(1, 4, 9, 9)
    separable_macs = _flop_macs(
        lambda: F.conv2d(
            F.conv2d(x, _meta(4, 1, k, k), groups=4, padding=k // 2), _meta(n, 4, 1, 1)
        )
    )
    standard_macs = _flop_macs(lambda: F.conv2d(x, _meta(n, 4, k, k), padding=k // 2))
    assert math.isclose(result, separable_macs / standard_macs)


def _check_depthwise_workload(kw: dict, result: object) -> None:
    n, c, h, w, k = _plain(
        tuple(kw[a] for a in ("batch_size", "channels", "height", "width", "kernel_size"))
    )
    macs = _flop_macs(
        lambda: F.conv2d(_meta(n, c, h, w), _meta(c, 1, k, k), groups=c, padding=k // 2)
    )
    assert result.flops == 2 * macs


def _check_pointwise_workload(kw: dict, result: object) -> None:
    n, c_in, c_out, h, w = _plain(
        tuple(kw[a] for a in ("batch_size", "in_channels", "out_channels", "height", "width"))
    )
    macs = _flop_macs(lambda: F.conv2d(_meta(n, c_in, h, w), _meta(c_out, c_in, 1, 1)))
    assert result.flops == 2 * macs


def fixed(**kw: object) -> st.SearchStrategy:
    return st.just(kw)


def sizes(*names: str, high: int = 6, **fixed_values: object) -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {**{n: ints(1, high) for n in names}, **{k: st.just(v) for k, v in fixed_values.items()}}
    )


COUNT = "count"
CONV = nn.Conv2d(3, 4, 1)
LINEAR = nn.Linear(3, 4)
INCEPTION = inception.Inception(8, 2, 2, 3, 2, 3, 2)
MLPCONV = nin.MlpConv(1, 4, 4, 3, padding=1)
FFN = feed_forward.PositionwiseFeedForward(4, 8)
DATA = synthetic.make_sign_xor_images(2, size=3)
SEED_RUNS = multiseed.SeedRuns(
    "a", (0, 1), (training.TrainingHistory([1.0], [0.5], [0.5]),) * 2, (CONV, CONV)
)
RECOUNT_ROW = table1.RecountRow("inception3a", 1, 0, 1, None, None)
PUBLISHED_ROW = next(row for row in table1.load_table1() if row.stage == "inception3a")
SWEEP = bottleneck.bottleneck_sweep(8, 8, 3, 4, 4, [2])
ROOF = roofline.Roofline(1e9, 1e8)
IMAGES = torch.zeros(2, 1, 8, 8)
LABELS = torch.zeros(2, dtype=torch.int64)
ROUNDS = [[1.0, 1.1], [1.2, 1.0]]
TABLE2 = mobilenet_table2.load_table2()
HISTORY = training.TrainingHistory([1.0], [0.5])
SPLIT = digits.DigitsSplit(IMAGES, LABELS, IMAGES, LABELS)
# splits a training loop cannot use: once they ended in ZeroDivisionError or IndexError
BAD["digits split"] = st.one_of(
    BAD["module"],
    st.sampled_from(
        [
            digits.DigitsSplit(IMAGES[:0], LABELS[:0], IMAGES, LABELS),  # nothing to train on
            digits.DigitsSplit(IMAGES, LABELS, IMAGES[:0], LABELS[:0]),  # nothing to test on
            digits.DigitsSplit(IMAGES, LABELS.float(), IMAGES, LABELS),  # labels not indices
            digits.DigitsSplit(IMAGES, LABELS - 1, IMAGES, LABELS),  # a label below 0
            digits.DigitsSplit(IMAGES[:, 0], LABELS, IMAGES, LABELS),  # images not N x C x H x W
            digits.DigitsSplit(IMAGES.long(), LABELS, IMAGES, LABELS),  # integer pixels
            digits.DigitsSplit(IMAGES, LABELS, IMAGES, LABELS, IMAGES, LABELS[:1]),
        ]
    ),
)
BRANCH_MACS = {"branch1": 1, "branch2": 2, "branch3": 3, "branch4": 0}

CASES: list[Case] = [
    # cost
    Case(
        cost.conv2d_output_size,
        output_size_arguments(),
        {
            "input_size": "pair",
            "kernel_size": "pair",
            "stride": "pair",
            "padding": "pair from 0",
            "dilation": "pair",
        },
        _check_output_size,
    ),
    Case(
        cost.conv2d_parameters,
        conv_arguments(),
        {
            "in_channels": COUNT,
            "out_channels": COUNT,
            "kernel_size": "pair",
            "groups": COUNT,
            "bias": "bool",
        },
        _check_conv_parameters,
    ),
    Case(
        cost.conv2d_macs,
        conv_arguments(with_output=True),
        {
            "in_channels": COUNT,
            "out_channels": COUNT,
            "kernel_size": "pair",
            "output_size": "pair",
            "groups": COUNT,
            "batch_size": COUNT,
        },
        _check_conv_macs,
    ),
    Case(
        cost.linear_macs,
        sizes("in_features", "out_features", "rows"),
        {"in_features": COUNT, "out_features": COUNT, "rows": COUNT},
        _check_linear_macs,
    ),
    Case(
        cost.count_parameters,
        st.fixed_dictionaries({"module": st.sampled_from([CONV, LINEAR, INCEPTION])}),
        {"module": "module", "trainable_only": "bool"},
        _check_count_parameters,
    ),
    Case(
        cost.count_model,
        model_arguments,
        {"model": "module", "input_shape": "shape"},
        _check_count_model,
    ),
    Case(
        cost.model_macs,
        model_arguments,
        {"model": "module", "input_shape": "shape"},
        _check_model_macs,
    ),
    Case(cost.floating_dtype, fixed(model=CONV), {"model": "module"}),
    # layers and blocks
    Case(
        layers.conv_relu,
        sizes("in_channels", "out_channels", "kernel_size", "stride"),
        {
            "in_channels": COUNT,
            "out_channels": COUNT,
            "kernel_size": COUNT,
            "stride": COUNT,
            "padding": "non-negative",
        },
    ),
    Case(
        layers.init_he_normal, fixed(model=nn.Sequential(nn.Conv2d(1, 2, 1))), {"model": "module"}
    ),
    Case(
        inception.Inception,
        sizes("in_channels", "ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj"),
        {
            name: COUNT
            for name in (
                "in_channels",
                "ch1x1",
                "ch3x3red",
                "ch3x3",
                "ch5x5red",
                "ch5x5",
                "pool_proj",
            )
        },
    ),
    Case(
        inception.NaiveInception,
        sizes("in_channels", "ch1x1", "ch3x3", "ch5x5"),
        {name: COUNT for name in ("in_channels", "ch1x1", "ch3x3", "ch5x5")},
    ),
    Case(
        inception.branch_costs,
        fixed(module=INCEPTION, input_shape=(1, 8, 4, 4)),
        {"module": "module", "input_shape": "shape"},
    ),
    Case(inception.branch_parameters, fixed(module=INCEPTION), {"module": "module"}),
    Case(
        googlenet.GoogLeNet,
        fixed(num_classes=10, dropout=0.4),
        {"num_classes": COUNT, "dropout": "probability"},
    ),
    Case(
        small_inception.SmallInceptionNet,
        sizes("in_channels", "num_classes", dropout=0.0),
        {"in_channels": COUNT, "num_classes": COUNT, "dropout": "probability"},
    ),
    Case(
        nin.MlpConv,
        sizes("in_channels", "hidden_channels", "out_channels", "kernel_size"),
        {
            "in_channels": COUNT,
            "hidden_channels": COUNT,
            "out_channels": COUNT,
            "kernel_size": COUNT,
            "padding": "non-negative",
            "stride": COUNT,
            "final_relu": "bool",
        },
    ),
    Case(nin.per_pixel_mlp, fixed(block=MLPCONV), {"block": "module"}),
    Case(
        nin.SmallNiN,
        sizes("in_channels", "num_classes", kernel_size=3, channels=(2, 2, 2)),
        {
            "in_channels": COUNT,
            "num_classes": COUNT,
            "kernel_size": COUNT,
            "dropout": "probability",
            "relu_on_class_maps": "bool",
            "channels": "iterable",
        },
    ),
    Case(
        nin.PlainCNN,
        sizes("in_channels", "num_classes", "hidden_features", image_size=8),
        {
            "in_channels": COUNT,
            "num_classes": COUNT,
            "hidden_features": COUNT,
            "image_size": COUNT,
            "kernel_size": COUNT,
            "dropout": "probability",
            "channels": "iterable",
        },
    ),
    Case(
        nin.dead_class_maps,
        fixed(model=nin.SmallNiN(channels=(2, 2, 2)), images=IMAGES),
        {"model": "module", "images": "tensor"},
    ),
    Case(
        resnet_bottleneck.Bottleneck,
        sizes("channels", "width"),
        {"channels": COUNT, "width": COUNT},
    ),
    Case(resnet_bottleneck.BasicBlock, sizes("channels"), {"channels": COUNT}),
    Case(resnet_bottleneck.convolution_weights, fixed(block=CONV), {"block": "module"}),
    Case(
        separable.DepthwiseSeparable,
        sizes("in_channels", "out_channels", "stride"),
        {"in_channels": COUNT, "out_channels": COUNT, "stride": COUNT, "kernel_size": COUNT},
    ),
    Case(
        separable.separable_cost_ratio,
        st.fixed_dictionaries(
            {"out_channels": ints(1, 64), "kernel_size": st.sampled_from([1, 3, np.int64(5)])}
        ),
        {"out_channels": COUNT, "kernel_size": COUNT},
        _check_separable_ratio,
    ),
    Case(
        separable.depthwise_conv_workload,
        st.fixed_dictionaries(
            {
                **{n: ints(1, 6) for n in ("batch_size", "channels", "height", "width")},
                "kernel_size": st.sampled_from([1, 3, 5]),
            }
        ),
        {
            n: COUNT
            for n in (
                "batch_size",
                "channels",
                "height",
                "width",
                "bytes_per_element",
            )
        }
        | {"kernel_size": "odd kernel"},
        _check_depthwise_workload,
    ),
    Case(mobilenet.MobileNet, fixed(num_classes=10), {"num_classes": COUNT}),
    Case(
        squeeze_excitation.SqueezeExcitation,
        fixed(channels=32, reduction=4),
        {"channels": COUNT, "reduction": COUNT},
    ),
    Case(
        squeeze_excitation.se_weights,
        st.tuples(ints(1, 16), ints(1, 8)).map(
            lambda p: {"channels": p[0] * p[1], "reduction": p[1]}
        ),
        {"channels": COUNT, "reduction": COUNT},
        _check_se_weights,
    ),
    Case(
        squeeze_excitation.se_added_weights,
        fixed(reduction=16),
        {"reduction": COUNT, "stages": "iterable"},
    ),
    Case(
        feed_forward.PositionwiseFeedForward,
        sizes("d_model", "d_ff"),
        {"d_model": COUNT, "d_ff": COUNT},
    ),
    Case(feed_forward.feed_forward_as_conv1d, fixed(ffn=FFN), {"ffn": "module"}),
    Case(feed_forward.feed_forward_as_conv2d, fixed(ffn=FFN), {"ffn": "module"}),
    # pointwise, composition, folding
    Case(pointwise.check_pointwise_conv, fixed(conv=CONV), {"conv": "module"}),
    Case(pointwise.conv1x1_to_linear, fixed(conv=CONV), {"conv": "module"}),
    Case(pointwise.linear_to_conv1x1, fixed(linear=LINEAR), {"linear": "module"}),
    Case(
        pointwise.linear_per_pixel,
        fixed(linear=LINEAR, x=torch.zeros(1, 3, 2, 2)),
        {"linear": "module", "x": "tensor"},
    ),
    Case(
        pointwise.pointwise_as_matmul,
        fixed(x=torch.zeros(1, 3, 2, 2), weight=torch.zeros(4, 3), bias=torch.zeros(4)),
        {"x": "tensor", "weight": "tensor", "bias": "optional tensor"},
    ),
    Case(
        pointwise.pointwise_as_einsum,
        fixed(x=torch.zeros(1, 3, 2, 2), weight=torch.zeros(4, 3), bias=torch.zeros(4)),
        {"x": "tensor", "weight": "tensor", "bias": "optional tensor"},
    ),
    Case(
        composition.compose_pointwise,
        fixed(first=CONV, second=nn.Conv2d(4, 2, 1)),
        {"first": "module", "second": "module"},
    ),
    Case(composition.collapse_pointwise_stack, fixed(layers=[CONV]), {"layers": "iterable"}),
    Case(
        batchnorm_fold.fold_batchnorm,
        fixed(conv=CONV, bn=nn.BatchNorm2d(4)),
        {"conv": "module", "bn": "module"},
    ),
    # costs of whole comparisons
    Case(
        bottleneck.conv_cost,
        same_conv_arguments(),
        {
            "in_channels": COUNT,
            "out_channels": COUNT,
            "kernel_size": COUNT,
            "height": COUNT,
            "width": COUNT,
            "stride": COUNT,
            "bias": "bool",
        },
        _check_conv_cost,
    ),
    Case(
        bottleneck.compare_bottleneck,
        same_conv_arguments(reduced=True),
        {
            "in_channels": COUNT,
            "out_channels": COUNT,
            "kernel_size": COUNT,
            "height": COUNT,
            "width": COUNT,
            "reduced_channels": COUNT,
            "bias": "bool",
        },
    ),
    Case(
        bottleneck.bottleneck_sweep,
        same_conv_arguments(strides=False).map(lambda kw: {**kw, "reduced_channels": [1, 2]}),
        {
            "in_channels": COUNT,
            "out_channels": COUNT,
            "kernel_size": COUNT,
            "height": COUNT,
            "width": COUNT,
            "reduced_channels": "iterable",
            "bias": "bool",
        },
    ),
    Case(
        bottleneck.break_even_channels,
        # odd kernels: "same" padding, so both paths compute every pixel of the image
        sizes("in_channels", "out_channels", high=64).flatmap(
            lambda kw: st.sampled_from([1, 3, 5, np.int64(7)]).map(
                lambda k: {**kw, "kernel_size": k}
            )
        ),
        {"in_channels": COUNT, "out_channels": COUNT, "kernel_size": COUNT},
        _check_break_even,
    ),
    Case(plotting_networks.plot_bottleneck_sweep, fixed(sweep=SWEEP), {"sweep": "iterable"}),
    Case(
        bottleneck.same_conv,
        fixed(in_channels=2, out_channels=2, kernel_size=3),
        {
            "in_channels": COUNT,
            "out_channels": COUNT,
            "kernel_size": COUNT,
            "stride": COUNT,
            "bias": "bool",
        },
    ),
    Case(
        bottleneck.reduction_strategies,
        sizes(
            "in_channels", "out_channels", "reduced_channels", "expanded_channels", kernel_size=3
        ),
        {
            n: COUNT
            for n in (
                "in_channels",
                "out_channels",
                "kernel_size",
                "reduced_channels",
                "expanded_channels",
            )
        }
        | {"bias": "bool"},
    ),
    Case(
        bottleneck.strategy_costs,
        fixed(strategies={"direct": nn.Sequential(CONV)}, in_channels=3, height=4, width=4),
        {"strategies": "mapping", "in_channels": COUNT, "height": COUNT, "width": COUNT},
    ),
    Case(
        backward_cost.pointwise_training_macs,
        sizes("batch_size", "in_channels", "out_channels", "height", "width"),
        {n: COUNT for n in ("batch_size", "in_channels", "out_channels", "height", "width")}
        | {"input_requires_grad": "bool"},
        _check_training_macs,
    ),
    Case(
        backward_cost.saved_activation_bytes,
        fixed(model=CONV, input_shape=(1, 3, 2, 2)),
        {"model": "module", "input_shape": "shape"},
    ),
    Case(table1.separable_stem_cost, fixed(depth_multiplier=8), {"depth_multiplier": COUNT}),
    Case(table1.recount_table1, fixed(), {"model": "optional module"}),
    Case(table1.total, fixed(rows=[RECOUNT_ROW]), {"rows": "iterable"}),
    Case(table1.format_table1, fixed(rows=[RECOUNT_ROW]), {"rows": "iterable"}),
    Case(table1.weights_implied_by_ops, fixed(row=PUBLISHED_ROW), {"row": "module"}),
    Case(
        table1.diagnose,
        fixed(published=PUBLISHED_ROW, recount=RECOUNT_ROW),
        {"published": "module", "recount": "module", "half_units": "positive"},
    ),
    Case(mobilenet_table2.layer_type, fixed(module=CONV), {"module": "module"}),
    Case(mobilenet_table2.recount_table2, fixed(), {"model": "optional module", "biases": "bool"}),
    Case(
        mobilenet_table2.format_table2,
        fixed(published=TABLE2, recount=TABLE2),
        {"published": "mapping", "recount": "mapping"},
    ),
    # data, training, seeds
    Case(runtime.seed_everything, fixed(seed=0), {"seed": "seed"}),
    Case(
        digits.load_digits_split,
        fixed(),
        {
            "test_fraction": "test fraction",
            "seed": "seed",
            "validation_fraction": "validation fraction",
        },
    ),
    Case(
        training.accuracy,
        fixed(model=nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), images=IMAGES, labels=LABELS),
        {"model": "module", "images": "tensor", "labels": "tensor", "device": "optional device"},
    ),
    Case(
        training.train_classifier,
        fixed(model=CONV, split=SPLIT, epochs=1, learning_rate=0.1),
        {
            "model": "module",
            "split": "digits split",
            "epochs": COUNT,
            "learning_rate": "positive",
            "batch_size": COUNT,
            "device": "optional device",
            "seed": "seed",
            "progress": "bool",
        },
    ),
    Case(
        plotting_networks.plot_histories,
        fixed(histories={"a": HISTORY}),
        {"histories": "mapping"},
    ),
    Case(
        multiseed.mean_and_interval,
        fixed(values=[0.5, 0.6]),
        {"values": "iterable", "confidence": "probability"},
    ),
    Case(
        multiseed.paired_difference,
        fixed(first=SEED_RUNS, second=SEED_RUNS),
        {"first": "module", "second": "module"},
    ),
    Case(
        multiseed.train_over_seeds,
        fixed(architectures={}),
        {"architectures": "mapping", "settings": "module"},
    ),
    Case(multiseed.format_runs, fixed(runs={}), {"runs": "mapping"}),
    Case(synthetic.sign_xor_labels, fixed(images=DATA.images), {"images": "tensor"}),
    Case(
        synthetic.make_sign_xor_images,
        fixed(count=2),
        {"count": COUNT, "size": COUNT, "seed": "seed", "contrast_spread": "contrast spread"},
    ),
    Case(
        synthetic.pointwise_stack,
        sizes("depth", "width"),
        {"depth": COUNT, "width": COUNT, "relu": "bool"},
    ),
    Case(
        synthetic.pixel_accuracy,
        fixed(model=synthetic.pointwise_stack(1), data=DATA),
        {"model": "module", "data": "module"},
    ),
    Case(
        synthetic.train_pixel_classifier,
        fixed(model=synthetic.pointwise_stack(1), data=DATA, steps=1, learning_rate=0.1),
        {
            "model": "module",
            "data": "module",
            "steps": COUNT,
            "learning_rate": "positive",
            "seed": "seed",
        },
    ),
    Case(
        synthetic.best_affine_accuracy,
        fixed(data=DATA, directions=4),
        {"data": "module", "directions": COUNT},
    ),
    # figures and glue
    Case(
        plotting_networks.plot_branch_macs,
        fixed(naive_macs=BRANCH_MACS, reduced_macs=BRANCH_MACS),
        {"naive_macs": "mapping", "reduced_macs": "mapping", "title": "str"},
    ),
    Case(
        plotting_style.smallest_text_pixels,
        fixed(figure=Figure()),
        {"figure": "module", "column_pixels": "positive"},
    ),
    Case(
        plotting_networks.show_channels,
        fixed(rows=[torch.zeros(1, 2, 2)], row_titles=["a"]),
        {"cell_inches": "positive", "rows": "iterable"},
    ),
    Case(glue.glue, fixed(name="x", value=1), {"name": "str"}),
    Case(glue.glue_all, fixed(values={}), {"values": "mapping"}),
    # the measurement modules (their arguments are checked before anything is measured)
    Case(
        roofline.Roofline,
        fixed(peak_flops_per_s=1e9, bandwidth_bytes_per_s=1e8),
        {"peak_flops_per_s": "positive", "bandwidth_bytes_per_s": "positive"},
    ),
    Case(
        roofline.pointwise_conv_workload,
        sizes("batch_size", "in_channels", "out_channels", "height", "width"),
        {
            n: COUNT
            for n in (
                "batch_size",
                "in_channels",
                "out_channels",
                "height",
                "width",
                "bytes_per_element",
            )
        },
        _check_pointwise_workload,
    ),
    Case(
        roofline.compute_bound_channels,
        fixed(roof=ROOF, batch_size=1, height=4, width=4),
        {
            "roof": "module",
            "batch_size": COUNT,
            "height": COUNT,
            "width": COUNT,
            "bytes_per_element": COUNT,
        },
    ),
    Case(
        roofline.fma_units_per_cycle,
        fixed(processor="AMD", isa="AVX2"),
        {"processor": "str", "isa": "str"},
    ),
    Case(
        roofline.instruction_set_peak,
        fixed(isa="AVX2", clock_mhz=1000.0, cores=1, fma_units=2),
        {
            "isa": "str",
            "clock_mhz": "optional positive",
            "cores": COUNT,
            "fma_units": "optional count",
        },
    ),
    Case(
        roofline.layer_workloads,
        fixed(model=CONV, input_shape=(1, 3, 2, 2)),
        {"model": "module", "input_shape": "shape", "bytes_per_element": COUNT},
    ),
    Case(
        peak.measure_matmul_rate,
        fixed(size=8, min_run_time=0.01),
        {"size": COUNT, "min_run_time": "positive"},
    ),
    Case(
        peak.measure_copy_bandwidth,
        fixed(megabytes=1, min_run_time=0.01),
        {"megabytes": COUNT, "min_run_time": "positive"},
    ),
    Case(
        peak.measure_roofline,
        fixed(matmul_size=8, copy_megabytes=1, min_run_time=0.01),
        {"matmul_size": COUNT, "copy_megabytes": COUNT, "min_run_time": "positive"},
    ),
    Case(plotting_perf.plot_roofline, fixed(rooflines=[ROOF]), {"rooflines": "iterable"}),
    Case(
        timing.make_input,
        fixed(shape=(1, 2)),
        {"shape": "shape", "seed": "seed", "device": "device", "dtype": "dtype"},
    ),
    Case(
        timing.time_callable,
        fixed(fn=CONV, input_shape=(1, 3, 2, 2)),
        {
            "fn": "module",
            "input_shape": "shape",
            "device": "device",
            "dtype": "dtype",
            "seed": "seed",
            "min_run_time": "positive",
            "warmup": "non-negative",
            "num_threads": "optional threads",
        },
    ),
    Case(
        timing.memory_format_name,
        fixed(memory_format=torch.channels_last),
        {"memory_format": "str"},
    ),
    Case(
        kernels.top_kernels,
        fixed(fn=CONV, x=torch.zeros(1, 3, 2, 2)),
        {"x": "tensor", "calls": COUNT, "most": COUNT},
    ),
    Case(
        intervals.ratio_interval,
        fixed(numerator=ROUNDS, denominator=ROUNDS),
        {"confidence": "probability"},
    ),
    Case(
        intervals.unpaired_ratio_interval,
        fixed(numerator=ROUNDS, denominator=ROUNDS),
        {"confidence": "probability"},
    ),
    Case(
        machine.run_metadata,
        fixed(device="cpu", rounds=1, command="x"),
        {"rounds": COUNT, "command": "str"},
    ),
    Case(precision.precision_dtype, fixed(precision="float32"), {"precision": "str"}),
    Case(precision.element_bytes, fixed(precision="bfloat16"), {"precision": "str"}),
    Case(googlenet.inception_arguments, fixed(stage="inception3a"), {"stage": "str"}),
    Case(
        bottleneck.bottleneck_path,
        sizes("in_channels", "out_channels", "reduced_channels", kernel_size=3),
        {
            "in_channels": COUNT,
            "out_channels": COUNT,
            "reduced_channels": COUNT,
            "kernel_size": COUNT,
            "bias": "bool",
            "relu": "bool",
        },
    ),
    Case(peak.matmul_kernel, fixed(size=2), {"size": COUNT}),
    Case(peak.copy_kernel, fixed(megabytes=1), {"megabytes": COUNT}),
    Case(precision.skip_reason, fixed(precision="float32", device="cpu"), {"precision": "str"}),
    Case(separable_timing.layer_parts, fixed(), {"channels": COUNT}),
    Case(separable_timing.part_flops, fixed(), {"input_shape": "shape"}),
]
"""The public API, one row per callable."""

EXCLUDED = {
    # the checks themselves: tested one by one in tests/test_validation.py
    "onebyone.validation",
    # the experiment command parses its options at the edge; tests/test_experiments.py feeds
    # it bad options, a bad --out and an interrupt (issue 17, item 3)
    "onebyone.perf.experiments",
    # the command's machinery: it builds its tasks and workloads from the options the command
    # line parsed and checked at the edge (tests/test_experiments.py), and writes its own rows
    "onebyone.perf.suite",
    "onebyone.perf.workloads",
    "onebyone.perf.separable_timing.main",
    # pairing two recordings' rows as read_results typed them (test_compare_event_and_graph)
    "onebyone.perf.event_vs_graph",
    # a declaration that checks its own fields; tests/test_glue.py feeds it bad ones
    "onebyone.glue.Varies",
    # file writers: their paths and texts come from the package's own commands, which check
    # their options at the edge; tests/test_atomic.py feeds them a failing write and bytes
    "onebyone.atomic",
    # the commands' shared writer and option checks (argparse types, --out, signals): fed bad
    # options, paths, signals and failing writes by tests/test_recording.py
    "onebyone.recording",
    # exercise checkers answer a student's wrong answer with ExerciseFailed and a hint, by
    # design (tests/test_exercises_*.py), and their helpers take no user input
    "onebyone.exercises",
    # take no arguments: nothing to refuse
    "onebyone.glue.myst_nb_available",
    "onebyone.perf.precision.precision_settings",
    "onebyone.perf.precision.tf32_is_allowed",
    "onebyone.runtime.default_device",
    "onebyone.table1.plain_stem_cost",
    # readers of recorded files (their only argument a path, by default the package's own
    # table): a file they cannot trust is refused with onebyone.records.RecordError naming the
    # file, line and column, and a path that is not one with a TypeError naming `path`;
    # tests/test_records.py feeds each of them cut, mistyped and foreign files (issue 23, item 3)
    "onebyone.records",
    "onebyone.perf.gpu_specs.load_gpu_specs",
    "onebyone.mobilenet_table2.load_table2",
    "onebyone.table1.load_table1",
    # records: plain dataclasses built by the package's own functions, from parsed values
    "onebyone.bottleneck.ConvCost",
    "onebyone.bottleneck.BottleneckComparison",
    "onebyone.bottleneck.StrategyCost",
    "onebyone.cost.LayerCost",
    "onebyone.digits.DigitsSplit",
    "onebyone.perf.gpu_specs.GpuSpec",
    "onebyone.perf.intervals.Interval",
    "onebyone.perf.peak.PeakKernel",
    "onebyone.mobilenet_table2.Table2Row",
    "onebyone.multiseed.ComparisonSettings",
    "onebyone.multiseed.SeedRuns",
    "onebyone.multiseed.PairedDifference",
    "onebyone.perf.roofline.Workload",
    "onebyone.synthetic.SignXorImages",
    "onebyone.table1.PublishedRow",
    "onebyone.table1.RecountRow",
    "onebyone.table1.StemCost",
    "onebyone.perf.timing.Timing",
    "onebyone.training.TrainingHistory",
    # an error the package raises (tests/test_training.py), not a function fed values
    "onebyone.training.TrainingDiverged",
    # typing protocols and a decorator, not functions a user feeds values to
    "onebyone.perf.gpu_timing.Event",
    "onebyone.perf.gpu_timing.EventClock",
    "onebyone.perf.gpu_timing.Device",
    # a record the timer builds from its own measurements
    "onebyone.perf.gpu_timing.EventTimes",
    "onebyone.plotting.style.book_style",
    # need a CUDA device; their checks are tested with a scripted clock in tests/test_timing.py
    "onebyone.perf.gpu_timing.CudaEventClock",
    "onebyone.perf.gpu_timing.CudaDevice",
    "onebyone.perf.gpu_timing.nvml_sm_clock_mhz",
    # take a Device: their checks (min_run_time, block_calls, sleep_margin, calls) are tested
    # on a simulated GPU in tests/test_gpu_timing.py; sleep_seconds is their internal rule
    "onebyone.perf.gpu_timing.estimate_enqueue_seconds",
    # its one argument's type is checked in tests/test_gpu_specs.py
    "onebyone.perf.gpu_specs.spec_for_device",
    "onebyone.perf.gpu_timing.sleep_seconds",
    # pure functions of profiler events (tested with fake events in tests/test_gpu_timing.py)
    # and profile_calls, which needs a Device and a profiler
    "onebyone.perf.gpu_referee",
    # every sample argument goes through one check, tested with strings, bools, nan and empty
    # samples in tests/test_timer_checks.py
    "onebyone.perf.timer_checks",
    "onebyone.perf.gpu_timing.time_with_events",
    "onebyone.perf.gpu_timing.capture_cuda_graph",
    "onebyone.perf.precision.tf32_allowed",
    # read or write the package's own recorded CSV files, whose rows are parsed once at the
    # edge (onebyone.records, through results.read_results and read_parts);
    # tests/test_records.py feeds them malformed files.
    "onebyone.perf.results",
    "onebyone.plotting.perf.plot_same_math",
    "onebyone.plotting.perf.plot_bottleneck",
    "onebyone.plotting.perf.plot_roofline_sweep",
    "onebyone.plotting.perf.plot_inception",
    "onebyone.plotting.perf.plot_precision",
    "onebyone.perf.separable_timing.read_parts",
    "onebyone.perf.separable_timing.measure_parts",
    "onebyone.perf.separable_timing.page_faults_per_call",
    "onebyone.perf.separable_timing.depthwise_time_share",
    "onebyone.perf.separable_timing.fix_allocator",
    "onebyone.perf.timing.format_rounds",
    "onebyone.perf.timing.parse_rounds",
    "onebyone.perf.timing.describe_device",
    "onebyone.perf.timing.merge_timings",
    "onebyone.perf.intervals.per_round_ratios",
    "onebyone.perf.intervals.row_time",
    "onebyone.perf.kernels.convolution_kernel",
    "onebyone.perf.kernels.quiet_profile",
    # their only argument is a test seam (lines of /proc/cpuinfo) or a CUDA device
    "onebyone.perf.machine.cpu_flags",
    "onebyone.perf.machine.isa_summary",
    "onebyone.perf.machine.has_native_cpu_bfloat16",
    "onebyone.perf.machine.cpu_clock_mhz",
    "onebyone.perf.machine.cpu_model",
    "onebyone.perf.machine.gpu_clock_mhz",
}
"""Public callables the table leaves out, each with its reason."""


def _qualified(function: Callable) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def _public_callables() -> set[str]:
    names = set()
    for info in pkgutil.walk_packages(onebyone.__path__, "onebyone."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if name.startswith("_") or not (inspect.isfunction(value) or inspect.isclass(value)):
                continue
            if value.__module__ == module.__name__:
                names.add(f"{module.__name__}.{name}")
    return names


def _excluded(name: str) -> bool:
    return any(name == item or name.startswith(item + ".") for item in EXCLUDED)


def test_every_public_callable_is_in_the_table():
    covered = {_qualified(case.function) for case in CASES}
    public = _public_callables()
    missing = sorted(name for name in public - covered if not _excluded(name))
    assert not missing, f"public callables with no row in CASES or EXCLUDED: {missing}"
    assert not covered & {name for name in public if _excluded(name)}, "both covered and excluded"
    # every exclusion still names something: a renamed function must not hide behind it
    stale = [
        item for item in EXCLUDED if not any(n == item or n.startswith(item + ".") for n in public)
    ]
    assert not stale, f"exclusions that name nothing: {stale}"


def test_every_named_argument_exists():
    for case in CASES:
        parameters = inspect.signature(case.function).parameters
        assert set(case.kinds) <= set(parameters), (_qualified(case.function), case.kinds)


BAD_CASES = [
    pytest.param(case, argument, id=f"{case.function.__name__}-{argument}")
    for case in CASES
    for argument in case.kinds
]


@pytest.mark.parametrize(("case", "argument"), BAD_CASES)
def test_bad_arguments_are_refused_by_name(case, argument):
    @BAD_SETTINGS
    @given(good=case.good, bad=BAD[case.kinds[argument]])
    def refuses(good, bad):
        with pytest.raises((ValueError, TypeError)) as error:
            case.function(**{**good, argument: bad})
        # the name as a word of its own: "XXseedXX" or "seeds" does not name "seed"
        named = re.search(rf"(?<!\w){re.escape(argument)}(?!\w)", str(error.value))
        assert named, (bad, str(error.value))

    refuses()


GOOD_CASES = [
    pytest.param(case, id=case.function.__name__) for case in CASES if case.agrees is not None
]


@pytest.mark.parametrize("case", GOOD_CASES)
def test_good_arguments_agree_with_pytorch(case):
    @GOOD_SETTINGS
    @given(good=case.good)
    def agrees(good):
        case.agrees(good, case.function(**good))

    agrees()


def test_model_macs_refuses_what_it_cannot_count():
    class FunctionalConv(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(4, 3, 1, 1))

        def forward(self, x):
            return F.conv2d(x, self.weight)

    refused = {
        "Conv1d": (nn.Conv1d(3, 4, 1), (1, 3, 5)),
        "Conv3d": (nn.Conv3d(3, 4, 1), (1, 3, 2, 2, 2)),
        "ConvTranspose2d": (nn.ConvTranspose2d(3, 4, 1), (1, 3, 5, 5)),
        "lazy": (nn.Sequential(nn.LazyConv2d(4, 1)), (1, 3, 5, 5)),
        "F.conv2d": (FunctionalConv(), (1, 3, 5, 5)),
    }
    for what, (model, shape) in refused.items():
        with pytest.raises(ValueError, match=what.replace(".", r"\.")):
            cost.model_macs(model, shape)
    with pytest.raises(ValueError, match=r"layer '0' \(Conv1d\)"):
        cost.count_model(nn.Sequential(nn.Conv1d(3, 4, 1)), (1, 3, 5))
    with pytest.raises(ValueError, match="forward pass first"):
        cost.count_model(nn.Sequential(nn.LazyConv2d(4, 1)), (1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"its input must be N x 3 x H x W, got 1 x 5 x 4 x 4"):
        cost.count_model(nn.Sequential(nn.Conv2d(3, 4, 1)), (1, 5, 4, 4))


MODELS = {
    # name: (factory, an input shape that works, the expected shape the error must name)
    "Inception": (lambda: inception.Inception(8, 2, 2, 3, 2, 3, 2), (1, 8, 5, 5), "N x 8 x H x W"),
    "NaiveInception": (lambda: inception.NaiveInception(8, 2, 3, 2), (1, 8, 5, 5), "N x 8 x H x W"),
    "SmallInceptionNet": (small_inception.SmallInceptionNet, (2, 1, 8, 8), "N x 1 x H x W"),
    "MlpConv": (lambda: nin.MlpConv(3, 4, 5, 3), (1, 3, 5, 5), "N x 3 x H x W"),
    "SmallNiN": (lambda: nin.SmallNiN(channels=(4, 4, 4)), (2, 1, 8, 8), "N x 1 x H x W"),
    "PlainCNN": (lambda: nin.PlainCNN(channels=(4, 4, 4)), (2, 1, 8, 8), "N x 1 x 8 x 8"),
    "Bottleneck": (lambda: resnet_bottleneck.Bottleneck(16, 4), (1, 16, 4, 4), "N x 16 x H x W"),
    "BasicBlock": (lambda: resnet_bottleneck.BasicBlock(8), (1, 8, 4, 4), "N x 8 x H x W"),
    "DepthwiseSeparable": (
        lambda: separable.DepthwiseSeparable(4, 8),
        (1, 4, 6, 6),
        "N x 4 x H x W",
    ),
    "SqueezeExcitation": (
        lambda: squeeze_excitation.SqueezeExcitation(16, 4),
        (1, 16, 3, 3),
        "N x 16 x H x W",
    ),
    "PositionwiseFeedForward": (
        lambda: feed_forward.PositionwiseFeedForward(4, 8),
        (2, 3, 4),
        "... x L x 4",
    ),
    "GoogLeNet": (googlenet.GoogLeNet, (1, 3, 224, 224), "N x 3 x 224 x 224"),
    "MobileNet": (mobilenet.MobileNet, (1, 3, 224, 224), "N x 3 x H x W"),
}
"""The model classes of the package, built small where their sizes are free."""


def _fits(shape: tuple[int, ...], expected: str) -> bool:
    """Whether ``shape`` matches a pattern such as ``N x 8 x H x W`` or ``... x L x 4``."""
    pattern = expected.split(" x ")
    if pattern[0] == "...":
        pattern = pattern[1:]
        if len(shape) < len(pattern):
            return False
        shape = shape[len(shape) - len(pattern) :]
    return len(shape) == len(pattern) and all(
        not p.isdigit() or int(p) == size for p, size in zip(pattern, shape, strict=True)
    )


@st.composite
def wrong_shapes(draw, good: tuple[int, ...], expected: str):
    """A shape near ``good`` that the model must refuse: a size changed, an axis added or lost."""
    shape = list(good)
    change = draw(st.sampled_from(["size", "drop", "add"]))
    if change == "size":
        shape[draw(st.integers(0, len(shape) - 1))] = draw(st.integers(1, 20))
    elif change == "drop":
        del shape[draw(st.integers(0, len(shape) - 1))]
    else:
        shape.insert(draw(st.integers(0, len(shape))), draw(st.integers(1, 3)))
    hypothesis.assume(not _fits(tuple(shape), expected))
    return tuple(shape)


@pytest.mark.parametrize("name", MODELS)
def test_forward_on_a_wrong_shape_names_the_expected_one(name):
    factory, good_shape, expected = MODELS[name]
    with torch.device("meta"):  # shapes only: nothing is computed or allocated
        model = factory().eval()
    assert model(torch.empty(good_shape, device="meta")).shape[0] == good_shape[0]

    @BAD_SETTINGS
    @given(shape=wrong_shapes(good_shape, expected))
    def refuses(shape):
        shown = " x ".join(map(str, shape))
        with pytest.raises(ValueError, match=rf"x must be {re.escape(expected)}, got {shown}$"):
            model(torch.empty(shape, device="meta"))

    refuses()
