"""What a run leaves on disk and how it is read back: the run directory, checkpoints, predictions.
Readers need only these files, never the code (model, dataset, loss) that made the run."""

from .checkpoint import load_state, load_weights, save_state, save_weights
from .predictions import Predictions, load_predictions, write_predictions
from .rundir import RunDir, claim, discover_runs, write_start

__all__ = ["Predictions", "RunDir", "claim", "discover_runs", "load_predictions", "load_state", "load_weights", "save_state",
           "save_weights", "write_predictions", "write_start"]
