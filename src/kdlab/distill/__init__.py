"""Distillation: losses, the loss-weight schedule (switching), and teachers."""
