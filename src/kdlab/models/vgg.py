"""VGG with batch norm (Simonyan and Zisserman 2015) as the CRD benchmark (Tian et al. 2020) defines
it for CIFAR: five stages of 3x3 conv-BN-ReLU layers (convolutions with bias), a 2x2 max-pool after
each of the first three, global average pooling and one linear layer (no fully connected stack).
`vgg8` is the benchmark's small one (one convolution per stage), `vgg11/13/16/19` the usual
configurations A, B, D and E. At 3x32x32 with 100 classes vgg13 has 9,462,180 parameters.

Inputs of 64 px or more get a fourth max-pool, after stage 3, as the benchmark does for 64x64
(Tiny-ImageNet). A max-pool that would take a map below 1x1 is left out (inputs under 8 px), so any
input size runs; 8x8 inputs end at 1x1 after the third.

Feature paths (`feature_paths`, module paths of `named_modules()`):
- stages: `stage0` ... `stage4`, each ending in a ReLU (before the stage's max-pool);
- preact: `stage0` (its output, as in the benchmark's lists), then the last BN of stages 1-4;
- embedding: `embedding`, the pooled vector; classifier: `fc`.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS, image_channels, init_convolutions

# Channels of each convolution, per stage.
CONFIGS = {
    "vgg8": [[64], [128], [256], [512], [512]],
    "vgg11": [[64], [128], [256, 256], [512, 512], [512, 512]],
    "vgg13": [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
    "vgg16": [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
    "vgg19": [[64, 64], [128, 128], [256] * 4, [512] * 4, [512] * 4],
}


def _stage(c_in: int, widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Conv2d(c_in, w, 3, 1, 1), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
        c_in = w
    # The last ReLU is not in place: the BN before it is a feature path (the stage's pre-activation).
    layers[-1] = nn.ReLU()
    return nn.Sequential(*layers)


class VGG(nn.Module):
    feature_paths: dict[str, list[str]]

    def __init__(self, config: list[list[int]], num_classes: int, in_channels: int = 3, input_size: int = 32):
        super().__init__()
        c, size = in_channels, input_size
        for i, widths in enumerate(config):
            self.add_module(f"stage{i}", _stage(c, widths))
            c = widths[-1]
            if i < 4:
                halve = (i < 3 or input_size >= 64) and size >= 2
                self.add_module(f"pool{i}", nn.MaxPool2d(2) if halve else nn.Identity())
                size = size // 2 if halve else size
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.embedding = nn.Identity()
        self.fc = nn.Linear(c, num_classes)
        init_convolutions(self)
        nn.init.normal_(self.fc.weight, 0, 0.01)
        nn.init.zeros_(self.fc.bias)
        self.feature_paths = {
            "stages": [f"stage{i}" for i in range(5)],
            "preact": ["stage0"] + [f"stage{i}.{3 * len(config[i]) - 2}" for i in range(1, 5)],
            "embedding": ["embedding"],
            "classifier": ["fc"],
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool0(self.stage0(x))
        x = self.pool1(self.stage1(x))
        x = self.pool2(self.stage2(x))
        x = self.stage4(self.pool3(self.stage3(x)))
        return self.fc(self.embedding(self.pool(x).flatten(1)))


def _registered(name: str):
    def build(num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
        c = image_channels(name, input_shape)
        return VGG(CONFIGS[name], num_classes, c, input_size=min(input_shape[1:]))

    return build


for _name in CONFIGS:
    MODELS.register(_name)(_registered(_name))
