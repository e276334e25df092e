"""The one training loop (set-up, epochs, evaluation and records, finish), optimizers, the runner."""
