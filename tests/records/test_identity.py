"""A run's identity holds the code behind it: a run is reused only when it would come out the same.

The user's own code lives in a module file that the tests edit and reload, as a researcher edits a
script between two runs of it."""

import importlib
import os
import shutil
import sys
import textwrap

import pytest
import torch

import kdlab
from kdlab.errors import RunError
from kdlab.losses import LossTerm
from kdlab.records import RunDir
from tests.conftest import TINY, write_yaml
from tests.interrupt import Interrupt, stop_after

USER_CODE = '''
import torch
from torch import nn

from kdlab.losses import LossTerm

SCALE = 1.0


class Penalty(LossTerm):
    def forward(self, out):
        return SCALE * out.logits.pow(2).mean()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

    def forward(self, x):
        return self.body(x)


class Items(torch.utils.data.Dataset):
    def __init__(self, x, y, start):
        self.x, self.y, self.start = x, y, start

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i], self.start + i
'''
CONFIG = {"name": "mine", "data": {"train_size": 96}, "train": {"epochs": 2, "batch_size": 32, "lr": 0.05},
          "loss": {"terms": {"onehot": {"weight": 1.0}, "penalty": {"weight": 0.01}}},
          "record": {"checkpoint_every_epochs": 1}}


@pytest.fixture
def user_code(tmp_path, monkeypatch):
    """The user's module (`mine_<n>`), and `edit(old, new)`: change its file and reload it."""
    name = f"usercode_{os.getpid()}_{tmp_path.name}"
    path = tmp_path / f"{name}.py"
    path.write_text(USER_CODE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    module = importlib.import_module(name)

    def edit(old: str, new: str):
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new))
        stamp = path.stat().st_mtime + 2  # a later mtime: no stale cache of the old source anywhere
        os.utime(path, (stamp, stamp))
        importlib.invalidate_caches()
        return importlib.reload(module)

    yield module, edit
    sys.modules.pop(name, None)


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16
    return x, torch.tensor(d.target)


def _fit(module, out, **kwargs):
    x, y = _digits()
    torch.manual_seed(0)  # the same initial weights every time: only the code differs
    data = {"train": module.Items(x[:96], y[:96], 0), "test": module.Items(x[96:160], y[96:160], 96)}
    messages: list[str] = []
    run = kdlab.fit(CONFIG, model=module.Net(), data=data, losses={"penalty": module.Penalty()}, out=out,
                    progress=False, log=messages.append, **kwargs)
    return run, messages


@pytest.mark.parametrize("piece,old,new", [
    ("loss term penalty (Penalty)", "return SCALE * out.logits.pow(2).mean()", "return 100 * SCALE * out.logits.abs().mean()"),
    ("loss term penalty (Penalty)", "SCALE = 1.0", "SCALE = 2.0"),  # a constant its code names
    ("model Net", "return self.body(x)", "return self.body(x) * 2"),
    ("dataset tensors (Items)", "return self.x[i], self.y[i], self.start + i",
     "return self.x[i], self.y[i], i + self.start  # the same items, written differently"),
])
def test_editing_a_given_class_makes_the_next_fit_train_anew_and_say_why(tmp_path, user_code, piece, old, new):
    module, edit = user_code
    first, said = _fit(module, tmp_path)
    assert any(m.startswith("trained") for m in said)
    again, said = _fit(module, tmp_path)
    assert any("reusing finished run" in m for m in said), said  # nothing changed: reused
    module = edit(old, new)
    third, said = _fit(module, tmp_path)
    assert said[0] == f"the code of {piece} changed since {first.root} was made: training it anew", said
    assert any(m.startswith("trained") for m in said) and not any("reusing" in m for m in said)
    code = RunDir(third.root).info().code
    assert code[piece] is not None and set(code) == {"model Net", "loss term penalty (Penalty)", "dataset tensors (Items)"}
    fourth, said = _fit(module, tmp_path)  # the edited code is now the run's: reused again
    assert any("reusing finished run" in m for m in said) and fourth.summary == third.summary


def test_a_changed_loss_term_changes_the_result_it_is_not_reused(tmp_path, user_code):
    """The issue's case: the term's forward goes from an L2 to 100 L1 under the same class name."""
    module, edit = user_code
    first, _ = _fit(module, tmp_path)
    before = RunDir(first.root).metrics()[-1]["train_penalty"]
    module = edit("return SCALE * out.logits.pow(2).mean()", "return 100 * SCALE * out.logits.abs().mean()")
    second, _ = _fit(module, tmp_path)
    assert second.root == first.root and RunDir(second.root).metrics()[-1]["train_penalty"] != pytest.approx(before)


def test_a_class_without_source_is_never_reused(tmp_path):
    # A class made with type(): as one typed into an interactive session, it has no source file.
    Penalty = type("Penalty", (LossTerm,), {"forward": lambda self, out: out.logits.pow(2).mean()})
    cfg = {"name": "nosource", "data": {"train_size": 64}, "model": {"name": "mlp", "hidden": [8]},
           "train": {"epochs": 1, "batch_size": 32}}
    said: list[str] = []
    kdlab.fit(cfg, losses={"penalty": Penalty()}, out=tmp_path, progress=False, log=said.append)
    said.clear()
    kdlab.fit(cfg, losses={"penalty": Penalty()}, out=tmp_path, progress=False, log=said.append)
    assert said[0].startswith("the source of loss term penalty (Penalty) cannot be read"), said
    assert said[0].endswith("training it anew") and not any("reusing" in m for m in said)
    assert RunDir(tmp_path / "nosource").info().code == {"loss term penalty (Penalty)": None}


