"""The Python API: your own model, data, teacher and loss terms; runs read back without your code."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import kdlab
from kdlab.data import from_tensors, from_torch
from kdlab.errors import ConfigError, DataError
from kdlab.records import RunDir

README = Path(__file__).parents[1] / "README.md"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def _kdlab(cwd, *args):
    """The CLI in a fresh process."""
    proc = subprocess.run([sys.executable, "-m", "kdlab.cli", *args], cwd=cwd, capture_output=True, text=True, env=ENV)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_readme_example_then_cli_in_a_fresh_process(tmp_path):
    text = README.read_text()
    section = text[text.index("## Use it from Python"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "example.py").write_text(code)
    proc = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, env=ENV)
    assert proc.returncode == 0, proc.stderr
    accs = [float(a) for a in re.findall(r"(?:teacher|student) (\d\.\d+)", proc.stdout)]
    assert len(accs) == 2 and min(accs) > 0.5  # both learnt the digits

    runs = tmp_path / "runs" / "api"
    cfg = RunDir(runs / "student").config()  # SmallCNN is not importable here: read by the schema alone
    assert cfg.model.name == "SmallCNN" and cfg.model.object and cfg.data.object
    assert set(cfg.loss.terms) == {"kd", "hint", "logit_match"} and cfg.loss.terms["logit_match"].object

    analysis = json.loads(_kdlab(tmp_path, "analyze", "--teacher", str(runs / "teacher"), "--student",
                                 str(runs / "student"), "--json", "--no-figures"))
    assert analysis["splits"]["train"]["n"] == 1400 and analysis["splits"]["test"]["n"] == 397
    report = json.loads(_kdlab(tmp_path, "report", str(runs), "--json"))
    assert report["runs"] == 2 and report["skipped"] == []
    (row,) = report["table2"]
    assert (row["teacher"], row["kd"], row["student_model"]) == ("teacher", "student", "SmallCNN")

    # Running the script again reuses both runs, and fit hands back the trained module.
    again = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, env=ENV)
    assert again.returncode == 0 and again.stdout.count("reusing finished run") == 2
    assert re.findall(r"(?:teacher|student) (\d\.\d+)", again.stdout) == re.findall(r"(?:teacher|student) (\d\.\d+)", proc.stdout)


class MaskedTokens(nn.Module):
    """A toy sequence model: it needs `attention_mask` as well as the token ids, as text models do."""

    def __init__(self, vocab: int = 20, width: int = 16, classes: int = 3):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.head = nn.Linear(width, classes)

    def forward(self, input_ids, attention_mask):
        h = self.embed(input_ids) * attention_mask.unsqueeze(-1)
        return self.head(h.sum(1) / attention_mask.sum(1, keepdim=True))


def _token_data(n=240, length=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 20, (n, length), generator=g)
    lengths = torch.randint(2, length + 1, (n,), generator=g)
    mask = (torch.arange(length) < lengths[:, None]).long()
    ids = ids * mask  # padding id 0 after each sequence's length
    label = (ids * mask).sum(1) % 3  # depends on the unpadded tokens only
    cut = n * 3 // 4
    part = lambda s: {"inputs": ids[s], "attention_mask": mask[s], "label": label[s]}  # noqa: E731
    return from_tensors(part(slice(0, cut)), part(slice(cut, n)), name="tokens")


def test_batches_of_any_shape_reach_model_teacher_and_records(tmp_path):
    data = _token_data()
    cfg = {"train": {"epochs": 3, "batch_size": 32, "lr": 0.1, "optimizer": "adam"}, "record": {"predictions_every_epochs": 1}}
    torch.manual_seed(0)
    quiet = dict(out=tmp_path, progress=False, log=lambda s: None)
    teacher = kdlab.fit({**cfg, "name": "t"}, model=MaskedTokens(), data=data, **quiet)
    student = kdlab.fit({**cfg, "name": "s", "loss": {"terms": {"kd": {"weight": 1.0, "temperature": 2.0}}}},
                        model=MaskedTokens(width=8), data=data, teacher=teacher, **quiet)
    assert RunDir(student.root).info().teacher_run == str(teacher.root.resolve())
    rows = [json.loads(line) for line in (student.root / "metrics.jsonl").read_text().splitlines()]
    assert all(r["train_kl"] > 0 for r in rows)
    with np.load(student.root / "predictions" / "step_18.npz") as z:
        assert z["logits"].shape == (240, 3)
        expected = student.model(data.train.inputs, data.train.fields["attention_mask"]).argmax(1).numpy()
        assert np.array_equal(z["logits"][z["split"] == "train"].argmax(1), expected)


def test_torch_dataset_equals_tensors_and_bad_data_is_one_error():
    x, y = torch.randn(10, 3), torch.arange(10) % 2

    class Items(torch.utils.data.Dataset):
        def __init__(self, start):
            self.start = start

        def __len__(self):
            return 5

        def __getitem__(self, i):
            return x[self.start + i], y[self.start + i], self.start + i

    a = from_tensors((x[:5], y[:5]), (x[5:], y[5:]))
    b = from_torch(Items(0), Items(5))
    assert a.checksum() == b.checksum() and a.num_classes == 2
    with pytest.raises(DataError, match="has 4 rows, its labels 5"):
        from_tensors((x[:4], y[:5]), (x[5:], y[5:]))
    with pytest.raises(DataError, match="integer class ids"):
        from_tensors((x[:5], y[:5].float()), (x[5:], y[5:]))
    with pytest.raises(DataError, match="unique"):
        from_tensors((x[:5], y[:5], torch.arange(5)), (x[5:], y[5:], torch.arange(5)))
    with pytest.raises(ConfigError, match="must be an nn.Module"):
        kdlab.fit({}, model="resnet20")
    with pytest.raises(ConfigError, match="needs option 'student'"):
        kdlab.fit({"loss": {"terms": {"hint": {"teacher": "net.1"}}}, "teacher": {"run": "x"}}, data=a)


def test_a_run_of_a_since_forgotten_registered_model_reads_back(tmp_path):
    from kdlab.models import MODELS

    @MODELS.register("scripted_linear")
    def scripted_linear(num_classes, input_shape):
        return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), num_classes))

    try:
        run = kdlab.fit({"name": "scripted", "model": {"name": "scripted_linear"}, "data": {"train_size": 64},
                         "train": {"epochs": 1, "batch_size": 32}}, out=tmp_path, progress=False, log=lambda s: None)
    finally:
        MODELS._builders.pop("scripted_linear")
    assert RunDir(run.root).config().model.name == "scripted_linear"  # no longer registered: still read
    report = json.loads(_kdlab(tmp_path, "report", str(tmp_path), "--json"))
    assert report["runs"] == 1 and report["skipped"] == []


def test_an_objective_of_your_own_terms_alone(tmp_path):
    from kdlab.losses import LossTerm

    class LabelSmoothing(LossTerm):
        def forward(self, out):
            return nn.functional.cross_entropy(out.logits, out.labels, label_smoothing=0.1)

    run = kdlab.fit({"name": "ls", "data": {"train_size": 128}, "model": {"name": "mlp", "hidden": [16]},
                     "train": {"epochs": 2, "batch_size": 32}}, losses={"smooth": LabelSmoothing()},
                    out=tmp_path, progress=False, log=lambda s: None)
    cfg = run.config()
    assert list(cfg.loss.terms) == ["smooth"] and cfg.loss.terms["smooth"].term == "LabelSmoothing"
    rows = [json.loads(line) for line in (run.root / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["w_smooth"] == 1.0 and rows[-1]["train_smooth"] > 0
