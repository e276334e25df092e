"""What a run leaves on disk and how it is read back: the run directory and its typed records,
the run's identity, checkpoints and predictions. Readers need only these files, never the code
(model, dataset, loss) that made the run."""

from .checkpoint import load_state, load_weights, save_state, save_weights
from .identity import REUSE, Claim, Reuse, claim, teacher_identity
from .info import RunInfo, Summary, TeacherIdentity
from .predictions import Predictions, load_predictions, write_predictions
from .rundir import OutDir, RunDir

__all__ = ["REUSE", "Claim", "OutDir", "Predictions", "Reuse", "RunDir", "RunInfo", "Summary", "TeacherIdentity",
           "claim", "load_predictions", "load_state", "load_weights", "save_state", "save_weights", "teacher_identity",
           "write_predictions"]
