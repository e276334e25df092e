import pytest

from kdlab.config import load_config, parse_override, resolve
from kdlab.errors import ConfigError


def test_unknown_key_names_key_and_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown config key 'train.lrr'; valid keys here: epochs, steps, batch_size"):
        resolve({"train": {"lrr": 0.1}})
    with pytest.raises(ConfigError, match=r"unknown config key 'loss.switch.at'; valid keys here: to, at_step, window"):
        resolve({"loss": {"switch": {"to": "kd", "at": 3}}, "teacher": {"run": "x"}})


def test_overrides_are_yaml_typed_and_nested():
    assert parse_override("train.decay_epochs=[1, 2]") == {"train": {"decay_epochs": [1, 2]}}
    cfg = resolve({"train": {"lr": 0.1}}, ["train.lr=0.5", "teacher=null", "model.name=mlp", "model.hidden=[32]"])
    assert cfg.train.lr == 0.5 and cfg.model.options == {"hidden": [32]}
    with pytest.raises(ConfigError, match="key.sub=value"):
        parse_override("train.lr")


def test_preset_is_table_1_and_loses_to_the_file():
    cfg = resolve({"preset": "p1-cifar", "train": {"epochs": 3}})
    assert (cfg.train.batch_size, cfg.train.lr, cfg.train.weight_decay, cfg.train.decay_epochs) == (1024, 1.0, 1e-4, [200, 300, 400])
    assert cfg.train.epochs == 3 and cfg.weighting.temperature("kd") == 4.0 and cfg.weighting.temperature() is None
    tiny = resolve({"preset": "p1-tinyimagenet", "loss": {"switch": {"to": "onehot", "at_step": 5}}})
    assert tiny.train.decay_epochs == [75, 135] and tiny.loss.switch.window == 10_000


def test_kd_without_teacher_is_an_error():
    with pytest.raises(ConfigError, match="no teacher.run"):
        resolve({"loss": {"kd_weight": 0.9, "onehot_weight": 0.1}})


def test_hash_tracks_content():
    a, b = resolve({}), resolve({"seed": 1})
    assert a.content_hash() == resolve({}).content_hash() != b.content_hash()


def test_every_example_config_validates():
    from pathlib import Path

    from kdlab.io import read_yaml
    from kdlab.plan import is_plan, resolve_plan

    paths = sorted(Path(__file__).parents[1].joinpath("configs").rglob("*.yaml"))
    assert len(paths) >= 10
    for p in paths:
        raw = read_yaml(p)
        resolve_plan(raw, "runs") if is_plan(raw) else load_config(p)


def test_the_readme_config_example_resolves():
    from pathlib import Path

    import yaml

    text = (Path(__file__).parents[1] / "README.md").read_text()
    block = text[text.index("name: digits_switch_onehot_to_kd"):]
    cfg = resolve(yaml.safe_load(block[:block.index("```")]))
    assert cfg.loss.switch.to == "kd" and cfg.train.precision == "auto" and list(cfg.loss.terms) == ["onehot", "kd"]


def _readme_commands():
    """Every `kdlab run|reproduce configs/...` command in the README's shell blocks: (config, scale, overrides)."""
    import re
    import shlex
    from pathlib import Path

    root = Path(__file__).parents[1]
    found = []
    for block in re.findall(r"```bash\n(.*?)```", (root / "README.md").read_text(), re.S):
        for line in block.splitlines():
            for part in line.split("#")[0].split("&&"):
                words = shlex.split(part)
                at = next((i for i, w in enumerate(words) if w in ("run", "reproduce") and i > 0
                           and words[i - 1] in ("kdlab", "kdlab.cli")), None)
                if at is None or at + 1 >= len(words) or not words[at + 1].startswith("configs/"):
                    continue
                rest = words[at + 2:]
                scale = rest[rest.index("--scale") + 1] if "--scale" in rest else None
                overrides = [w for w in rest if "=" in w and not w.startswith("-")]
                found.append((root / words[at + 1], scale, overrides))
    return found


def test_the_readme_commands_resolve_on_the_shipped_configs():
    """Each README command line that names a shipped config resolves with its overrides and scale."""
    from kdlab.io import read_yaml
    from kdlab.plan import is_plan, resolve_plan

    commands = _readme_commands()
    assert len(commands) >= 10 and any("loss.terms.dkd.weight=2" in o for _, _, o in commands)
    for path, scale, overrides in commands:
        raw = read_yaml(path)
        if is_plan(raw):
            resolve_plan(raw, "runs", overrides, scale)
        else:
            resolve(raw, overrides)


def test_every_shipped_config_uses_loss_terms_and_takes_a_term_override():
    """No shipped config uses the older loss keys, so `loss.terms.<t>.weight=...` works on each of its terms."""
    from pathlib import Path

    from kdlab.config import LEGACY_LOSS_KEYS
    from kdlab.io import read_yaml
    from kdlab.plan import expand_seeds, is_plan, resolve_plan

    for path in sorted((Path(__file__).parents[1] / "configs").rglob("*.yaml")):
        raw = read_yaml(path)
        runs = {name: b for name, (_, b) in expand_seeds(raw["runs"]).items()} if is_plan(raw) else {None: raw}
        overrides = []
        for name, body in runs.items():
            loss = body.get("loss") or {}
            assert "terms" in loss and not set(loss) & set(LEGACY_LOSS_KEYS), path
            overrides += [f"loss.terms.{term}.weight=0.5" if name is None else f"runs.{name}.loss.terms.{term}.weight=0.5"
                          for term in loss["terms"]]
        # one resolve per file: a plan's runs are resolved together (the CRD plan has 188)
        resolved = resolve(raw, overrides) if not is_plan(raw) else resolve_plan(raw, "runs", overrides)
        configs = [resolved] if not is_plan(raw) else resolved.runs
        assert all(t.weight == 0.5 for c in configs for t in c.loss.terms.values()), path


def test_a_term_override_adds_to_a_files_older_loss_keys():
    cfg = resolve({"loss": {"onehot_weight": 0.0, "kd_weight": 1.0, "temperature": 2.0}, "teacher": {"run": "t"}},
                  ["loss.terms.dkd.weight=1"])
    assert {n: t.weight for n, t in cfg.loss.terms.items()} == {"onehot": 0.0, "kd": 1.0, "dkd": 1.0}
    assert cfg.weighting.temperature("kd") == 2.0
