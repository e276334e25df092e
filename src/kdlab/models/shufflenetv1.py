"""ShuffleNet v1 (Zhang et al. 2018) as the CRD benchmark (Tian et al. 2020) defines it for CIFAR:
a 1x1 stem of 24 channels (no stride, no max-pool), then 3 stages of 240/480/960 channels with
4/8/4 bottleneck units in 3 groups. Each stage starts with a stride-2 unit that concatenates its
branch with a 3x3 average-pooled shortcut. At 3x32x32 with 100 classes it has 949,258 parameters.
Pooling is adaptive (32x32 inputs end at 4x4, 8x8 inputs at 1x1).

Feature paths (`feature_paths`, module paths of `named_modules()`):
- stages: `stem` (conv-BN-ReLU), `stage1`, `stage2`, `stage3` (each unit ends in a ReLU);
- preact: `stem` (its output, as in the benchmark's lists), then `stageK.<last>.preact`, the last
  unit's sum (or concatenation) before its ReLU;
- embedding: `embedding`, the pooled vector; classifier: `fc`.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS, image_channels

STEM = 24
CHANNELS = (240, 480, 960)
UNITS = (4, 8, 4)
GROUPS = 3


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of `groups` groups, so the next grouped convolution mixes them."""
    return x.unflatten(1, (groups, -1)).transpose(1, 2).flatten(1, 2)


class ShuffleUnit(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, groups: int, first_groups: int):
        super().__init__()
        # A stride-2 unit concatenates its shortcut, so its branch makes only the channels missing.
        branch = c_out - c_in if stride == 2 else c_out
        mid = branch // 4
        self.first_groups = first_groups
        self.conv1 = nn.Conv2d(c_in, mid, 1, groups=first_groups, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, branch, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(branch)
        self.shortcut = nn.AvgPool2d(3, 2, 1) if stride == 2 else None
        self.preact = nn.Identity()  # the sum (or concatenation) before the ReLU, for a forward hook

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = channel_shuffle(torch.relu(self.bn1(self.conv1(x))), self.first_groups)
        out = self.bn3(self.conv3(torch.relu(self.bn2(self.conv2(out)))))
        out = out + x if self.shortcut is None else torch.cat([out, self.shortcut(x)], 1)
        return torch.relu(self.preact(out))


class ShuffleNetV1(nn.Module):
    feature_paths = {
        "stages": ["stem", "stage1", "stage2", "stage3"],
        "preact": ["stem"] + [f"stage{i}.{n - 1}.preact" for i, n in enumerate(UNITS, start=1)],
        "embedding": ["embedding"],
        "classifier": ["fc"],
    }

    def __init__(self, num_classes: int, in_channels: int = 3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, STEM, 1, bias=False), nn.BatchNorm2d(STEM),
                                  nn.ReLU(inplace=True))
        c = STEM
        for i, (width, n) in enumerate(zip(CHANNELS, UNITS), start=1):
            units = []
            for j in range(n):
                # The first 1x1 convolution of the network is not grouped: 24 input channels are too
                # few to split (the paper's choice).
                first_groups = 1 if i == 1 and j == 0 else GROUPS
                units.append(ShuffleUnit(c, width, 2 if j == 0 else 1, GROUPS, first_groups))
                c = width
            self.add_module(f"stage{i}", nn.Sequential(*units))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.embedding = nn.Identity()
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(self.embedding(self.pool(x).flatten(1)))


@MODELS.register("shufflenetv1")
def shufflenetv1(num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
    return ShuffleNetV1(num_classes, image_channels("shufflenetv1", input_shape))
