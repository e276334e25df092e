"""Distillation: the objective (scheduled named loss terms), the switch schedule, and teachers."""
