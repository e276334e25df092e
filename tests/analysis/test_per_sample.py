"""The per-sample tables: their rows against the recorded predictions, and CSV/Parquet round trips."""

import sys

import numpy as np
import pandas as pd
import pytest

from kdlab.analysis import load_predictions, logit_margin, per_sample
from kdlab.analysis.per_sample import _probability, evolution_frame, per_sample_frame, write_table
from kdlab.errors import ConfigError
from kdlab.records import RunDir


def _by_index(split: dict, ids: np.ndarray) -> dict:
    """The recorded arrays of a split, reordered to the sample ids `ids`."""
    pos = {int(i): k for k, i in enumerate(split["index"])}
    at = np.array([pos[int(i)] for i in ids])
    return {k: v[at] for k, v in split.items()}


def _softmax(logits: np.ndarray) -> np.ndarray:
    f = logits.astype(np.float64)
    e = np.exp(f - f.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_per_sample_rows_are_the_recorded_predictions(pair, analysis):
    teacher, student = pair
    df = per_sample_frame(analysis)
    te, st = load_predictions(teacher), load_predictions(student)
    assert len(df) == 256 + 450 and list(df.split.cat.categories) == ["train", "test"]
    for split in ("train", "test"):
        rows = df[df.split == split]
        ids = rows.sample_index.to_numpy()
        assert len(np.unique(ids)) == len(ids) == len(st.splits[split]["index"])
        t, s = _by_index(te.splits[split], ids), _by_index(st.splits[split], ids)
        np.testing.assert_array_equal(rows.teacher_pred, t["logits"].argmax(1))
        np.testing.assert_array_equal(rows.student_pred, s["logits"].argmax(1))
        for col in ("label", "orig_label", "noisy"):
            np.testing.assert_array_equal(rows[col], s[col])
        assert (rows.step == st.step).all() and (rows.teacher_step == te.step).all()
        # x, y: the analysis's own numbers for the same samples, and P1's definition from the logits
        d = analysis.splits[split]
        order = {int(i): k for k, i in enumerate(d.index)}
        at = np.array([order[int(i)] for i in ids])
        np.testing.assert_array_equal(rows.x, d.x[at])
        np.testing.assert_array_equal(rows.y, d.y[at])
        y_te = t["logits"].argmax(1)
        np.testing.assert_allclose(rows.x, logit_margin(t["logits"].astype(np.float64), y_te), atol=1e-4)
        np.testing.assert_allclose(rows.y, logit_margin(s["logits"].astype(np.float64), y_te), atol=1e-4)
        # probabilities of the label y* (the original label by default), from a plain softmax
        p_st = _softmax(s["logits"])[np.arange(len(ids)), s["orig_label"]]
        np.testing.assert_allclose(rows.student_p_label, p_st, rtol=1e-4, atol=1e-7)
        both = (rows.teacher_pred == rows.orig_label) & (rows.student_pred == rows.orig_label)
        np.testing.assert_array_equal(rows.group == "both_correct", both)
    assert df.noisy.sum() == (df.label != df.orig_label).sum() > 0


def test_per_sample_at_an_earlier_step(pair):
    teacher, student = pair
    df = per_sample(teacher, student, step=4)
    assert (df.step == 4).all()
    s = _by_index(load_predictions(student, 4).splits["test"], df[df.split == "test"].sample_index.to_numpy())
    np.testing.assert_array_equal(df[df.split == "test"].student_pred, s["logits"].argmax(1))


def test_evolution_has_one_block_per_recorded_step(pair, analysis):
    teacher, student = pair
    ev = evolution_frame(analysis)
    steps = RunDir(student).prediction_steps()
    assert steps == [4, 8, 12]
    assert list(pd.unique(ev.step)) == steps  # blocks in step order
    assert (ev.split == "train").all() and (ev.teacher_step == 12).all()
    first = None
    for step in steps:
        block = ev[ev.step == step]
        assert len(block) == 256
        s = _by_index(load_predictions(student, step).splits["train"], block.sample_index.to_numpy())
        np.testing.assert_array_equal(block.student_pred, s["logits"].argmax(1))
        if first is None:
            first = block
        else:  # X is the final teacher's at every step; Y moves with the student
            np.testing.assert_array_equal(block.x.to_numpy(), first.x.to_numpy())
            assert not np.array_equal(block.y.to_numpy(), first.y.to_numpy())


def test_evolution_needs_an_analysis_with_one(pair):
    from kdlab.analysis import analyze_runs

    with pytest.raises(ConfigError, match="no evolution"):
        evolution_frame(analyze_runs(*pair, evolution=False))


def test_probability_of_phi_keeps_tiny_values():
    phi = np.array([-60.0, -20.0, 0.0, 20.0, 800.0, -800.0])
    p = _probability(phi)
    np.testing.assert_allclose(p[:4], 1 / (1 + np.exp(-phi[:4])), rtol=1e-12)
    assert p[0] > 0  # 0.5 * (1 + tanh(phi / 2)) rounds this one to 0
    assert p[4] == 1.0 and p[5] == 0.0  # no overflow warnings either way


def test_csv_round_trip(analysis, tmp_path):
    df = per_sample_frame(analysis)
    path = write_table(df, tmp_path / "samples.csv")
    back = pd.read_csv(path)
    assert list(back.columns) == list(df.columns) and len(back) == len(df)
    for col in df.columns:
        if isinstance(df[col].dtype, pd.CategoricalDtype):  # CSV keeps the values, not the category dtype
            assert back[col].tolist() == df[col].astype(str).tolist()
        elif df[col].dtype == np.float32:  # written in float32's shortest exact form, read as float64
            np.testing.assert_array_equal(back[col].to_numpy().astype(np.float32), df[col].to_numpy())
        else:
            assert back[col].dtype == df[col].dtype, col
            np.testing.assert_array_equal(back[col].to_numpy(), df[col].to_numpy())


def test_parquet_round_trip_keeps_values_and_dtypes(analysis, tmp_path):
    df = evolution_frame(analysis)
    path = write_table(df, tmp_path / "evolution.parquet")
    assert path.read_bytes()[:4] == b"PAR1"
    pd.testing.assert_frame_equal(pd.read_parquet(path), df)


def test_table_mistakes_are_one_line(analysis, tmp_path, monkeypatch):
    df = per_sample_frame(analysis)
    with pytest.raises(ConfigError, match=r"samples\.xlsx: use a \.csv or \.parquet file"):
        write_table(df, tmp_path / "samples.xlsx")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if pyarrow were not installed
    with pytest.raises(ConfigError, match=r"Parquet needs pyarrow: pip install 'kdlab\[parquet\]'") as e:
        write_table(df, tmp_path / "samples.parquet")
    assert "\n" not in str(e.value)
    assert list(tmp_path.iterdir()) == []  # nothing left behind, not even a temporary file
