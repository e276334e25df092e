"""The one training loop, its run directory, checkpoints and records."""
