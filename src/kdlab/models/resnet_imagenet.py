"""ResNet-18/50 (v1.5) with the stem adapted to 64x64 inputs: a 3x3 stride-1 convolution, no max-pool.

Feature paths (`feature_paths`, module paths of `named_modules()`):
- stages: `stem` (conv-BN-ReLU), then the last block of each of the 4 stages (`stages.1`, `stages.3`,
  `stages.5`, `stages.7` for resnet18; `stages.2`, `stages.6`, `stages.12`, `stages.15` for resnet50),
  each ending in a ReLU;
- preact: `stem` (its output), then `stages.K.preact` of those blocks: the sum before the ReLU;
- embedding: `embedding`, the pooled vector; classifier: `fc`.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS, image_channels, init_convolutions


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, c_in: int, width: int, stride: int):
        super().__init__()
        c_out = width * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(c_in, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.shortcut = _projection(c_in, c_out, stride)
        self.preact = nn.Identity()  # the sum before the ReLU, for a forward hook

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.preact(self.body(x) + (self.shortcut(x) if self.shortcut is not None else x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int):
        super().__init__()
        c_out = width * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(c_in, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, c_out, 1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.shortcut = _projection(c_in, c_out, stride)
        self.preact = nn.Identity()  # the sum before the ReLU, for a forward hook

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.preact(self.body(x) + (self.shortcut(x) if self.shortcut is not None else x)))


def _projection(c_in: int, c_out: int, stride: int) -> nn.Module | None:
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))


class ResNet(nn.Module):
    def __init__(self, block, layers: list[int], num_classes: int, in_channels: int = 3):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True)
        )
        stages, c = [], 64
        for i, (n, width) in enumerate(zip(layers, (64, 128, 256, 512))):
            for j in range(n):
                stages.append(block(c, width, stride=2 if i > 0 and j == 0 else 1))
                c = width * block.expansion
        self.stages = nn.Sequential(*stages)
        self.embedding = nn.Identity()
        self.fc = nn.Linear(c, num_classes)
        init_convolutions(self)
        ends = [sum(layers[: i + 1]) - 1 for i in range(len(layers))]  # each stage's last block
        self.feature_paths = {
            "stages": ["stem"] + [f"stages.{e}" for e in ends],
            "preact": ["stem"] + [f"stages.{e}.preact" for e in ends],
            "embedding": ["embedding"],
            "classifier": ["fc"],
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embedding(self.stages(self.stem(x)).mean(dim=(2, 3))))


@MODELS.register("resnet18")
def resnet18(num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, image_channels("resnet18", input_shape))


@MODELS.register("resnet50")
def resnet50(num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, image_channels("resnet50", input_shape))
