"""Teacher logits kept for the whole training split when the data has no augmentation: the same
training result, bit for bit on CPU, as running the teacher at every step."""

import pytest
from safetensors.torch import load_file

from kdlab.config import Given, resolve
from kdlab.distill.teachers import run_model
from kdlab.records import load_weights
from kdlab.train.loop import setup
from kdlab.train.runner import run_config

quiet = dict(progress=False, log=lambda s: None)


def base(model: str, augment: str = "none") -> dict:
    return {"data": {"name": "digits", "train_size": 300, "augment": augment},
            "model": {"name": model, **({"hidden": [32]} if model == "mlp" else {})},
            "train": {"epochs": 2, "batch_size": 64, "lr": 0.05}}


@pytest.mark.parametrize("model", ["mlp", "resnet20"])
def test_cached_teacher_logits_train_the_same_student(tmp_path, model):
    teacher, _ = run_config(resolve({**base(model), "name": "t"}), tmp_path, **quiet)
    cfg = resolve({**base(model), "name": "s", "seed": 1, "teacher": {"run": str(teacher.root)},
                   "loss": {"terms": {"kd": {"weight": 1.0, "temperature": 4.0}}}})
    assert setup(cfg).cache_teacher
    cached, a = run_config(cfg, tmp_path / "cached", **quiet)
    module = run_model(teacher, 10, (1, 8, 8))
    load_weights(teacher.final_weights, module)
    module.deterministic = False  # the loop must run it at every step
    plain, b = run_config(cfg, tmp_path / "plain", given=Given(teacher=module), **quiet)
    wa, wb = load_file(str(cached.final_weights)), load_file(str(plain.final_weights))
    assert all((wa[k] == wb[k]).all() for k in wa)
    assert a.test_acc == b.test_acc and a.train_acc == b.train_acc


def test_no_cache_with_augmentation_or_a_term_reading_teacher_features(tmp_path):
    teacher, _ = run_config(resolve({**base("resnet20"), "name": "t"}), tmp_path, **quiet)
    kd = {"terms": {"kd": {"weight": 1.0}}}
    augmented = resolve({**base("resnet20", "crop_flip"), "name": "s", "teacher": {"run": str(teacher.root)}, "loss": kd})
    hint = resolve({**base("resnet20"), "name": "s", "teacher": {"run": str(teacher.root)},
                    "loss": {"terms": {**kd["terms"], "hint": {"weight": 1.0, "student": "blocks.5", "teacher": "blocks.5"}}}})
    assert not setup(augmented).cache_teacher and not setup(hint).cache_teacher
