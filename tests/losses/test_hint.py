"""FitNets: a feature term through forward hooks, with a regressor that is trained and checkpointed."""

import numpy as np
import pytest
from safetensors.torch import load_file

from kdlab.config import resolve
from kdlab.errors import ConfigError
from kdlab.train.runner import run_config
from tests.interrupt import Interrupt, stop_after

BASE = {"data": {"name": "digits", "train_size": 192}, "train": {"epochs": 4, "batch_size": 64, "lr": 0.05},
        "record": {"predictions_every_epochs": 2, "checkpoint_every_epochs": 1}}
quiet = dict(progress=False, log=lambda s: None)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    run, _ = run_config(resolve({**BASE, "name": "t", "model": {"name": "mlp", "hidden": [32]}}),
                        tmp_path_factory.mktemp("t"), **quiet)
    return run


def _student(teacher, **record):
    return resolve({**BASE, "name": "s", "seed": 1, "model": {"name": "mlp", "hidden": [16]},
                    "record": {**BASE["record"], **record},
                    "loss": {"terms": {"onehot": {"weight": 1.0},
                                       "hint": {"weight": 0.5, "student": "net.2", "teacher": "net.2"}}},
                    "teacher": {"run": str(teacher.root)}})



@pytest.mark.parametrize("checkpoint_every,stop_at", [(1, 2), (2, 3)])
def test_regressor_is_checkpointed_and_resumes_bit_identically(tmp_path, teacher, checkpoint_every, stop_at):
    cfg = _student(teacher, checkpoint_every_epochs=checkpoint_every)
    whole, _ = run_config(cfg, tmp_path / "whole", **quiet)
    with pytest.raises(Interrupt):
        run_config(cfg, tmp_path / "parts", hooks=[stop_after(stop_at)], **quiet)
    parts, _ = run_config(cfg, tmp_path / "parts", **quiet)

    for name in ("final.safetensors", "objective_final.safetensors"):
        a, b = load_file(str(whole.checkpoints / name)), load_file(str(parts.checkpoints / name))
        assert a.keys() == b.keys() and a
        for k in a:
            assert np.array_equal(a[k].numpy(), b[k].numpy()), (name, k)
    reg = load_file(str(whole.checkpoints / "objective_final.safetensors"))["terms.hint.regressor.weight"]
    first = load_file(str(whole.objective_path(2)))["terms.hint.regressor.weight"]
    assert reg.shape == (32, 16) and not np.array_equal(reg.numpy(), first.numpy())  # trained, kept per epoch
    assert parts.summary().test_acc == whole.summary().test_acc
    assert "train_hint" in whole.metrics_path.read_text()


def test_layer_paths_and_options_are_checked(tmp_path, teacher):
    bad = _student(teacher).model_dump(mode="json")
    bad["loss"]["terms"]["hint"]["student"] = "net.9"
    with pytest.raises(ConfigError, match="the student has no submodule 'net.9'"):
        run_config(resolve(bad), tmp_path, **quiet)
    assert not (tmp_path / "s").exists()
    with pytest.raises(ConfigError, match="unknown option 'layer' for loss term 'hint'; valid options: student, teacher"):
        resolve({"loss": {"terms": {"hint": {"layer": "x"}}}, "teacher": {"run": "t"}})
    with pytest.raises(ConfigError, match="unknown loss term 'fitnet' \\(did you mean"):
        resolve({"loss": {"terms": {"fitnet": {}}}, "teacher": {"run": "t"}})
    with pytest.raises(ConfigError, match="switch.to 'dkd' is not a term of loss.terms"):
        resolve({"loss": {"terms": {"onehot": {}}, "switch": {"to": "dkd", "at_step": 3}}})
    with pytest.raises(ConfigError, match="not both"):
        resolve({"loss": {"terms": {"onehot": {}}, "kd_weight": 1.0}})
    with pytest.raises(ConfigError, match="no teacher.run"):
        resolve({"loss": {"terms": {"dkd": {"weight": 1.0}}}})
