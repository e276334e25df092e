"""Loss terms by name: `onehot`, `kd`, `dkd` (decoupled KD) and `hint` (FitNets), one file each."""

from .base import LOSS_TERMS, FeatureTap, LossTerm, StepOutputs
from .dkd import dkd_parts
from .kd import kd_loss, kl_divergence

__all__ = ["LOSS_TERMS", "FeatureTap", "LossTerm", "StepOutputs", "dkd_parts", "kd_loss", "kl_divergence"]
