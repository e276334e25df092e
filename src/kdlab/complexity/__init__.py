"""Supervision complexity (P2): the student's empirical NTK and how complex targets are for it."""

from .ntk import empirical_ntk
from .supervision import onehot_targets, soft_targets, supervision_complexity

__all__ = ["empirical_ntk", "onehot_targets", "soft_targets", "supervision_complexity"]
