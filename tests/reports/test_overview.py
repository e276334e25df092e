"""The overview report's contents, over a small noisy plan (a teacher, a 3-seed KD student, a one-hot
student, a loss-switch student) and a clean pair: each number against what the runs recorded."""

import html
import json
import math
import re
import shutil

import pytest

from kdlab.analysis import analyze_runs
from kdlab.losses.weighting import Switch, TermFacts, Weighting
from kdlab.plan import run_plan
from kdlab.records import OutDir
from kdlab.reports import make_report
from kdlab.reports.overview import _count
from kdlab.reports.runs import describe_objective, parameter_count

pytest.importorskip("pandas")  # the interactive scatter's rows (kdlab.analysis.per_sample_frame)

NOISY = {"data": {"name": "digits", "train_size": 128, "label_noise": 0.2},
         "train": {"epochs": 2, "batch_size": 32}}
TEACHER = {**NOISY, "model": {"name": "mlp", "hidden": [32]}}
STUDENT = {**NOISY, "model": {"name": "mlp", "hidden": [8]}}
KD = {"terms": {"kd": {"weight": 0.5, "temperature": 4}, "onehot": {"weight": 0.5}}}
PLAN = {"runs": {
    "teacher": TEACHER,
    "student": {**STUDENT, "seeds": [1, 2, 3], "loss": KD, "teacher": {"run": "teacher"}},
    "onehot": STUDENT,
    "switch": {**STUDENT, "loss": {"terms": {"onehot": {"weight": 1}, "kd": {"weight": 0, "temperature": 4}},
                                   "switch": {"to": "kd", "at_step": 4}}, "teacher": {"run": "teacher"}},
    "clean_teacher": {**TEACHER, "data": {"name": "digits", "train_size": 128}},
    "clean_student": {**STUDENT, "data": {"name": "digits", "train_size": 128}, "loss": {"terms": {"kd": {"weight": 1}}},
                      "teacher": {"run": "clean_teacher"}},
}}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("overview")
    run_plan(PLAN, out / "runs", progress=False, log=lambda s: None)
    report = make_report("overview", OutDir(out / "runs").runs(), out / "report")
    return out / "runs", report


def table(report, title_start: str):
    return next(t for t in report.tables if t.title.startswith(title_start))


def rows_by(t, column: str) -> dict[str, dict[str, str]]:
    return {row[t.columns.index(column)]: dict(zip(t.columns, row)) for row in t.rows}


def summary(runs, name):
    return OutDir(runs).run(name).summary()


def test_models_and_losses_are_described_from_what_the_runs_recorded(made):
    runs, report = made
    t2 = table(report, "Teachers and students (P1 Table 2) on digits (128 train samples, 20% label noise)")
    pair = next(r[0] for r in t2.rows if r[2] == "student_s1")
    by_role = {r[1]: dict(zip(t2.columns, r)) for r in t2.rows if r[0] == pair}
    # mlp on 8x8 inputs: 64*32 + 32 + 32*10 + 10 = 2,410 and 64*8 + 8 + 8*10 + 10 = 610 parameters
    assert by_role["teacher"]["model"] == "mlp (hidden [32]; 2.4k params)"
    assert by_role["distilled student"]["model"] == "mlp (hidden [8]; 610 params)"
    assert by_role["one-hot student"]["run"] == "onehot" and by_role["one-hot student"]["loss"] == "onehot"
    assert by_role["distilled student"]["loss"] == "0.5 kd (T=4) + 0.5 onehot"
    assert by_role["teacher"]["loss"] == "onehot"
    every = rows_by(table(report, "Every finished run"), "run")
    assert every["switch"]["loss"] == "onehot → kd (T=4) at step 4"
    assert every["clean_student"]["loss"] == "kd (T=4)"
    switch = table(report, "Loss switching")
    assert [r[0] for r in switch.rows][-1] == "onehot → kd (T=4) at step 4"


