"""Wide ResNets (Zagoruyko and Komodakis 2016) as the CRD benchmark (Tian et al. 2020) defines them:
`wrn_<depth>_<k>` has a 3x3 stem of 16 channels, then 3 stages of 16k/32k/64k channels with
(depth-4)/6 pre-activation blocks each (BN-ReLU-conv twice; a 1x1 projection shortcut, fed the
activated input, where the width changes: P1's blocks, kdlab.models.resnet_cifar.PreActBlock), a
final BN-ReLU and global average pooling (adaptive: 8x8 inputs end at 2x2). No dropout. At 3x32x32
with 100 classes wrn_40_2 has 2,255,156 parameters.

Feature paths (`feature_paths`, module paths of `named_modules()`):
- stages: `stem` (a bare convolution), `stage1`, `stage2`, `stage3`: block outputs are sums,
  before any activation, as in the benchmark's feature lists;
- preact: `stem`, then the BN that reads each stage's output before the ReLU: `stage2.0.bn1`,
  `stage3.0.bn1` and the final `bn` (the benchmark's pre-activation features);
- embedding: `embedding`, the pooled vector; classifier: `fc`.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS, image_channels, init_convolutions
from .resnet_cifar import PreActBlock


class WideResNet(nn.Module):
    feature_paths: dict[str, list[str]]

    def __init__(self, depth: int, widen: int, num_classes: int, in_channels: int = 3):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"wide ResNet depth must be 6n+4, got {depth}")
        n = (depth - 4) // 6
        self.stem = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        c = 16
        for i, w in enumerate((16 * widen, 32 * widen, 64 * widen), start=1):
            blocks = [PreActBlock(c if j == 0 else w, w, stride=2 if i > 1 and j == 0 else 1) for j in range(n)]
            self.add_module(f"stage{i}", nn.Sequential(*blocks))
            c = w
        self.bn = nn.BatchNorm2d(c)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.embedding = nn.Identity()
        self.fc = nn.Linear(c, num_classes)
        init_convolutions(self)
        nn.init.zeros_(self.fc.bias)
        self.feature_paths = {
            "stages": ["stem", "stage1", "stage2", "stage3"],
            "preact": ["stem", "stage2.0.bn1", "stage3.0.bn1", "bn"],
            "embedding": ["embedding"],
            "classifier": ["fc"],
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        x = torch.relu(self.bn(x))  # not in place: bn's output is the last stage's pre-activation
        return self.fc(self.embedding(self.pool(x).flatten(1)))


def _registered(depth: int, widen: int):
    def build(num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
        return WideResNet(depth, widen, num_classes, image_channels(f"wrn_{depth}_{widen}", input_shape))

    return build


for _depth, _widen in ((16, 1), (16, 2), (40, 1), (40, 2)):
    MODELS.register(f"wrn_{_depth}_{_widen}")(_registered(_depth, _widen))
