"""The README's "A run on disk" block against the files of real runs: every entry it lists is there,
named as it says, and every file a run holds is listed."""

import re
from pathlib import Path

import pytest

import kdlab
from kdlab.analysis import write_analysis

README = Path(__file__).parents[1] / "README.md"
PLACEHOLDERS = {"<EEEE>": r"\d{4}", "<S>": r"\d+", "<probe>": r"[A-Za-z0-9_]+"}


def layout() -> list[str]:
    """The block's path entries, relative to the run (`<out>/...` ones relative to the output folder)."""
    text = README.read_text()
    block = text[text.index("```\n<out>/<run>/\n") + 4:]
    block = block[: block.index("```")]
    entries = []
    for line in block.splitlines()[1:]:
        if not line.strip() or line.startswith(" " * 20):  # a description's continuation line
            continue
        first = line.strip().split("  ")[0]  # the path, then two or more spaces, then what it is
        paths = [p.strip() for p in first.split(",")]
        folder = paths[0].rsplit("/", 1)[0] + "/" if "/" in paths[0].rstrip("/") else ""
        entries += [paths[0], *(folder + p for p in paths[1:])]
    return entries


def pattern(entry: str) -> re.Pattern:
    text = re.escape(entry)
    for placeholder, regex in PLACEHOLDERS.items():
        text = text.replace(re.escape(placeholder), regex)
    return re.compile(text + (".*" if entry.endswith("/") else ""))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A teacher, and a student with every optional record: a term with parameters (hint), a probe,
    both loggers, and the analysis' figures."""
    out = tmp_path_factory.mktemp("layout")
    base = {"data": {"name": "digits", "train_size": 64}, "model": {"name": "mlp", "hidden": [16]},
            "train": {"epochs": 2, "batch_size": 32}, "record": {"checkpoint_every_epochs": 1, "predictions_every_epochs": 1}}
    quiet = dict(out=out, progress=False, log=lambda m: None)
    teacher = kdlab.fit({**base, "name": "teacher"}, **quiet)
    student = kdlab.fit({**base, "name": "student", "seed": 1, "teacher": {"run": "teacher"},
                         "loss": {"terms": {"kd": {"weight": 1.0}, "hint": {"weight": 0.1, "student": "net.1", "teacher": "net.1"}}},
                         "record": {**base["record"], "probes": ["eigen_projections"], "loggers": ["tensorboard", "mlflow"]}},
                        **quiet)
    write_analysis(teacher.root, student.root)
    return out, student.root


def test_the_readme_lists_every_file_of_a_run_as_it_is_named(runs):
    out, student = runs
    entries = layout()
    assert "checkpoints/epoch_<EEEE>.safetensors" in entries and "checkpoints/objective_final.safetensors" in entries
    in_run = [e for e in entries if not e.startswith("<out>/")]
    files = [p.relative_to(student).as_posix() for p in student.rglob("*") if p.is_file() and p.name != ".lock"]
    for entry in in_run:  # every entry is there, named as the README says
        assert any(pattern(entry).fullmatch(f) for f in files), (entry, sorted(files))
    for f in files:  # and every file the run holds is listed
        assert any(pattern(e).fullmatch(f) for e in in_run), f
    for entry in (e.removeprefix("<out>/") for e in entries if e.startswith("<out>/")):
        assert (out / entry).exists(), entry


def test_the_layout_reader_reads_what_the_block_says():
    entries = layout()
    assert entries[:4] == ["config.yaml", "run.json", "metrics.jsonl", "summary.json"]
    assert pattern("checkpoints/epoch_<EEEE>.safetensors").fullmatch("checkpoints/epoch_0005.safetensors")
    assert not pattern("checkpoints/epoch_<EEEE>.safetensors").fullmatch("checkpoints/epoch_5.safetensors")
