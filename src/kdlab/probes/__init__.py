"""Probes by name: measurements inside the training loop (`record.probes`), one file each."""

from . import channel_alignment, constructive_updates, eigen_projections  # noqa: F401  (they register themselves)
from .base import PROBES, Probe, build_probes, load_probe_states, save_probe_states

__all__ = ["PROBES", "Probe", "build_probes", "load_probe_states", "save_probe_states"]
