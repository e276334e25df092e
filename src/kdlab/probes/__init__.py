"""Probes by name: measurements inside the training loop (`record.probes`), one file each."""

from .base import PROBES, Probe, build_probes, load_probe_states, save_probe_states

__all__ = ["PROBES", "Probe", "build_probes", "load_probe_states", "save_probe_states"]
