"""Models by name. Each builder takes the dataset's num_classes and input_shape plus its own options."""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from ..errors import ConfigError
from ..registry import Registry
from .mobilenetv2 import MobileNetV2
from .resnet_cifar import CifarResNetV2
from .resnet_imagenet import BasicBlock, Bottleneck, ResNet
from .simple import MLP, ChannelLinear, RandomFeatures

MODELS = Registry("model", context=("num_classes", "input_shape"))


def _image_channels(name: str, input_shape: tuple[int, ...]) -> int:
    if len(input_shape) != 3:
        raise ConfigError(f"model '{name}' needs image inputs (C, H, W), but the data has shape {tuple(input_shape)}")
    return input_shape[0]


def _cifar_resnet(depth: int):
    def build(num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
        return CifarResNetV2(depth, num_classes, _image_channels(f"resnet{depth}", input_shape))

    return build


for _depth in (20, 32, 44, 56, 110):
    MODELS.register(f"resnet{_depth}")(_cifar_resnet(_depth))


@MODELS.register("resnet18")
def resnet18(num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, _image_channels("resnet18", input_shape))


@MODELS.register("resnet50")
def resnet50(num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, _image_channels("resnet50", input_shape))


@MODELS.register("mobilenetv2")
def mobilenetv2(num_classes: int, input_shape: tuple[int, ...], width: float = 1.0) -> nn.Module:
    c = _image_channels("mobilenetv2", input_shape)
    return MobileNetV2(num_classes, c, input_size=input_shape[-1], width=width)


@MODELS.register("mlp")
def mlp(num_classes: int, input_shape: tuple[int, ...], hidden: list[int] = (256,)) -> nn.Module:
    return MLP(math.prod(input_shape), list(hidden), num_classes)


@MODELS.register("random_features")
def random_features(num_classes: int, input_shape: tuple[int, ...], num_features: int = 5000) -> nn.Module:
    return RandomFeatures(math.prod(input_shape), num_features, num_classes)


@MODELS.register("channel_linear")
def channel_linear(num_classes: int, input_shape: tuple[int, ...], bias: bool = False) -> nn.Module:
    if len(input_shape) != 2 or input_shape[0] != num_classes:
        raise ConfigError(
            f"model 'channel_linear' needs inputs shaped (num_classes, D) = ({num_classes}, D), got {tuple(input_shape)}"
        )
    return ChannelLinear(num_classes, input_shape[1], bias)


def build_model(name: str, num_classes: int, input_shape: tuple[int, ...], options: dict[str, Any] | None = None):
    return MODELS.build(name, options or {}, num_classes=num_classes, input_shape=tuple(input_shape))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["MODELS", "build_model", "count_parameters"]
