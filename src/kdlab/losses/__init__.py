"""Loss terms by name, one file each (kdlab.losses.base says what a term is)."""

from .base import LOSS_TERMS, FeatureTap, LossTerm, StepOutputs, TermSetup
from .dkd import dkd_parts
from .kd import kd_loss, kl_divergence

__all__ = ["LOSS_TERMS", "FeatureTap", "LossTerm", "StepOutputs", "TermSetup", "dkd_parts", "kd_loss", "kl_divergence"]
