"""MobileNet-224: the errors of its forward pass (its shapes and costs: test_mobilenet_table2)."""

import pytest
import torch

from onebyone.mobilenet import MobileNet


def test_a_wrong_input_is_refused_by_mobilenet_by_name():
    with torch.device("meta"):  # nothing is computed or allocated
        model = MobileNet(num_classes=10)
        x = torch.empty(2, 1, 224, 224)
    expected = r"^MobileNet: x must be N x 3 x H x W, got 2 x 1 x 224 x 224$"
    with pytest.raises(ValueError, match=expected):
        model(x)
