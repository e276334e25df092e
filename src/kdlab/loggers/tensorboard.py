"""TensorBoard event files under <run>/tb/ (the default logger); `tensorboard --logdir <out>` shows a
plan's runs side by side.

The hyper-parameters go through TensorBoard's hparams plugin into the same folder as the scalars, so
its dashboard lists each run once with its test accuracy and loss. A resumed run purges the events
past its checkpoint, so the files hold one trajectory. Without the `tensorboard` package
(kdlab[tensorboard]) nothing is written and the run says so once.
"""

from __future__ import annotations

from .base import LOGGERS, Logger, Param

_said_missing = False

# The metrics the hparams dashboard shows beside each run's hyper-parameters (scalars of the same folder).
HPARAM_METRICS = ("accuracy/test", "loss/test")


@LOGGERS.register("tensorboard")
class TensorBoardLogger(Logger):
    def __init__(self, config, run, out, start_step, log):
        self.writer = None
        self.step = start_step
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            global _said_missing
            if not _said_missing:  # once a process: a plan or the demo trains several runs
                _said_missing = True
                log("note: the tensorboard logger is on but the tensorboard package is missing "
                    "(pip install kdlab[tensorboard]); no event files are written")
            return
        # purge_step drops the events written after the checkpoint a resume starts from (those at
        # start_step itself were written before it and stay)
        self.writer = SummaryWriter(str(run.tb), purge_step=start_step + 1 if start_step else None)

    def hparams(self, params: dict[str, Param]) -> None:
        if self.writer is None:
            return
        from torch.utils.tensorboard.summary import hparams

        # torch's summary tests for a number before a bool and would file true as 1.0: bools go as text
        values = {k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()}
        experiment, session_start, _ = hparams(values, dict.fromkeys(HPARAM_METRICS, 0.0))
        self.writer.file_writer.add_summary(experiment, 0)
        self.writer.file_writer.add_summary(session_start, 0)
        self.writer.flush()

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if self.writer is None:
            return
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)
        # On disk at once (a small write every log_every_steps): a killed run keeps every event up to
        # its last checkpoint, which its resume continues from (the writer's own flush is every 2 min).
        self.writer.flush()
        self.step = step

    def close(self, finished: bool) -> None:
        if self.writer is None:
            return
        if finished:  # the hparams session's status: it ran to its end (written only then)
            from torch.utils.tensorboard.summary import hparams

            self.writer.file_writer.add_summary(hparams({}, {})[2], self.step)
        self.writer.close()
