"""GoogLeNet: the shape after every stage, its layers, and its channels against the paper."""

import inspect

import pytest
import torch
from torch import nn

from onebyone.cost import count_parameters
from onebyone.googlenet import INCEPTION_CHANNELS, GoogLeNet, inception_arguments
from onebyone.inception import Inception
from onebyone.table1 import load_table1

# The paper's "output size" column, typed in here from Table 1 (channels, height, width).
EXPECTED_STAGES = [
    ("conv1", (64, 112, 112)),
    ("maxpool1", (64, 56, 56)),
    ("conv2", (192, 56, 56)),
    ("maxpool2", (192, 28, 28)),
    ("inception3a", (256, 28, 28)),
    ("inception3b", (480, 28, 28)),
    ("maxpool3", (480, 14, 14)),
    ("inception4a", (512, 14, 14)),
    ("inception4b", (512, 14, 14)),
    ("inception4c", (512, 14, 14)),
    ("inception4d", (528, 14, 14)),
    ("inception4e", (832, 14, 14)),
    ("maxpool4", (832, 7, 7)),
    ("inception5a", (832, 7, 7)),
    ("inception5b", (1024, 7, 7)),
    ("avgpool", (1024, 1, 1)),
    ("dropout", (1024,)),
    ("fc", (1000,)),
]


@pytest.fixture(scope="module")
def stage_outputs():
    """Run one real 1 x 3 x 224 x 224 image and record the output shape of every stage."""
    torch.manual_seed(0)
    model = GoogLeNet().eval()
    shapes = []
    handles = [
        child.register_forward_hook(
            lambda module, args, output, name=name: shapes.append((name, tuple(output.shape)))
        )
        for name, child in model.named_children()
    ]
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 224, 224))
    for handle in handles:
        handle.remove()
    return shapes, logits


def test_shape_after_every_stage(stage_outputs):
    shapes, logits = stage_outputs
    assert shapes == [(name, (1, *shape)) for name, shape in EXPECTED_STAGES]
    assert logits.shape == (1, 1000) and torch.isfinite(logits).all()


def test_stages_match_the_output_size_column_of_the_published_table(stage_outputs):
    shapes = dict(stage_outputs[0])
    for row in load_table1():
        if row.stage == "softmax":  # the model returns logits; the loss applies the softmax
            assert row.stage not in shapes
            continue
        channels, height, width = row.output_size
        shape = shapes[row.stage]
        assert shape[1] == channels
        assert shape[2:] in ((height, width), ())  # dropout and fc are flat: 1 x 1 in the table


def test_inception_channels_match_the_published_table():
    table = {row.stage: row for row in load_table1()}
    model = GoogLeNet()
    for name, arguments in INCEPTION_CHANNELS.items():
        assert table[name].channels() == arguments[1:]
        module = getattr(model, name)
        assert isinstance(module, Inception)
        assert module.out_channels == table[name].output_size[0]
    # each module's input is the previous stage's output
    inputs = [args[0] for args in INCEPTION_CHANNELS.values()]
    assert inputs == [192, 256, 480, 512, 512, 512, 528, 832, 832]


def test_layers_are_explicit_relu_after_every_convolution_no_normalisation():
    model = GoogLeNet()
    assert not any(isinstance(m, nn.modules.lazy.LazyModuleMixin) for m in model.modules())
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.LocalResponseNorm)) for m in model.modules())
    layers = [m for m in model.modules() if not list(m.children())]
    convolutions = [i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d)]
    assert len(convolutions) == 2 + 1 + 9 * 6  # conv1, conv2's two layers, six per module
    for index in convolutions:
        assert isinstance(layers[index + 1], nn.ReLU)
    assert model.conv1[0].stride == (2, 2) and model.conv1[0].kernel_size == (7, 7)


def test_parameter_count_by_hand():
    """Weights and biases of the stem, the nine modules and the classifier, written out."""

    def conv(c_in, c_out, k):
        return c_in * c_out * k * k + c_out

    def module(c_in, ch1, ch3r, ch3, ch5r, ch5, proj):
        return (
            conv(c_in, ch1, 1)
            + conv(c_in, ch3r, 1)
            + conv(ch3r, ch3, 3)
            + conv(c_in, ch5r, 1)
            + conv(ch5r, ch5, 5)
            + conv(c_in, proj, 1)
        )

    expected = conv(3, 64, 7) + conv(64, 64, 1) + conv(64, 192, 3) + 1024 * 10 + 10
    expected += sum(module(*arguments) for arguments in INCEPTION_CHANNELS.values())
    assert count_parameters(GoogLeNet(num_classes=10)) == expected


def test_dropout_probability_and_bad_arguments():
    assert GoogLeNet().dropout.p == pytest.approx(0.4)
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        GoogLeNet(num_classes=0)
    with pytest.raises(ValueError, match=r"dropout must be a probability in \[0, 1\)"):
        GoogLeNet(dropout=1.0)
    with pytest.raises(
        ValueError, match=r"^GoogLeNet: x must be N x 3 x 224 x 224, got 1 x 3 x 32 x 32$"
    ):
        GoogLeNet()(torch.randn(1, 3, 32, 32))


def test_poolings_match_the_patch_size_and_stride_column_of_the_published_table():
    """Table 1's "patch size/stride": the four max pools are 3x3/2, the average pool 7x7/1."""
    model = GoogLeNet()
    rows = [row for row in load_table1() if row.type in ("max pool", "avg pool")]
    assert [row.stage for row in rows] == [
        "maxpool1", "maxpool2", "maxpool3", "maxpool4", "avgpool",
    ]  # fmt: skip
    for row in rows:
        pool = getattr(model, row.stage)
        assert isinstance(pool, nn.MaxPool2d if row.type == "max pool" else nn.AvgPool2d)
        assert (pool.kernel_size, pool.stride) == (row.patch_size, row.stride), row.stage


def test_inception_arguments_are_the_table_1_columns_under_inceptions_own_names():
    table = {row.stage: row for row in load_table1()}
    names = list(inspect.signature(Inception).parameters)  # in_channels, ch1x1, ... pool_proj
    with torch.device("meta"):  # shapes only
        model = GoogLeNet()
    for stage in INCEPTION_CHANNELS:
        arguments = inception_arguments(stage)
        assert list(arguments) == names
        assert tuple(arguments[name] for name in names[1:]) == table[stage].channels()
        with torch.device("meta"):
            built, inside = Inception(**arguments), getattr(model, stage)
        assert [p.shape for p in built.parameters()] == [p.shape for p in inside.parameters()]


def test_inception_arguments_refuses_a_stage_that_table_1_has_not():
    with pytest.raises(
        ValueError, match=r"^unknown stage 'inception9z'; choose from \['inception3a', 'incep"
    ):
        inception_arguments("inception9z")
    with pytest.raises(TypeError, match=r"^stage must be a str such as 'inception3a', got 3$"):
        inception_arguments(3)


def test_runs_on_the_meta_device_for_a_batch():
    model = GoogLeNet().to("meta")
    assert model(torch.empty(4, 3, 224, 224, device="meta")).shape == (4, 1000)