def test_loss_descriptions_name_every_weighted_term_and_the_switch():
    hint = Weighting(terms={"kd": TermFacts(kind="kd", weight=0.5, temperature=4, reads_teacher=True),
                            "hint": TermFacts(kind="hint", weight=0.5, reads_teacher=True),
                            "l2": TermFacts(kind="onehot", weight=0.0)})
    assert describe_objective(hint) == "0.5 kd (T=4) + 0.5 hint"
    gradual = Weighting(terms={"soft": TermFacts(kind="kd", weight=1, temperature=2.5, reads_teacher=True),
                               "onehot": TermFacts(kind="onehot", weight=0)},
                        switch=Switch(to="onehot", at_step=100, window=50))
    assert describe_objective(gradual) == "soft (kd, T=2.5) → onehot over steps 100–150"
    assert [parameter_count(n) for n in (610, 2410, 272_474, 11_173_962)] == \
        ["610 params", "2.4k params", "272k params", "11.17M params"]


def test_train_accuracy_is_named_by_the_labels_it_is_measured_against(made):
    runs, report = made
    noisy = table(report, "Teachers and students (P1 Table 2) on digits (128 train samples, 20% label noise)")
    assert noisy.columns[-3:] == ["train % (noisy labels)", "train % (original labels)", "test %"]
    for row in noisy.rows:
        if row[2] == "none found":
            continue
        s = summary(runs, row[2])
        assert row[-3:] == [f"{100 * s.train_acc:.2f}", f"{100 * s.train_acc_orig_labels:.2f}", f"{100 * s.test_acc:.2f}"]
    # The noise changes what train accuracy means: for the teacher the two differ
    t = summary(runs, "teacher")
    assert t.train_acc != t.train_acc_orig_labels
    clean = table(report, "Teachers and students (P1 Table 2) on digits (128 train samples)")
    assert clean.columns[-2:] == ["train %", "test %"] and not any("noisy" in c for c in clean.columns)
    # Runs of both kinds in one table: the trained-on labels named as such
    every = table(report, "Every finished run")
    assert "train % (labels trained on)" in every.columns and "data" in every.columns


def test_deviations_are_reported_for_the_train_and_the_test_split(made):
    runs, report = made
    pair = next(t for t in report.tables if re.fullmatch(r"Pair \d+: student_s1 \(student\) against teacher \(teacher\).*", t.title))
    a = analyze_runs(runs / "teacher", runs / "student_s1").to_json()["splits"]
    shown = {(r[0], r[1]): r for r in pair.rows}
    assert {("train", "all"), ("train", "clean labels"), ("train", "noisy labels"), ("test", "all")} == set(shown)
    for split, n in (("train", 128), ("test", 450)):
        u = a[split]["underfitting"]
        assert shown[(split, "all")][2:] == [str(n), f"{u['mean_y_minus_x']:+.3f}", f"{u['hard']['mean_y_minus_x']:+.3f}",
                                             f"{u['hard']['frac_y_below_x']:.2f}", f"{u['slope']:.3f}"]
        assert report.data["deviations"]["student_s1"][split]["mean_y_minus_x"] == u["mean_y_minus_x"]
    names = [p.name for p in pair.figures]
    assert names == ["deviation_student_s1.png", "curves_student_s1.png"] and all(p.is_file() for p in pair.figures)


