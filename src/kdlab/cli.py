"""The `kdlab` command line. User mistakes end as one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import KdlabError

EXIT_USER_ERROR = 2


def _print_json(obj) -> None:
    """Exactly one strict-JSON object on stdout (NaN becomes null)."""
    from .io import dumps

    print(dumps(obj, indent=2, sort_keys=True))


def _show(tables, lines=()) -> None:
    from .tables import print_tables

    print_tables(tables)
    for line in lines:
        print(line)


def _logger(args):
    """Notes go to stdout, or to stderr when stdout must hold exactly one JSON object."""
    return (lambda s: print(s, file=sys.stderr)) if args.json else print


def cmd_demo(args) -> int:
    from .demo import run_demo

    demo = run_demo(Path(args.out), seed=args.seed, overrides=args.overrides, reuse=args.reuse,
                    progress=not args.no_progress, log=_logger(args))
    if args.json:
        _print_json(demo.to_json())
        return 0
    _show(demo.tables(), demo.notes())
    return 0


def cmd_analyze(args) -> int:
    from .analysis import write_analysis
    from .plotting import FigureFormat

    written = write_analysis(Path(args.teacher), Path(args.student), args.step, args.out, not args.no_figures,
                             figure_format=FigureFormat(args.format.lower(), args.dpi), per_sample=args.per_sample,
                             per_sample_evolution=args.per_sample_evolution)
    if args.json:
        _print_json(written.to_json())
        return 0
    _show(written.tables(), written.lines())
    return 0


def cmd_run(args) -> int:
    from .config import resolve
    from .io import read_yaml
    from .plan import is_plan
    from .train.runner import run_config

    raw = read_yaml(args.config)
    if is_plan(raw):
        return _run_plan(raw, args)
    if args.scale is not None:
        raise KdlabError(f"--scale is for plans (configs with 'runs:'); {args.config} is a single run")
    cfg = resolve(raw, args.overrides)
    run, summary = run_config(cfg, args.out, reuse=args.reuse, progress=not args.no_progress, log=_logger(args))
    if args.json:
        _print_json({"run": str(run.root), **summary.model_dump(mode="json")})
        return 0
    _show([summary.table()], [f"{summary.steps} steps in {summary.train_seconds:.1f} s; run written to {run.root}"])
    return 0


def _run_plan(raw: dict, args, executor: str = "local", **options) -> int:
    from .plan import run_plan

    # live progress bars only where runs train in this process, one after another
    progress = not args.no_progress and executor == "local" and options.get("jobs", 1) <= 1
    result = run_plan(raw, args.out, args.overrides, progress=progress, log=_logger(args), scale=args.scale,
                      executor=executor, reuse=args.reuse, **options)
    if args.json:
        _print_json(result.to_json())
        return 0
    _show(result.tables(), result.lines(args.out))
    return 0


def cmd_reproduce(args) -> int:
    from .io import read_yaml
    from .plan import is_plan

    raw = read_yaml(args.plan)
    if not is_plan(raw):
        raise KdlabError(f"{args.plan} is a single-run config, not a plan (no 'runs:'); use kdlab run")
    given = {"jobs": args.jobs, "address": args.address, "cpus_per_run": args.cpus_per_run}
    return _run_plan(raw, args, args.executor, **{k: v for k, v in given.items() if v is not None})


def cmd_report(args) -> int:
    from .records import OutDir
    from .reports import make_report

    out = Path(args.out) if args.out else Path(args.dir) / "report"
    runs = OutDir(Path(args.dir)).runs(exclude=out)
    report = make_report(args.name, runs, out, **_options(args.options))
    for line in report.left_out:
        print(f"kdlab: left out {line}", file=sys.stderr)
    if args.json:
        _print_json(report.to_json())
        return 0
    _show(report.tables, report.lines())
    return 0


def _options(items: list[str]) -> dict:
    from .config import deep_merge, parse_override

    options: dict = {}
    for o in items:
        options = deep_merge(options, parse_override(o))
    return options


def cmd_theory(args) -> int:
    from .reports import make_report

    report = make_report(args.view, {}, Path(args.out), quick=args.quick)
    if args.json:
        _print_json(report.to_json())
        return 0
    _show(report.tables, report.lines())
    return 0


def cmd_complexity(args) -> int:
    from .errors import RunError
    from .records import RunDir
    from .reports import make_report

    if (args.student_model is None) == (args.student is None):
        raise KdlabError("give exactly one of --student-model NAME or --student RUN")
    if not Path(args.teacher).is_dir():
        raise RunError(f"teacher run {args.teacher} does not exist")
    runs = {"teacher": RunDir(args.teacher), **({"student": RunDir(args.student)} if args.student else {})}
    out = Path(args.out) if args.out else runs["teacher"].figures
    report = make_report("complexity", runs, out, student_model=args.student_model, n=args.n,
                         temperatures=args.temperatures, center=args.center, term=args.term)
    if args.json:
        _print_json(report.to_json())
        return 0
    _show(report.tables, report.lines())
    return 0


def cmd_data_inspect(args) -> int:
    from .data import inspect_dataset, load_dataset

    report = inspect_dataset(load_dataset(args.name, args.root, options=_options(args.options)))
    if args.json:
        print(json.dumps(report.to_json()))
        return 0
    _show(report.tables(), report.notes())
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
        # kdlab.records.REUSE, spelled out: importing it here would load torch for every command
        sp.add_argument("--reuse", default="if_same", choices=["if_same", "never"],
                        help="if_same (default): reuse a finished run of the same config and code, resume an "
                             "interrupted one; never: train anew")

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
    # Checked by kdlab.plotting.FigureFormat, the one list of formats (importing it here would load
    # matplotlib for every command)
    a.add_argument("--format", default="png", help="the figures' file format: png (default), or pdf or svg (vector)")
    a.add_argument("--dpi", type=int, default=120,
                   help="resolution of png figures and of the rasterised dense layers in pdf/svg (default 120)")
    a.add_argument("--per-sample", default=None, metavar="FILE",
                   help="write one row per sample of the pair at the analysed step: a .csv or .parquet file")
    a.add_argument("--per-sample-evolution", default=None, metavar="FILE",
                   help="write one row per training sample and recorded student step: a .csv or .parquet file")
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
    c.add_argument("--term", default=None, help="the student's loss term whose temperature scores the teacher over "
                                                 "its training (default: its distillation's)")
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
