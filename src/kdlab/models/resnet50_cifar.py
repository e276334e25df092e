"""`resnet50_cifar`: the CRD benchmark's ResNet50 for CIFAR (Tian et al. 2020): a 3x3 stride-1 stem
of 64 channels without max-pool, then 3/4/6/3 bottleneck blocks of 256/512/1024/2048 channels, the
last three stages starting with stride 2 (32x32 inputs end at 4x4, 8x8 inputs at 1x1). That is
kdlab's `resnet50` (kdlab.models.resnet_imagenet, whose stem has the same adaptation), registered
again under the benchmark's name. At 3x32x32 with 100 classes it has 23,705,252 parameters.

Feature paths: as `resnet50`'s (stages: `stem`, then the last block of each of the 4 stages,
`stages.2`, `stages.6`, `stages.12`, `stages.15`; preact: `stem`, then `stages.K.preact` of those
blocks; embedding: `embedding`; classifier: `fc`).
"""

from __future__ import annotations

from torch import nn

from .base import MODELS, image_channels
from .resnet_imagenet import Bottleneck, ResNet


@MODELS.register("resnet50_cifar")
def resnet50_cifar(num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, image_channels("resnet50_cifar", input_shape))
