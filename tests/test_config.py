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
    assert cfg.train.epochs == 3 and cfg.loss.distill_temperature == 4.0
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

    from kdlab.config import load_yaml
    from kdlab.plan import is_plan, resolve_plan

    paths = sorted(Path(__file__).parents[1].joinpath("configs").rglob("*.yaml"))
    assert len(paths) >= 10
    for p in paths:
        raw = load_yaml(p)
        resolve_plan(raw, "runs") if is_plan(raw) else load_config(p)


def test_the_readme_config_example_resolves():
    from pathlib import Path

    import yaml

    text = (Path(__file__).parents[1] / "README.md").read_text()
    block = text[text.index("name: digits_switch_onehot_to_kd"):]
    cfg = resolve(yaml.safe_load(block[:block.index("```")]))
    assert cfg.loss.switch.to == "kd" and cfg.train.precision == "auto" and list(cfg.loss.terms) == ["onehot", "kd"]
