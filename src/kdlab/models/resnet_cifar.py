"""CIFAR ResNet-v2 (pre-activation; He et al. 2016b): 3 stages of 16/32/64 channels,
(depth-2)/6 basic blocks per stage. resnet20 has about 0.27M parameters, resnet56 about 0.86M.

Feature paths (`feature_paths`, module paths of `named_modules()`), with n = (depth-2)/6:
- stages: `stem` (a bare convolution), then the last block of each stage, `blocks.{n-1}`,
  `blocks.{2n-1}`, `blocks.{3n-1}`;
- preact: the same paths: a pre-activation block's output is a sum before any activation;
- embedding: `embedding`, the pooled vector (after the final BN-ReLU); classifier: `fc`.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS, image_channels, init_convolutions


class PreActBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        # Projection shortcut only where the shape changes.
        self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, bias=False) if stride != 1 or c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Not in place: bn1's output is a feature path of the wide ResNets (kdlab.models.wide_resnet).
        out = torch.relu(self.bn1(x))
        skip = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(torch.relu(self.bn2(out)))
        return out + skip


class CifarResNetV2(nn.Module):
    def __init__(self, depth: int, num_classes: int, in_channels: int = 3, widths=(16, 32, 64)):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        self.stem = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        blocks, c = [], widths[0]
        for stage, w in enumerate(widths):
            for i in range(n):
                blocks.append(PreActBlock(c, w, stride=2 if stage > 0 and i == 0 else 1))
                c = w
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(c)
        self.embedding = nn.Identity()
        self.fc = nn.Linear(c, num_classes)
        init_convolutions(self)
        stages = ["stem"] + [f"blocks.{(i + 1) * n - 1}" for i in range(len(widths))]
        self.feature_paths = {"stages": stages, "preact": list(stages), "embedding": ["embedding"], "classifier": ["fc"]}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.blocks(self.stem(x))))
        return self.fc(self.embedding(x.mean(dim=(2, 3))))


def _registered(depth: int):
    def build(num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
        return CifarResNetV2(depth, num_classes, image_channels(f"resnet{depth}", input_shape))

    return build


for _depth in (8, 14, 20, 32, 44, 56, 110):
    MODELS.register(f"resnet{_depth}")(_registered(_depth))
