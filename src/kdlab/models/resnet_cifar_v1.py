"""CIFAR ResNet-v1 (He et al. 2016a; basic blocks, post-activation), as the CRD benchmark (Tian et
al. 2020) defines it: a 3x3 stem of 16 channels, then 3 stages of 16/32/64 channels with (depth-2)/6
basic blocks each, the second and third starting with stride 2 (a 1x1 projection shortcut where
the shape changes).
`resnet8_v1` ... `resnet110_v1` (the `_v1` suffix: `resnet8` ... `resnet110` are P1's pre-activation
ResNets), and `resnet8x4`, `resnet32x4`: 4x wider (a 32-channel stem, stages of 64/128/256).
At 3x32x32 with 100 classes the parameter counts are the benchmark's (resnet56_v1: 861,620;
resnet32x4: 7,433,860). Global average pooling is adaptive, so 8x8 inputs end at 2x2.

Feature paths (`feature_paths`, module paths of `named_modules()`):
- stages: `stem` (conv-BN-ReLU), `stage1`, `stage2`, `stage3` (each stage ends in a ReLU);
- preact: `stem`, then `stageK.{n-1}.preact`, the last block's sum before its ReLU (the stem's
  entry is its output, as in the benchmark's lists: feature-overhaul distillation reads stages 1..3);
- embedding: `embedding`, the pooled vector; classifier: `fc`.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS, image_channels, init_convolutions

WIDTHS = {"": (16, 16, 32, 64), "x4": (32, 64, 128, 256)}  # stem, then the 3 stages


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        # A hook here reads the sum before the final ReLU, which is not in place: the tap keeps it.
        self.preact = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        skip = x if self.shortcut is None else self.shortcut(x)
        return torch.relu(self.preact(out + skip))


class CifarResNetV1(nn.Module):
    feature_paths: dict[str, list[str]]

    def __init__(self, depth: int, num_classes: int, in_channels: int = 3, widths=WIDTHS[""]):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        c = widths[0]
        for i, w in enumerate(widths[1:], start=1):
            blocks = [BasicBlock(c if j == 0 else w, w, stride=2 if i > 1 and j == 0 else 1) for j in range(n)]
            self.add_module(f"stage{i}", nn.Sequential(*blocks))
            c = w
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.embedding = nn.Identity()
        self.fc = nn.Linear(c, num_classes)
        init_convolutions(self)
        self.feature_paths = {
            "stages": ["stem", "stage1", "stage2", "stage3"],
            "preact": ["stem"] + [f"stage{i}.{n - 1}.preact" for i in (1, 2, 3)],
            "embedding": ["embedding"],
            "classifier": ["fc"],
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(self.embedding(self.pool(x).flatten(1)))


def _registered(name: str, depth: int, widths: tuple[int, ...]):
    def build(num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
        return CifarResNetV1(depth, num_classes, image_channels(name, input_shape), widths)

    return build


for _depth in (8, 14, 20, 32, 44, 56, 110):
    MODELS.register(f"resnet{_depth}_v1")(_registered(f"resnet{_depth}_v1", _depth, WIDTHS[""]))
for _depth in (8, 32):
    MODELS.register(f"resnet{_depth}x4")(_registered(f"resnet{_depth}x4", _depth, WIDTHS["x4"]))