def test_seed_spread_is_the_mean_and_sample_std_over_the_seeds(made):
    runs, report = made
    t = table(report, "Seed spread: mean ± sample standard deviation (ddof = 1)")
    assert len(t.rows) == 1  # the 3-seed student; the other runs differ by more than their seed
    row = dict(zip(t.columns, t.rows[0]))
    assert row["runs"] == "student_s{1,2,3}" and row["n"] == "3" and row["seeds"] == "1, 2, 3"
    assert row["teacher"] == "teacher" and row["loss"] == "0.5 kd (T=4) + 0.5 onehot"
    # by hand: the mean, and the sample standard deviation sqrt(sum (v - mean)^2 / (n - 1))
    for column, field in (("test %", "test_acc"), ("train % (noisy labels)", "train_acc"),
                          ("train % (original labels)", "train_acc_orig_labels")):
        values = [100 * getattr(summary(runs, f"student_s{s}"), field) for s in (1, 2, 3)]
        mean = (values[0] + values[1] + values[2]) / 3
        std = math.sqrt(((values[0] - mean) ** 2 + (values[1] - mean) ** 2 + (values[2] - mean) ** 2) / 2)
        assert row[column] == f"{mean:.2f} ± {std:.2f}"
        got = report.data["seed_groups"][0][field]
        assert got["mean"] == pytest.approx(mean / 100) and got["std"] == pytest.approx(std / 100)
    devs = [report.data["deviations"][f"student_s{s}"]["test"]["mean_y_minus_x"] for s in (1, 2, 3)]
    m = sum(devs) / 3
    assert row["mean Y-X test"] == f"{m:+.3f} ± {math.sqrt(sum((d - m) ** 2 for d in devs) / 2):.3f}"


def test_the_page_folds_every_config_and_draws_every_pair(made):
    runs, report = made
    page = report.files["html"].read_text()
    for name in ("teacher", "student_s1", "switch", "clean_student"):
        text = (runs / name / "config.yaml").read_text()
        assert f"<details><summary>{name}: " in page and f"<pre>{html.escape(text)}</pre>" in page
    # one interactive scatter a pair, each with every sample of both splits; the script once
    scatters = re.findall(r"<script type='application/json' class='kdlab-scatter-data'>(.*?)</script>", page)
    assert len(scatters) == len(report.data["table2"]) == 4
    first = json.loads(scatters[0])
    assert first["total"] == first["shown"] == 128 + 450 and sorted(set(first["split"])) == [0, 1]
    assert page.count("function draw(box)") == 1 and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    inputs = json.loads(re.search(r"<script type='application/json' id='kdlab-inputs-0'>(.*?)</script>", page).group(1))
    assert inputs["kind"] == "image" and (inputs["channels"], inputs["height"], inputs["width"]) == (1, 8, 8)
    assert len(inputs["keys"]) == 128 + 450  # one thumbnail per sample, shared by the pairs on this data


def test_the_markdown_twin_keeps_tables_and_figures_and_leaves_out_the_interactive_part(made):
    runs, report = made
    text = report.files["markdown"].read_text()
    assert "<script" not in text and "<details" not in text
    assert "![curves_student_s1](<figures/curves_student_s1.png>)" in text
    assert text.count("The interactive scatter of every sample of this pair is in the HTML page") == 4
    assert "- teacher: [config.yaml](../runs/teacher/config.yaml)" in text
    assert report.note == ("8 finished runs, 4 teacher/student pairs, 1 group of runs that differ only by seed, "
                           "1 loss-switch group")
    assert [_count(n, "pair") for n in (0, 1, 2)] == ["0 pairs", "1 pair", "2 pairs"]


def test_students_of_another_teacher_run_are_not_seeds_of_the_same_group(made, tmp_path):
    from kdlab.records import RunDir
    from kdlab.reports.overview import seed_groups
    from kdlab.reports.runs import read_runs

    runs, _ = made
    other = tmp_path / "other"
    for name in ("teacher", "student_s2"):
        shutil.copytree(runs / name, other / name)
    given = {**{n: RunDir(runs / n) for n in ("teacher", "student_s1", "student_s3")},
             "other/teacher": RunDir(other / "teacher"), "other/student_s2": RunDir(other / "student_s2")}
    # the copy still names the first teacher run: a seed of the same group
    assert [[r.name for r in g] for g in seed_groups(read_runs(given)[0])] == \
        [["student_s1", "other/student_s2", "student_s3"]]
    # taught by the other teacher run (the same config, so the same `teacher.run: teacher`): not a seed of it
    info = json.loads((other / "student_s2" / "run.json").read_text())
    (other / "student_s2" / "run.json").write_text(json.dumps({**info, "teacher_run": str((other / "teacher").resolve())}))
    assert [[r.name for r in g] for g in seed_groups(read_runs(given)[0])] == [["student_s1", "student_s3"]]
