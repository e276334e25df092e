"""Distillation: the objective (scheduled named loss terms) and teachers (fixed, or a run's checkpoints)."""
