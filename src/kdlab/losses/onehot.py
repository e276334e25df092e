"""The one-hot loss: CE = -log p_y(x), mean over the batch."""

from __future__ import annotations

import torch.nn.functional as F

from .base import LOSS_TERMS, LossTerm, StepOutputs


@LOSS_TERMS.register("onehot")
class OneHot(LossTerm):
    def forward(self, out: StepOutputs):
        return F.cross_entropy(out.logits, out.labels)
