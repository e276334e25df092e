"""The `kdlab` command line. User mistakes end as one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .errors import KdlabError

EXIT_USER_ERROR = 2


def _print_json(obj) -> None:
    """Exactly one strict-JSON object on stdout (NaN becomes null)."""
    from .io import dumps

    print(dumps(obj, indent=2, sort_keys=True))


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title))
    for i, c in enumerate(columns):
        table.add_column(escape(c), justify="left" if i == 0 else "right")
    for r in rows:
        table.add_row(*map(escape, r))
    console = Console()
    if not console.is_terminal:  # piped or logged: don't wrap tables at 80 columns
        console = Console(width=120)
    console.print(table)


def _logger(args):
    """Notes go to stdout, or to stderr when stdout must hold exactly one JSON object."""
    return (lambda s: print(s, file=sys.stderr)) if args.json else print


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def cmd_demo(args) -> int:
    from .analysis import write_analysis
    from .demo import run_demo

    out = Path(args.out)
    log = _logger(args)
    t0 = time.perf_counter()
    results = run_demo(out, seed=args.seed, overrides=args.overrides, progress=not args.no_progress, log=log)
    kd_run = Path(results["student_kd"]["run"])
    analysis = write_analysis(Path(results["teacher"]["run"]), kd_run, None, None, figures=True)
    wall = time.perf_counter() - t0
    if args.json:
        _print_json({"seed": args.seed, "out": str(out), "seconds": round(wall, 2), "runs": results,
                     "analysis": analysis})
        return 0
    te, oh, kd = (results[r] for r in ("teacher", "student_onehot", "student_kd"))
    _table(
        f"Accuracy % on digits, {int(100 * te['label_noise'])}% noisy labels (cf. P1 Table 2)",
        ["", "Teacher", "Student (one-hot)", "Student (KD)"],
        [
            ["train (noisy labels)", *(_pct(r["train_acc"]) for r in (te, oh, kd))],
            ["train (original labels)", *(_pct(r["train_acc_orig_labels"]) for r in (te, oh, kd))],
            ["test", *(_pct(r["test_acc"]) for r in (te, oh, kd))],
        ],
    )
    print(f"model {te['model']}, seed {args.seed} (students {args.seed + 1}), {wall:.1f} s")
    print(f"runs written to {out.resolve()}/{{teacher,student_onehot,student_kd}}")
    print()
    print_underfitting(analysis)
    print(f"figures of the KD student against its teacher in {Path(kd['run']) / 'figures'}")
    return 0


def print_underfitting(report: dict) -> None:
    """The underfitting summary of an analysis report as a table: one row per split and label group."""
    rows = []
    for split, r in report["splits"].items():
        u = r["underfitting"]
        for group, g in [("all", u), ("clean", u.get("clean")), ("noisy", u.get("noisy"))]:
            if not g or not g.get("n"):
                continue
            rows.append([f"{split} {group}", str(g["n"]), f"{g['mean_y_minus_x']:+.3f}", f"{g['slope']:.3f}",
                         f"{g['hard']['mean_y_minus_x']:+.3f}", f"{g['hard']['frac_y_below_x']:.2f}",
                         f"{g['easy']['mean_y_minus_x']:+.3f}", f"{g['easy']['frac_y_below_x']:.2f}"])
    _table("Underfitting: X = teacher phi(p_te[y_te]), Y = student phi(p_st[y_te]); hard/easy = lowest/highest 20% X",
           ["samples", "n", "Y-X", "slope", "hard Y-X", "hard Y<X", "easy Y-X", "easy Y<X"], rows)
    d = report["splits"]["test"]["dissection"]
    print("test points: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in d.items()))


def cmd_analyze(args) -> int:
    from .analysis import write_analysis

    report = write_analysis(Path(args.teacher), Path(args.student), args.step, args.out, not args.no_figures)
    if args.json:
        _print_json(report)
        return 0
    print_underfitting(report)
    print(f"report: {report['report']}")
    for p in report["figures"]:
        print(f"figure: {p}")
    return 0


def cmd_run(args) -> int:
    from .config import load_yaml, resolve
    from .plan import is_plan
    from .train.runner import run_config

    raw = load_yaml(args.config)
    log = _logger(args)
    if is_plan(raw):
        return _run_plan(raw, args, log)
    if args.scale is not None:
        raise KdlabError(f"--scale is for plans (configs with 'runs:'); {args.config} is a single run")
    cfg = resolve(raw, args.overrides)
    run, summary = run_config(cfg, args.out, progress=not args.no_progress, log=log)
    if args.json:
        _print_json({"run": str(run.root), **summary})
        return 0
    _table(f"{cfg.name}: {cfg.model.name} on {summary['dataset']}", ["", "accuracy %"], [
        ["train", _pct(summary["train_acc"])],
        *([["train (original labels)", _pct(summary["train_acc_orig_labels"])]] if cfg.data.label_noise else []),
        ["test", _pct(summary["test_acc"])],
    ])
    print(f"{summary['steps']} steps in {summary['train_seconds']:.1f} s; run written to {run.root}")
    return 0


def _print_report(report: dict) -> None:
    """A report's tables and figures (kdlab.reports.Report.to_json())."""
    for t in report["tables"]:
        _table(t["title"], t["columns"], t["rows"])
    for p in report.get("figures", []):
        print(f"figure: {p}")
    if report.get("html"):
        print(f"report: {report['html']}")