def test_an_interrupted_run_whose_term_changed_refuses_to_resume(tmp_path, user_code):
    module, edit = user_code
    with pytest.raises(Interrupt):
        _fit(module, tmp_path, hooks=[stop_after(1)])
    run = RunDir(tmp_path / "mine")
    assert run.state_path.is_file() and not run.finished
    module = edit("return SCALE * out.logits.pow(2).mean()", "return 100 * SCALE * out.logits.abs().mean()")
    with pytest.raises(RunError) as caught:
        _fit(module, tmp_path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("the code of loss term penalty (Penalty) changed since")
    assert "reuse='never'" in message and run.state_path.is_file()  # nothing was touched
    _, said = _fit(module, tmp_path, reuse="never")  # starting over is one argument away
    assert said[0] == f"training {run.root} anew (reuse=never)" and run.finished


def test_an_unchanged_interrupted_run_resumes(tmp_path, user_code):
    module, _ = user_code
    whole, _ = _fit(module, tmp_path / "whole")
    with pytest.raises(Interrupt):
        _fit(module, tmp_path / "parts", hooks=[stop_after(1)])
    parts, said = _fit(module, tmp_path / "parts")
    assert any(m.startswith("resuming") for m in said)
    assert parts.summary.test_acc == whole.summary.test_acc


def test_a_script_registered_entry_is_part_of_the_identity(tmp_path):
    """An entry registered outside kdlab (a script's) counts like an object: kdlab's version cannot cover it."""
    from kdlab.models import MODELS

    source = tmp_path / "scripted.py"
    source.write_text(textwrap.dedent('''
        from torch import nn

        def scripted(num_classes, input_shape):
            return nn.Sequential(nn.Flatten(), nn.Linear(64, num_classes))
    '''))
    sys.path.insert(0, str(tmp_path))
    try:
        MODELS.register("scripted")(importlib.import_module("scripted").scripted)
        run = kdlab.fit({"name": "s", "model": {"name": "scripted"}, "data": {"train_size": 64},
                         "train": {"epochs": 1, "batch_size": 32}}, out=tmp_path, progress=False, log=lambda m: None)
    finally:
        MODELS._builders.pop("scripted")
        sys.path.remove(str(tmp_path))
        sys.modules.pop("scripted", None)
    assert RunDir(run.root).info().code["model scripted"] is not None


def test_a_run_whose_run_json_is_gone_is_not_reused_nor_overwritten(tmp_path, cli):
    cfg = write_yaml(tmp_path / "tiny.yaml", TINY)
    assert cli("run", cfg, "--out", tmp_path, "--no-progress")[0] == 0
    run = RunDir(tmp_path / "tiny")
    run.info_path.unlink()
    code, _, err = cli("run", cfg, "--out", tmp_path, "--no-progress")
    assert code == 2 and err.count("\n") == 1 and "run.json is missing but the run has records" in err
    assert run.finished  # nothing was touched
    for path in list(run.root.iterdir()):  # a start that died right after writing config.yaml
        if path.name not in ("config.yaml", ".lock"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    code, out, err = cli("run", cfg, "--out", tmp_path, "--no-progress")
    assert code == 0 and run.finished and run.info_path.is_file(), err


def test_loggers_are_not_part_of_the_identity(tmp_path, cli):
    cfg = write_yaml(tmp_path / "tiny.yaml", TINY)
    assert cli("run", cfg, "--out", tmp_path, "--no-progress")[0] == 0
    code, out, err = cli("run", cfg, "--out", tmp_path, "--no-progress", "record.loggers=[]", "record.log_every_steps=5")
    assert code == 0 and "reusing finished run" in out, err
    code, _, err = cli("run", cfg, "--out", tmp_path, "--no-progress", "record.checkpoint_every_epochs=2")
    assert code == 2 and "different config" in err  # other record settings still count


def test_an_option_a_term_gained_since_does_not_make_another_config(tmp_path, cli):
    """A run stored before its term gained an option (here `scale`, removed from its config.yaml) is
    the same run when the option's default keeps the old behaviour."""
    import yaml

    teacher = write_yaml(tmp_path / "t.yaml", {**TINY, "name": "teacher"})
    student = write_yaml(tmp_path / "s.yaml", {**TINY, "name": "student", "seed": 1, "teacher": {"run": "teacher"},
                                               "loss": {"terms": {"kd": {"weight": 1.0}}}})
    for cfg in (teacher, student):
        assert cli("run", cfg, "--out", tmp_path, "--no-progress")[0] == 0
    stored = tmp_path / "student" / "config.yaml"
    raw = yaml.safe_load(stored.read_text())
    del raw["loss"]["terms"]["kd"]["scale"]
    stored.write_text(yaml.safe_dump(raw, sort_keys=False))
    code, out, err = cli("run", student, "--out", tmp_path, "--no-progress")
    assert code == 0 and "reusing finished run" in out, err
    code, _, err = cli("run", student, "--out", tmp_path, "--no-progress", "loss.terms.kd.scale=none")
    assert code == 2 and "different config (loss.terms.kd.scale" in err  # a value other than the default still counts
