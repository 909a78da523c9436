"""MobileNet-224: its stem and its forward errors (its shapes and costs: test_mobilenet_table2)."""

import pytest
import torch
from torch import nn

from onebyone.mobilenet import MobileNet


def test_a_wrong_input_is_refused_by_mobilenet_by_name():
    with torch.device("meta"):  # nothing is computed or allocated
        model = MobileNet(num_classes=10)
        x = torch.empty(2, 1, 224, 224)
    expected = r"^MobileNet: x must be N x 3 x H x W, got 2 x 1 x 224 x 224$"
    with pytest.raises(ValueError, match=expected):
        model(x)


def test_the_stem_is_a_strided_3x3_convolution_batch_norm_and_relu():
    """Table 1's first row, "Conv / s2, 3 x 3 x 3 x 32", followed by BN and ReLU (Fig. 3)."""
    with torch.device("meta"):  # nothing is computed or allocated
        stem = MobileNet(num_classes=10).stem
    assert [type(layer) for layer in stem] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    conv, norm, _ = stem
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride) == (
        3, 32, (3, 3), (2, 2))
    assert norm.num_features == 32
