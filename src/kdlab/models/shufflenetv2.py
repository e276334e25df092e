"""ShuffleNet v2 at width 1 (Ma et al. 2018) as the CRD benchmark (Tian et al. 2020) defines it for
CIFAR: a 1x1 stem of 24 channels (no stride, no max-pool), then 3 stages of 116/232/464 channels,
each a stride-2 down-sampling unit followed by 3/7/3 units that split the channels in halves, transform
one and shuffle them back together; a 1x1 convolution to 1024 channels, global average pooling
(adaptive: 32x32 inputs end at 4x4, 8x8 inputs at 1x1) and a linear layer. At 3x32x32 with 100
classes it has 1,355,528 parameters.

Feature paths (`feature_paths`, module paths of `named_modules()`):
- stages: `stem` (conv-BN-ReLU), `stage1`, `stage2`, `stage3` (464 channels, before the last 1x1
  convolution), as in the benchmark's feature lists;
- preact: `stem` (its output, as in the benchmark's lists), then `stageK.<last>.preact`: the last
  unit's output before the ReLU of its transformed half. Its channels are in the order of the stage
  output (the benchmark takes it before the shuffle), so relu(preact) is the stage output;
- embedding: `embedding`, the pooled 1024-vector; classifier: `fc`.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS, image_channels
from .shufflenetv1 import channel_shuffle

STEM = 24
CHANNELS = (116, 232, 464)
UNITS = (3, 7, 3)  # after each stage's down-sampling unit
LAST_CHANNELS = 1024


class DownUnit(nn.Module):
    """Both halves of the output see the whole input, at stride 2; a shuffle mixes them."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        half = c_out // 2
        self.left = nn.Sequential(
            nn.Conv2d(c_in, c_in, 3, 2, 1, groups=c_in, bias=False), nn.BatchNorm2d(c_in),
            nn.Conv2d(c_in, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
        )
        self.right = nn.Sequential(
            nn.Conv2d(c_in, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
            nn.Conv2d(half, half, 3, 2, 1, groups=half, bias=False), nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(torch.cat([self.left(x), self.right(x)], 1), 2)


class SplitUnit(nn.Module):
    """The first half of the channels passes unchanged; the second is transformed; a shuffle mixes them."""

    def __init__(self, channels: int):
        super().__init__()
        half = channels // 2
        self.branch = nn.Sequential(
            nn.Conv2d(half, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
            nn.Conv2d(half, half, 3, 1, 1, groups=half, bias=False), nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 1, bias=False), nn.BatchNorm2d(half),
        )
        self.preact = nn.Identity()  # the unit's output before the ReLU, for a forward hook

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept, transformed = x.chunk(2, dim=1)
        out = channel_shuffle(torch.cat([kept, self.branch(transformed)], 1), 2)
        # One ReLU after the shuffle computes the benchmark's unit (a ReLU on the transformed half
        # only): the kept half is >= 0 already, every unit's output being a ReLU's. Its pre-ReLU
        # values are then one tensor, in the output's channel order, for the tap.
        return torch.relu(self.preact(out))


class ShuffleNetV2(nn.Module):
    feature_paths = {
        "stages": ["stem", "stage1", "stage2", "stage3"],
        "preact": ["stem"] + [f"stage{i}.{n}.preact" for i, n in enumerate(UNITS, start=1)],
        "embedding": ["embedding"],
        "classifier": ["fc"],
    }

    def __init__(self, num_classes: int, in_channels: int = 3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, STEM, 1, bias=False), nn.BatchNorm2d(STEM),
                                  nn.ReLU(inplace=True))
        c = STEM
        for i, (width, n) in enumerate(zip(CHANNELS, UNITS), start=1):
            self.add_module(f"stage{i}", nn.Sequential(DownUnit(c, width), *[SplitUnit(width) for _ in range(n)]))
            c = width
        self.head = nn.Sequential(nn.Conv2d(c, LAST_CHANNELS, 1, bias=False), nn.BatchNorm2d(LAST_CHANNELS),
                                  nn.ReLU(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.embedding = nn.Identity()
        self.fc = nn.Linear(LAST_CHANNELS, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(self.embedding(self.pool(self.head(x)).flatten(1)))


@MODELS.register("shufflenetv2")
def shufflenetv2(num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
    return ShuffleNetV2(num_classes, image_channels("shufflenetv2", input_shape))
