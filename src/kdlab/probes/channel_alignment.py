"""P1 App. C.5: how well each class weight of a channel_linear model aligns with its true direction."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .base import PROBES, Probe, mu_star


@PROBES.register("channel_alignment")
class ChannelAlignment(Probe):
    """cos(w_k, mu*_k) per class of a channel_linear model (P1 Fig 23 middle)."""

    def __init__(self, dataset, model, config, objective, pipeline):
        self.mu = mu_star(dataset, "channel_alignment")
        if not isinstance(getattr(model, "weight", None), torch.Tensor) or model.weight.shape != self.mu.shape:
            raise ConfigError("probe 'channel_alignment' needs the channel_linear model")

    def _cos(self, model) -> torch.Tensor:
        return F.cosine_similarity(model.weight.detach().float().cpu(), self.mu, dim=1)

    def epoch_metrics(self, model):
        return {"mean_channel_cos": self._cos(model).mean().item()}

    def summary(self, model):
        return {"channel_cos": self._cos(model).tolist()}
