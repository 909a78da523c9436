"""MobileNet-224, as in Table 1 of Howard et al. (2017): a 3x3 convolution, 13
depthwise-separable convolutions, global average pooling and a linear classifier.

Why: the chapter recounts the paper's Table 2 (where the mult-adds and parameters go, by layer
type) from a network whose every layer is written out here, in the order of Table 1.
"""

from __future__ import annotations

import torch
from torch import nn

from onebyone import validation
from onebyone.separable import DepthwiseSeparable

SEPARABLE_LAYERS: tuple[tuple[int, int, int], ...] = (
    (32, 64, 1),  # 112 x 112
    (64, 128, 2),  # -> 56 x 56
    (128, 128, 1),
    (128, 256, 2),  # -> 28 x 28
    (256, 256, 1),
    (256, 512, 2),  # -> 14 x 14
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 1024, 2),  # -> 7 x 7
    (1024, 1024, 1),  # Table 1 prints "s2" here, but its output is 7 x 7: stride 1
)
"""``(in_channels, out_channels, depthwise stride)`` of the 13 separable layers of Table 1."""


class MobileNet(nn.Module):
    """MobileNet-224 with width multiplier 1 (no biases in convolutions: each has a BN).

    Args:
        num_classes: outputs of the final fully connected layer (1000 for ImageNet).

    Raises:
        TypeError, ValueError: ``num_classes`` not a positive integer; in the forward pass, an
            input that is not ``N x 3 x H x W``.
    """

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        num_classes = validation.positive_integer("num_classes", num_classes)
        self.stem = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
        )
        self.features = nn.Sequential(
            *(DepthwiseSeparable(cin, cout, stride) for cin, cout, stride in SEPARABLE_LAYERS)
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``N x 3 x 224 x 224`` images to ``N x num_classes`` logits."""
        validation.tensor_shape("x", x, ("N", 3, "H", "W"), owner="MobileNet")
        x = self.stem(x)  # N x 32 x 112 x 112
        x = self.features(x)  # N x 1024 x 7 x 7
        return self.fc(torch.flatten(self.pool(x), 1))  # N x num_classes
