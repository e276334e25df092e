"""MLflow tracking (kdlab[mlflow]): one MLflow run per kdlab run, named by it.

Options: `tracking_uri` (default: the local file store <out>/mlruns, shared by the runs of a plan)
and `experiment` (default "kdlab"). The hyper-parameters are the run's params; scalars are metrics
at their global steps, with the same tags as TensorBoard's. A resumed kdlab run continues its MLflow
run: its id is kept in the run's checkpoints/ folder, with the rest of what a resume reads (and
cleared with it when the run is trained anew). MLflow keeps every value it is given, so the steps
the stopped attempt had logged past its checkpoint are not logged again: the run holds one value
per step.

MLflow 3 refuses a file store unless MLFLOW_ALLOW_FILE_STORE=true (the store is in "maintenance
mode"), so this sets it in kdlab's process; view the store with
`MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri <out>/mlruns`.
"""

from __future__ import annotations

import json
import os
import re
import time
from urllib.parse import urlparse

from ..errors import RunError
from ..io import write_text
from .base import LOGGERS, Logger, Param

RUN_ID_FILE = "mlflow_run_id"  # in the kdlab run's checkpoints/
BATCH_PARAMS = 100  # MLflow takes at most this many params in one call


def mlflow_key(tag: str) -> str:
    """A tag or config key as MLflow accepts a name (letters, digits, _ - . / and spaces)."""
    return re.sub(r"[^/\w.\- ]", "_", tag)


@LOGGERS.register("mlflow")
class MlflowLogger(Logger):
    requires = "mlflow"
    install = "pip install 'kdlab[mlflow]'"

    def __init__(self, config, run, out, start_step, log, tracking_uri: str | None = None, experiment: str = "kdlab"):
        uri = tracking_uri or out.mlruns.resolve().as_uri()
        if urlparse(uri).scheme in ("", "file"):  # MLflow 3 opens a file store only so (see above)
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow.entities import Metric
        from mlflow.entities import Param as MlflowParam
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        self.Metric, self.Param = Metric, MlflowParam
        self.id_path = run.checkpoints / RUN_ID_FILE
        self.logged: dict[str, int] = {}  # the last step of each metric a stopped attempt logged
        try:
            self.client = MlflowClient(tracking_uri=uri)
            self.run_id = self._continued(start_step, uri, log) or self._started(config.name, run, experiment)
        except MlflowException as e:
            raise RunError(f"the mlflow logger cannot use {uri}: {str(e.message).strip().splitlines()[0][:300]}") from None

    def _continued(self, start_step: int, uri: str, log) -> str | None:
        """The MLflow run of the kdlab run being resumed (None for a new one, or when it is gone)."""
        from mlflow.exceptions import MlflowException

        if not start_step or not self.id_path.is_file():
            return None
        run_id = self.id_path.read_text().strip()
        try:
            found = self.client.get_run(run_id)
        except MlflowException:
            log(f"note: MLflow run {run_id} of this run is not in {uri}; a new one starts at step {start_step}, "
                f"without the run's params")
            return None
        self.client.update_run(run_id, status="RUNNING")
        self.logged = {key: max(m.step for m in self.client.get_metric_history(run_id, key)) for key in found.data.metrics}
        return run_id

    def _started(self, name: str, run, experiment: str) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(experiment)
        if found is not None:
            experiment_id = found.experiment_id
        else:
            try:
                experiment_id = self.client.create_experiment(experiment)
            except MlflowException:  # another run of the plan created it meanwhile
                found = self.client.get_experiment_by_name(experiment)
                if found is None:
                    raise
                experiment_id = found.experiment_id
        created = self.client.create_run(experiment_id, run_name=name, tags={"kdlab.run_dir": str(run.root.resolve())})
        write_text(self.id_path, created.info.run_id)
        return created.info.run_id

    def hparams(self, params: dict[str, Param]) -> None:
        entries = [self.Param(mlflow_key(k), v if isinstance(v, str) else json.dumps(v)) for k, v in params.items()]
        for i in range(0, len(entries), BATCH_PARAMS):
            self.client.log_batch(self.run_id, params=entries[i:i + BATCH_PARAMS])

    def scalars(self, step: int, values: dict[str, float]) -> None:
        now = int(time.time() * 1000)
        metrics = [self.Metric(key, float(v), now, step) for k, v in values.items()
                   if step > self.logged.get(key := mlflow_key(k), -1)]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def close(self, finished: bool) -> None:
        # a kdlab run that stopped early is resumed by running it again: KILLED, not FAILED
        self.client.set_terminated(self.run_id, "FINISHED" if finished else "KILLED")
