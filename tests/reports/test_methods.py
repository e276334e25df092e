"""The `methods` report over a tiny plan (digits, mlp teacher and students: vanilla, KD with 2 seeds,
DKD, DIST): its numbers against hand computations from the runs' recorded predictions, its figures,
and published accuracies shown as published."""

import json

import numpy as np
import pytest
import yaml

from kdlab.plan import run_plan
from kdlab.records import OutDir, load_predictions
from kdlab.reports import REPORTS, make_report
from kdlab.reports.methods import PUBLISHED, PublishedTable

DATA = {"name": "digits", "train_size": 128}
TRAIN = {"epochs": 2, "batch_size": 32}
STUDENT = {"data": DATA, "train": TRAIN, "model": {"name": "mlp", "hidden": [8]}}
TAUGHT = {**STUDENT, "teacher": {"run": "teacher"}}
PLAN = {"runs": {
    "teacher": {"data": DATA, "train": TRAIN, "model": {"name": "mlp", "hidden": [32]}},
    "alone": {**STUDENT, "seed": 1},
    "kd": {**TAUGHT, "seeds": [1, 2], "loss": {"terms": {"onehot": {"weight": 0.1}, "kd": {"weight": 0.9, "temperature": 4}}}},
    "dkd": {**TAUGHT, "seed": 1, "loss": {"terms": {"onehot": {"weight": 1}, "dkd": {"weight": 1, "schedule": {"kind": "ramp", "epochs": 2}}}}},
    "dist": {**TAUGHT, "seed": 1, "loss": {"terms": {"onehot": {"weight": 1}, "dist": {"weight": 1, "tau": 4}}}},
}}
PUBLISHED_TEST = {"sources": {"paper": "A paper, its table 1", "other": "Another paper"},
                  "pairs": [{"data": "digits", "teacher": "mlp", "student": "mlp", "paper": {"teacher": 99.5, "kd": 12.34}},
                            {"data": "cifar100", "teacher": "mlp", "student": "mlp", "other": {"dkd": 55.5}}]}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("methods")
    run_plan(PLAN, out / "runs", progress=False, log=lambda s: None)
    published = out / "published.yaml"
    published.write_text(yaml.safe_dump(PUBLISHED_TEST))
    report = make_report("methods", OutDir(out / "runs").runs(), out / "report", complexity=True, n=32,
                         published=str(published))
    return out, report


def group(report):
    (g,) = report.data["groups"]
    return g, {m["method"]: m for m in g["methods"]}


def rows(report, title_start):
    t = next(t for t in report.tables if t.title.startswith(title_start))
    return {r[0] + ("" if t.columns[1] != "split" else f"/{r[1]}"): dict(zip(t.columns, r)) for r in t.rows}


def log_softmax(z):
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def by_hand(runs, student: str, split: str) -> dict:
    """Agreement, mean KL(p_te || p_st) at T = 1 and the hard/easy 20% tails of Y - X, from the
    recorded logits alone."""
    te, st = (load_predictions(runs / r).splits[split] for r in ("teacher", student))
    order_t, order_s = np.argsort(te["index"]), np.argsort(st["index"])
    assert (te["index"][order_t] == st["index"][order_s]).all()
    ft, fs = te["logits"][order_t].astype(np.float64), st["logits"][order_s].astype(np.float64)
    lt, ls = log_softmax(ft), log_softmax(fs)
    y_te = ft.argmax(1)
    kl = (np.exp(lt) * (lt - ls)).sum(1)

    def phi(log_p, cls):  # log(p / (1 - p)) of class cls
        p = np.exp(log_p[np.arange(len(cls)), cls])
        return np.log(p) - np.log1p(-p)

    x, y = phi(lt, y_te), phi(ls, y_te)
    d = (y - x)[np.argsort(x, kind="stable")]
    k = int(round(0.2 * len(x)))
    return {"agreement": float((y_te == fs.argmax(1)).mean()), "kl": float(kl.mean()),
            "hard": (float(d[:k].mean()), float((d[:k] < 0).mean())), "easy": (float(d[-k:].mean()), float((d[-k:] < 0).mean()))}


