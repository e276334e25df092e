"""MobileNet-v2 (Sandler et al. 2018), width 1.0. For inputs of 32x32 or less the stem and the
second stage have stride 1 (the usual CIFAR adaptation), so 32x32 inputs end at 4x4, and no stage
downsamples below 4x4: 8x8 digits keep one stride-2 stage and end at 4x4. With all three, digits
ended at 1x1, where a depthwise 3x3 convolution sees one pixel and padding, and batch norm
normalises one value per sample: the model reached 42% test accuracy on digits, against 94% now.

Feature paths (`feature_paths`, module paths of `named_modules()`), chosen as the CRD benchmark's
MobileNetV2 (kdlab.models.mobilenetv2_half) chooses its feature maps:
- stages: `features.2` (the stem's ReLU6), then the last block of stages 2, 3, 5 and 7 (24, 32, 96
  and 320 channels at width 1): `features.5`, `features.8`, `features.15`, `features.19`;
- preact: the same paths: a block ends in a linear 1x1 projection (no activation), and the stem's
  entry is its output (its ReLU6 is in place, so its BN's output is not kept);
- embedding: `embedding`, the pooled vector; classifier: `fc`.
"""

from __future__ import annotations

import torch
from torch import nn

from ..values import Positive
from .base import MODELS, image_channels

# (expansion, channels, blocks, stride) per stage, as in the paper.
MIN_MAP = 4  # small inputs: no stage downsamples feature maps below 4x4
STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def _conv_bn(c_in: int, c_out: int, k: int, stride: int, groups: int = 1, act: bool = True) -> list[nn.Module]:
    layers = [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
    return layers + [nn.ReLU6(inplace=True)] if act else layers


class InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int):
        super().__init__()
        hidden = c_in * expansion
        layers = _conv_bn(c_in, hidden, 1, 1) if expansion != 1 else []
        layers += _conv_bn(hidden, hidden, 3, stride, groups=hidden) + _conv_bn(hidden, c_out, 1, 1, act=False)
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2(nn.Module):
    def __init__(self, num_classes: int, in_channels: int = 3, input_size: int = 32, width: float = 1.0):
        super().__init__()
        small = input_size <= 32
        c = int(32 * width)
        layers = _conv_bn(in_channels, c, 3, 1 if small else 2)
        size = input_size if small else -(-input_size // 2)
        for i, (t, ch, n, s) in enumerate(STAGES):
            ch = int(ch * width)
            if small and (i == 1 or (s == 2 and size // 2 < MIN_MAP)):
                s = 1
            size = -(-size // s)
            for j in range(n):
                layers.append(InvertedResidual(c, ch, s if j == 0 else 1, t))
                c = ch
        last = max(1280, int(1280 * width))
        layers += _conv_bn(c, last, 1, 1)
        self.features = nn.Sequential(*layers)
        self.embedding = nn.Identity()
        self.fc = nn.Linear(last, num_classes)
        # Index in `features` of each stage's last block (the stem takes 3 layers).
        ends = [2 + sum(n for _, _, n, _ in STAGES[: i + 1]) for i in range(len(STAGES))]
        stages = ["features.2"] + [f"features.{ends[i]}" for i in (1, 2, 4, 6)]
        self.feature_paths = {"stages": stages, "preact": list(stages), "embedding": ["embedding"], "classifier": ["fc"]}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embedding(self.features(x).mean(dim=(2, 3))))


@MODELS.register("mobilenetv2")
def mobilenetv2(num_classes: int, input_shape: tuple[int, ...], width: Positive = 1.0) -> nn.Module:
    c = image_channels("mobilenetv2", input_shape)
    return MobileNetV2(num_classes, c, input_size=input_shape[-1], width=width)
