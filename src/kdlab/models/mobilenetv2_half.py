"""MobileNetV2 at width 0.5, as the CRD benchmark (Tian et al. 2020; its "MobileNetV2", from
Jin et al. 2019, "Knowledge distillation via route constrained optimization") defines it for
CIFAR. It differs from P1's `mobilenetv2`: the stem has stride 2 and the second stage stride 1
(32x32 inputs end at 2x2), every block has its 1x1 expansion (also where the expansion is 1), the
activations are ReLU (not ReLU6), and the last 1x1 convolution keeps 1280 channels. At 3x32x32 with
100 classes it has 812,836 parameters. Pooling is adaptive; 8x8 inputs reach 1x1 in the fourth
stage, and the stride-2 stages after it keep 1x1.

Feature paths (`feature_paths`, module paths of `named_modules()`):
- stages: `stem` (conv-BN-ReLU), then `blocks.1`, `blocks.2`, `blocks.4`, `blocks.6` (12, 16, 48
  and 160 channels), the benchmark's feature maps;
- preact: the same paths: an inverted residual block ends in a linear 1x1 projection (no
  activation), and the stem's entry is its output as in the benchmark's lists;
- embedding: `embedding`, the pooled 1280-vector; classifier: `fc`.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS, image_channels, init_convolutions

WIDTH = 0.5
# (expansion, channels, blocks, stride) per stage.
STAGES = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
LAST_CHANNELS = 1280


def _conv_bn_relu(c_in: int, c_out: int, k: int, stride: int, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True)]


class InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int):
        super().__init__()
        hidden = c_in * expansion
        self.body = nn.Sequential(
            *_conv_bn_relu(c_in, hidden, 1, 1),
            *_conv_bn_relu(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2Half(nn.Module):
    feature_paths = {
        "stages": ["stem", "blocks.1", "blocks.2", "blocks.4", "blocks.6"],
        "preact": ["stem", "blocks.1", "blocks.2", "blocks.4", "blocks.6"],
        "embedding": ["embedding"],
        "classifier": ["fc"],
    }

    def __init__(self, num_classes: int, in_channels: int = 3):
        super().__init__()
        c = int(32 * WIDTH)
        self.stem = nn.Sequential(*_conv_bn_relu(in_channels, c, 3, 2))
        self.blocks = nn.ModuleList()
        for t, ch, n, s in STAGES:
            ch = int(ch * WIDTH)
            self.blocks.append(nn.Sequential(*[InvertedResidual(c if j == 0 else ch, ch, s if j == 0 else 1, t)
                                               for j in range(n)]))
            c = ch
        self.head = nn.Sequential(*_conv_bn_relu(c, LAST_CHANNELS, 1, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.embedding = nn.Identity()
        self.fc = nn.Linear(LAST_CHANNELS, num_classes)
        init_convolutions(self)
        nn.init.normal_(self.fc.weight, 0, 0.01)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.blocks:
            x = stage(x)
        return self.fc(self.embedding(self.pool(self.head(x)).flatten(1)))


@MODELS.register("mobilenetv2_half")
def mobilenetv2_half(num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
    return MobileNetV2Half(num_classes, image_channels("mobilenetv2_half", input_shape))