def test_students_are_grouped_by_teacher_and_named_by_their_objective(made):
    _, report = made
    g, methods = group(report)
    assert g["teacher"] == "teacher" and g["student_model"] == "mlp"
    assert list(methods) == ["vanilla", "kd", "dist", "dkd"]  # vanilla, then KD, then the others by name
    assert methods["kd"]["runs"] == ["kd_s1", "kd_s2"] and methods["kd"]["seeds"] == [1, 2]
    assert methods["vanilla"]["runs"] == ["alone"]  # a student without a teacher, of the same model and data
    assert "teacher" not in [r for m in methods.values() for r in m["runs"]]


def test_numbers_equal_hand_computations_from_the_recorded_predictions(made):
    out, report = made
    runs = out / "runs"
    _, methods = group(report)
    for name, m in methods.items():
        for split in ("train", "test"):
            hand = [by_hand(runs, r, split) for r in m["runs"]]
            n = m["numbers"]
            assert n[f"agreement_{split}"]["values"] == pytest.approx([h["agreement"] for h in hand], abs=1e-12)
            assert n[f"kl_{split}"]["values"] == pytest.approx([h["kl"] for h in hand], rel=1e-4, abs=1e-6)
            assert n[f"hard_y_minus_x_{split}"]["values"] == pytest.approx([h["hard"][0] for h in hand], rel=1e-4, abs=1e-5)
            assert n[f"hard_frac_y_below_x_{split}"]["values"] == pytest.approx([h["hard"][1] for h in hand])
            assert n[f"easy_y_minus_x_{split}"]["values"] == pytest.approx([h["easy"][0] for h in hand], rel=1e-4, abs=1e-5)
            assert n[f"easy_frac_y_below_x_{split}"]["values"] == pytest.approx([h["easy"][1] for h in hand])
        accs = [OutDir(runs).run(r).summary().test_acc for r in m["runs"]]
        assert n["test_acc"]["values"] == accs
    # Over KD's two seeds: mean and sample standard deviation (ddof = 1), in the table as mean ± std.
    kd = methods["kd"]["numbers"]
    for metric in ("test_acc", "agreement_test", "kl_train"):
        v = np.array(kd[metric]["values"])
        assert kd[metric]["mean"] == pytest.approx(v.mean()) and kd[metric]["std"] == pytest.approx(v.std(ddof=1))
    table = rows(report, "Methods")
    acc, agree, kl = kd["test_acc"], kd["agreement_test"], kd["kl_train"]
    assert table["kd"]["test %"] == f"{100 * acc['mean']:.2f} ± {100 * acc['std']:.2f}"
    assert table["kd"]["agreement test %"] == f"{100 * agree['mean']:.2f} ± {100 * agree['std']:.2f}"
    assert table["kd"]["KL train"] == f"{kl['mean']:.3f} ± {kl['std']:.3f}"
    dkd = methods["dkd"]["numbers"]["test_acc"]  # one seed: no ±
    assert dkd["std"] is None and table["dkd"]["test %"] == f"{100 * dkd['mean']:.2f}"
    under = rows(report, "Underfitting")
    hard = methods["dist"]["numbers"]["hard_y_minus_x_train"]["mean"]
    assert under["dist/train"]["hard 20% Y-X"] == f"{hard:+.3f}"


def test_methods_that_beat_kd_are_compared_with_it(made):
    _, report = made
    _, methods = group(report)
    kd = methods["kd"]["numbers"]
    beat = [m for m in ("dist", "dkd") if methods[m]["numbers"]["test_acc"]["mean"] > kd["test_acc"]["mean"]]
    assert [r["method"] for r in report.data["versus_kd"]] == beat
    for r in report.data["versus_kd"]:
        n = methods[r["method"]]["numbers"]
        assert r["delta"]["agreement_test"] == pytest.approx(n["agreement_test"]["mean"] - kd["agreement_test"]["mean"])
        assert r["delta"]["kl_test"] == pytest.approx(n["kl_test"]["mean"] - kd["kl_test"]["mean"])
    assert report.note.startswith("Do methods that beat KD deviate from the teacher in the same way, or less?")
    assert f"Here {len(beat)} method" in report.note or (not beat and "No method beats KD" in report.note)