def _run_plan(raw: dict, args, log, executor: str = "local", **options) -> int:
    from .plan import run_plan

    # live progress bars only where runs train in this process, one after another
    progress = not args.no_progress and executor == "local" and options.get("jobs", 1) <= 1
    result = run_plan(raw, args.out, args.overrides, progress=progress, log=log, scale=args.scale,
                      executor=executor, **options)
    if args.json:
        _print_json(result)
        return 0
    _table("runs", ["run", "model", "train %", "test %", "seconds"],
           [[name, r["model"], _pct(r["train_acc"]), _pct(r["test_acc"]), f"{r['train_seconds']:.1f}"]
            for name, r in result["runs"].items()])
    for report in result["reports"]:
        _print_report(report)
    scale = f" at scale {result['scale']}" if result["scale"] else ""
    print(f"{len(result['runs'])} runs{scale} in {result['seconds']:.1f} s; written to {Path(args.out).resolve()}")
    return 0


def cmd_reproduce(args) -> int:
    from .config import load_yaml
    from .executors import EXECUTORS
    from .plan import is_plan

    raw = load_yaml(args.plan)
    if not is_plan(raw):
        raise KdlabError(f"{args.plan} is a single-run config, not a plan (no 'runs:'); use kdlab run")
    given = {"jobs": args.jobs, "address": args.address, "cpus_per_run": args.cpus_per_run}
    flags = {"jobs": "--jobs", "address": "--address", "cpus_per_run": "--cpus-per-run"}
    valid = ", ".join(flags[o] for o in EXECUTORS.options(args.executor)) or "none"
    for option, value in given.items():
        if value is None:
            continue
        if option not in EXECUTORS.options(args.executor):
            raise KdlabError(f"{flags[option]} is not an option of --executor {args.executor} (its options: {valid})")
        if option != "address" and value < 1:
            raise KdlabError(f"{flags[option]} must be at least 1, got {value}")
    log = _logger(args)
    return _run_plan(raw, args, log, args.executor, **{k: v for k, v in given.items() if v is not None})


def cmd_report(args) -> int:
    from .records import discover_runs
    from .reports import make_report

    out = Path(args.out) if args.out else Path(args.dir) / "report"
    runs = discover_runs(Path(args.dir), exclude=out)
    result = make_report(args.name, runs, out, **_options(args.options)).to_json()
    for line in result.get("skipped", []):
        print(f"kdlab: left out {line}", file=sys.stderr)
    if args.json:
        _print_json(result)
        return 0
    if args.name == "overview":
        print(f"{result['runs']} runs, {len(result['table2'])} teacher/student pairs, "
              f"{len(result['switch_groups'])} loss-switch groups")
    else:
        _print_report(result)
    print(f"report: {result['html']}")
    print(f"markdown: {result['markdown']}")
    return 0


