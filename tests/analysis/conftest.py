import pytest

from kdlab.config import resolve
from kdlab.train.runner import run_config

# Two tiny runs with recorded predictions at every epoch (steps 4, 8, 12): a teacher, and a KD
# student of it. 20% label noise, so the tables and figures have noisy points to show.
BASE = {"data": {"name": "digits", "label_noise": 0.2, "train_size": 256}, "model": {"name": "mlp", "hidden": [32]},
        "train": {"epochs": 3, "batch_size": 64, "lr": 0.1}, "record": {"predictions_every_epochs": 1}}


@pytest.fixture(scope="package")
def pair(tmp_path_factory):
    """(teacher root, student root), trained once for every test of this folder."""
    out = tmp_path_factory.mktemp("runs")
    quiet = dict(progress=False, log=lambda s: None)
    with pytest.MonkeyPatch.context() as mp:  # the function-scoped cache isolation is not set up yet here
        mp.setenv("KDLAB_CACHE", str(tmp_path_factory.mktemp("cache")))
        te, _ = run_config(resolve({**BASE, "name": "teacher"}), out, **quiet)
        st, _ = run_config(resolve({**BASE, "name": "student", "seed": 1, "loss": {"onehot_weight": 0, "kd_weight": 1},
                                    "teacher": {"run": str(te.root)}}), out, **quiet)
    return te.root, st.root


@pytest.fixture(scope="package")
def analysis(pair):
    from kdlab.analysis import analyze_runs

    return analyze_runs(*pair)