def test_the_figures_exist(made):
    out, report = made
    g, _ = group(report)
    names = sorted(p.split("/")[-1] for p in g["figures"])
    assert names == ["methods_agreement_1_teacher_mlp.png", "methods_scatter_1_teacher_mlp.png"]
    for f in report.all_figures():
        assert f.is_file() and f.stat().st_size > 10_000
    page = (out / "report" / "methods.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    assert json.loads((out / "report" / "methods.json").read_text())["groups"][0]["methods"][1]["method"] == "kd"


def test_published_accuracies_are_shown_labelled_as_published(made):
    _, report = made
    table = rows(report, "Methods")
    assert table["kd"]["published test %"] == "12.34 (published: paper)"
    assert table["teacher"]["published test %"] == "99.50 (published: paper)"
    assert table["vanilla"]["published test %"] == "-" and table["dkd"]["published test %"] == "-"  # other data only
    g, methods = group(report)
    assert methods["kd"]["published"] == {"value": 12.34, "source": "paper", "data": "digits"}
    assert report.data["published_sources"]["paper"] == "A paper, its table 1"


def test_published_accuracies_of_other_data_only_when_asked(made, tmp_path):
    out, _ = made
    published = out / "published.yaml"
    report = make_report("methods", OutDir(out / "runs").runs(), tmp_path / "report", published=str(published),
                         published_any_data=True)
    table = rows(report, "Methods")
    assert table["dkd"]["published test %"] == "55.50 (published: other, on cifar100)"
    assert table["kd"]["published test %"] == "12.34 (published: paper)"  # the run's own data first
    assert "adjusted complexity of its targets" not in next(t for t in report.tables if t.title.startswith("Methods")).columns


def test_supervision_complexity_of_each_method_s_targets(made):
    _, report = made
    g, methods = group(report)
    c = g["complexity"]
    assert c["n"] == 32 and c["kernel"].startswith("mlp at initialisation")
    assert methods["vanilla"]["complexity"] == {"targets": "labels", "adjusted": c["labels"]}
    for name in ("kd", "dkd", "dist"):  # each distils the teacher's softmax at T = 4
        assert methods[name]["complexity"]["adjusted"] == c["teacher"]["4"]
    # P2's ordering: labels are more complex than the teacher's softened targets
    assert c["labels"] > c["teacher"]["4"] > 0
    table = rows(report, "Methods")
    assert table["kd"]["adjusted complexity of its targets"] == f"{c['teacher']['4']:.4f} (teacher at T=4)"


def test_the_shipped_published_numbers_are_the_papers(made):
    table = PublishedTable(PUBLISHED)
    assert set(table.sources) == {"CRD paper", "DKD paper"}
    look = lambda t, s, m: table.lookup("cifar100", t, s, m, any_data=False).value  # noqa: E731
    assert look("resnet32x4", "resnet8x4", "crd") == 75.51 and look("resnet32x4", "resnet8x4", "dkd") == 76.32
    assert look("resnet32x4", "resnet8x4", "teacher") == 79.42 and look("resnet32x4", "resnet8x4", "vanilla") == 72.50
    assert look("vgg13", "mobilenetv2_half", "at") == 59.40 and look("resnet50_cifar", "vgg8", "kd") == 73.81
    assert table.lookup("cifar100", "wrn_40_2", "wrn_40_1", "fsp", any_data=False) is None  # N/A in the CRD table
    assert table.lookup("cifar100", "resnet32x4", "resnet8x4", "kd", any_data=False).source == "CRD paper"  # listed first


def test_from_the_command_line_and_its_options_are_checked(made, cli, tmp_path):
    out, _ = made
    code, printed, err = cli("report", out / "runs", "--name", "methods", "--out", tmp_path / "r", "--json",
                             f"published={out / 'published.yaml'}")
    assert code == 0, err
    assert json.loads(printed)["groups"][0]["teacher"] == "teacher"
    assert REPORTS.check_options("methods", {"complexity": True, "n": 64}) == {"complexity": True, "n": 64}
    code, _, err = cli("report", out / "runs", "--name", "methods", "--out", tmp_path / "r", "n=1")
    assert code == 2 and "option 'n'" in err