def _options(items: list[str]) -> dict:
    from .config import deep_merge, parse_override

    options: dict = {}
    for o in items:
        options = deep_merge(options, parse_override(o))
    return options


def cmd_theory(args) -> int:
    from .reports import make_report

    report = make_report(args.view, {}, Path(args.out), quick=args.quick).to_json()
    if args.json:
        _print_json(report)
        return 0
    _print_report(report)
    return 0


def cmd_complexity(args) -> int:
    from .errors import RunError
    from .records import RunDir
    from .reports import make_report

    if (args.student_model is None) == (args.student is None):
        raise KdlabError("give exactly one of --student-model NAME or --student RUN")
    if not Path(args.teacher).is_dir():
        raise RunError(f"teacher run {args.teacher} does not exist")
    runs = {"teacher": RunDir(Path(args.teacher)), **({"student": RunDir(Path(args.student))} if args.student else {})}
    out = Path(args.out) if args.out else Path(args.teacher) / "figures"
    report = make_report("complexity", runs, out, student_model=args.student_model, n=args.n,
                         temperatures=args.temperatures, center=args.center).to_json()
    if args.json:
        _print_json(report)
        return 0
    _print_report(report)
    return 0


def cmd_data_inspect(args) -> int:
    from .data import load_dataset

    ds = load_dataset(args.name, args.root, options=_options(args.options))
    report = {
        "name": ds.name,
        "num_classes": ds.num_classes,
        "input_shape": list(ds.input_shape),
        "splits": {s: {"size": len(getattr(ds, s)), "label_counts": ds.label_counts(s)} for s in ("train", "test")},
        "checksum": ds.checksum(),
        **({"details": ds.extras["inspect"]} if "inspect" in ds.extras else {}),  # e.g. a text set's tokenizer
    }
    if args.json:
        print(json.dumps(report))
        return 0
    _table(f"{ds.name}: {ds.num_classes} classes, inputs {tuple(ds.input_shape)}, dtype {ds.train.inputs.dtype}",
           ["split", "size", "smallest class", "largest class"],
           [[s, str(v["size"]), str(min(v["label_counts"])), str(max(v["label_counts"]))] for s, v in report["splits"].items()])
    for key, value in report.get("details", {}).items():
        print(f"{key}: {value}")
    print(f"checksum {report['checksum']}")
    return 0


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (and exit status 2), like every other."""

    def error(self, message: str):
        self.exit(EXIT_USER_ERROR, f"kdlab: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="kdlab", description="Knowledge-distillation research toolkit.")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp, out_default: str):
        sp.add_argument("--out", default=out_default, help=f"output folder (default {out_default})")
        sp.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        sp.add_argument("--no-progress", action="store_true", help="no progress bars")

    d = sub.add_parser("demo", help="the embedded default: teacher, one-hot student, KD student on noisy digits")
    common(d, "runs/demo")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("overrides", nargs="*", metavar="key.sub=value", help="applied to all three runs")
    d.set_defaults(fn=cmd_demo)

    r = sub.add_parser("run", help="train a run (or the runs and report of a multi-run config) from YAML")
    r.add_argument("config")
    common(r, "runs")
    r.add_argument("--scale", default=None, help="a plan's scale (default: cpu where the plan has it)")
    r.add_argument("overrides", nargs="*", metavar="key.sub=value")
    r.set_defaults(fn=cmd_run)

    a = sub.add_parser("analyze", help="student-teacher deviations from two runs' recorded predictions (P1 §3.1)")
    a.add_argument("--teacher", required=True, help="the teacher's run directory")
    a.add_argument("--student", required=True, help="the student's run directory")
    a.add_argument("--step", type=int, default=None, help="the student's recorded step (default: its last)")
    a.add_argument("--out", default=None, help="folder for figures and deviations.json (default: <student>/figures)")
    a.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    a.add_argument("--no-figures", action="store_true")
    a.set_defaults(fn=cmd_analyze)

    rp = sub.add_parser("reproduce", help="run a plan of named runs in dependency order (reusing finished ones), then its reports")
    rp.add_argument("plan")
    common(rp, "runs")
    rp.add_argument("--scale", default=None, help="which of the plan's scales (default: cpu where the plan has it)")
    rp.add_argument("--executor", default="local",
                    help="where runs train: local (this machine; default) or ray (tasks on a Ray cluster, kdlab[ray])")
    rp.add_argument("--jobs", type=int, default=None, help="local: independent runs in N parallel processes (default 1)")
    rp.add_argument("--address", default=None, help="ray: the cluster (auto, or ray://HEAD:10001; default: a local Ray)")
    rp.add_argument("--cpus-per-run", type=int, default=None, help="ray: CPUs each run's task asks for (default 1)")
    rp.add_argument("overrides", nargs="*", metavar="key.sub=value")
    rp.set_defaults(fn=cmd_reproduce)

    rep = sub.add_parser("report", help="an HTML page and its Markdown twin over every run found under DIR")
    rep.add_argument("dir")
    rep.add_argument("--name", default="overview", help="the report (kdlab.reports; default overview)")
    rep.add_argument("--out", default=None, help="folder for <name>.html, .md, .json and figures (default DIR/report)")
    rep.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    rep.add_argument("options", nargs="*", metavar="option=value", help="the report's options")
    rep.set_defaults(fn=cmd_report)

    t = sub.add_parser("theory", help="P1's theory made runnable: eigenspace (§4.1) and gradient-space (§4.2) views")
    t.add_argument("view", choices=["eigenspace", "gradient-space"])
    t.add_argument("--out", default="runs/theory", help="folder for figures and the JSON report")
    t.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    t.add_argument("--quick", action="store_true", help="a smaller grid (for tests)")
    t.set_defaults(fn=cmd_theory)

    c = sub.add_parser("complexity", help="supervision complexity of a teacher's targets for a student's NTK (P2)")
    c.add_argument("--teacher", required=True, help="a teacher run with epoch checkpoints")
    c.add_argument("--student-model", default=None, help="a model name: its NTK at initialisation")
    c.add_argument("--student", default=None, help="a student run: its NTK at initialisation and trained")
    c.add_argument("--n", type=int, default=256, help="training samples in the kernel (default 256)")
    c.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 2.0, 4.0, 8.0])
    c.add_argument("--center", action="store_true", help="centre targets (subtract 1/K)")
    c.add_argument("--out", default=None, help="folder for the figure and complexity.json (default <teacher>/figures)")
    c.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    c.set_defaults(fn=cmd_complexity)

    data = sub.add_parser("data", help="datasets").add_subparsers(dest="data_command", required=True)
    i = data.add_parser("inspect", help="load a dataset and report it")
    i.add_argument("name")
    i.add_argument("--root", default=None, help="dataset file or folder (not needed for digits, synthetic-channels)")
    i.add_argument("--json", action="store_true")
    i.add_argument("options", nargs="*", metavar="option=value", help="dataset options, e.g. num_train=256")
    i.set_defaults(fn=cmd_data_inspect)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # Overrides may stand before or after options; argparse leaves the later ones over.
    args, rest = parser.parse_known_args(argv)
    bad = [r for r in rest if "=" not in r or r.startswith("-")]
    if bad or (rest and not hasattr(args, "overrides") and not hasattr(args, "options")):
        parser.error(f"unrecognized arguments: {' '.join(bad or rest)}")
    for name in ("overrides", "options"):
        if hasattr(args, name):
            setattr(args, name, [*getattr(args, name), *rest])
    from .train.parallel import is_writer, shutdown

    writer = is_writer()  # under torchrun, rank 0 speaks for all ranks
    if not writer:
        sys.stdout = open(os.devnull, "w")
    finished = False
    try:
        code = args.fn(args)
        finished = True
        return code
    except KdlabError as e:
        if writer:
            print(f"kdlab: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stdout = open(os.devnull, "w")
        return 0
    except OSError as e:  # the machine refused: a path that is a file, no permission, a full disk
        where = f" ({e.filename})" if e.filename else ""
        print(f"kdlab: error: {e.strerror or e}{where}; check that the output and cache folders are "
              f"writable folders with free space", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("kdlab: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    finally:
        shutdown(finished)


if __name__ == "__main__":
    sys.exit(main())
