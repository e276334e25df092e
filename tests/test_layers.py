"""The package layers (README, "Layout"): a package imports only packages of its own layer or below,
and no module imports another that (directly or not) imports it back. Every import counts, also
those inside functions."""

import ast
from pathlib import Path

SRC = Path(__file__).parents[1] / "src" / "kdlab"

# Bottom to top, as in the README.
LAYERS = [
    {"version", "errors", "values", "io", "registry", "plotting", "sources", "tables", "memory"},
    {"data", "models", "losses", "probes", "loggers"},
    {"config"},
    {"records"},
    {"distill"},
    {"train"},
    {"analysis", "complexity", "theory"},
    {"reports"},
    {"plan", "executors", "demo", "api"},
    {"cli", "__main__", "kdlab"},  # `kdlab` is the package's own __init__ (it loads the API lazily)
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = ["kdlab", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in SRC.rglob("*.py")}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The kdlab modules `name` imports: the module itself where `from X import y` names a module."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("kdlab")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("kdlab"):
                continue
            subs = {f"{target}.{a.name}" for a in node.names} & known
            found |= subs or {target}
    return {m for m in found if m in known and m != name}


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "kdlab"


def test_every_package_has_a_layer():
    assert {top(m) for m in modules()} <= set(LAYER), {top(m) for m in modules()} - set(LAYER)


def test_no_package_imports_one_above_it():
    known = modules()
    wrong = []
    for name, path in known.items():
        for target in imports(name, path, set(known)):
            if LAYER[top(target)] > LAYER[top(name)]:
                wrong.append(f"{name} imports {target}")
    assert not wrong, wrong


def test_no_import_cycle_between_modules():
    known = modules()
    graph = {name: imports(name, path, set(known)) for name, path in known.items()}
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    cycles = []

    def visit(node, trail):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(trail[trail.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_the_checker_sees_a_violation(tmp_path):
    """A hand-made module importing upwards (inside a function) is caught."""
    pkg = tmp_path / "kdlab" / "data"
    pkg.mkdir(parents=True)
    bad = pkg / "bad.py"
    bad.write_text("def f():\n    from ..train.loop import train\n")
    found = imports("kdlab.data.bad", bad, {"kdlab.train.loop", "kdlab.train"})
    assert found == {"kdlab.train.loop"} and LAYER["train"] > LAYER["data"]
