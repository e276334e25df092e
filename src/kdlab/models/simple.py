"""Small models for the theory settings: an MLP, fixed random ReLU features with a trained linear
head (P1 §C.4), and the per-channel linear model of P1 §4.2 / §C.5.

Feature paths (`feature_paths`, module paths of `named_modules()`):
- mlp: stages are its hidden layers' ReLUs (`net.2`, `net.4`, ...: vectors, not maps), preact the
  linear layers before them (`net.1`, `net.3`, ...); embedding is the last hidden layer (`net.0`,
  the flattened input, without one); classifier the last linear layer;
- random_features: embedding `embedding` (the fixed features), classifier `head`;
- channel_linear: none (it has no layers to tap).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import ConfigError
from ..values import Count, Seed
from .base import MODELS


class MLP(nn.Module):
    def __init__(self, in_features: int, hidden: list[int], num_classes: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        d = in_features
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        layers.append(nn.Linear(d, num_classes))
        self.net = nn.Sequential(*layers)
        n = len(hidden)
        relus, linears = [f"net.{2 * i + 2}" for i in range(n)], [f"net.{2 * i + 1}" for i in range(n)]
        # Without hidden layers there are no stages: asking for them is then an error naming what there is.
        self.feature_paths = ({"stages": relus, "preact": linears} if hidden else {}) | {
            "embedding": relus[-1:] or ["net.0"], "classifier": [f"net.{len(layers) - 1}"]}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class RandomFeatures(nn.Module):
    """relu(x W + b) with W, b fixed at initialisation (buffers: saved, never trained), then a linear head."""

    feature_paths = {"embedding": ["embedding"], "classifier": ["head"]}

    def __init__(self, in_features: int, num_features: int, num_classes: int, feature_seed: int | None = None):
        super().__init__()
        # With a feature seed the features are the same whatever the run's seed: a student then shares
        # its teacher's features (and so the eigendirections P1 App. C.4 projects on).
        gen = torch.Generator().manual_seed(feature_seed) if feature_seed is not None else None
        self.register_buffer("proj", torch.randn(in_features, num_features, generator=gen) / math.sqrt(in_features))
        self.register_buffer("offset", torch.randn(num_features, generator=gen) * 0.1)
        self.embedding = nn.Identity()
        self.head = nn.Linear(num_features, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x.flatten(1) @ self.proj + self.offset)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(self.features(x)))


class ChannelLinear(nn.Module):
    """f_k(x) = w_k . x_k: output k sees only input channel k of an input shaped (K, D)."""

    feature_paths: dict[str, list[str]] = {}

    def __init__(self, num_classes: int, dim: int, bias: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_classes, dim) / math.sqrt(dim))
        self.bias = nn.Parameter(torch.zeros(num_classes)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.einsum("nkd,kd->nk", x, self.weight)
        return out + self.bias if self.bias is not None else out


@MODELS.register("mlp")
def mlp(num_classes: int, input_shape: tuple[int, ...], hidden: list[Count] = (256,)) -> nn.Module:
    return MLP(math.prod(input_shape), list(hidden), num_classes)


@MODELS.register("random_features")
def random_features(num_classes: int, input_shape: tuple[int, ...], num_features: Count = 5000,
                    feature_seed: Seed | None = None) -> nn.Module:
    return RandomFeatures(math.prod(input_shape), num_features, num_classes, feature_seed)


@MODELS.register("channel_linear")
def channel_linear(num_classes: int, input_shape: tuple[int, ...], bias: bool = False) -> nn.Module:
    if len(input_shape) != 2 or input_shape[0] != num_classes:
        raise ConfigError(
            f"model 'channel_linear' needs inputs shaped (num_classes, D) = ({num_classes}, D), got {tuple(input_shape)}"
        )
    return ChannelLinear(num_classes, input_shape[1], bias)
