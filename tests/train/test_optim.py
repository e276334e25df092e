import pytest
import torch

from kdlab.config import TrainConfig
from kdlab.train.optim import build_optimizer, lr_at


def test_warmup_then_step_decay():
    cfg = TrainConfig(lr=1.0, warmup_epochs=2, decay_epochs=[5, 8], decay_factor=0.1)
    spe = 10  # steps per epoch
    assert lr_at(0, cfg, spe) == pytest.approx(1 / 20)  # linear warm-up over 20 steps
    assert lr_at(9, cfg, spe) == pytest.approx(0.5)
    assert lr_at(19, cfg, spe) == pytest.approx(1.0)
    assert lr_at(49, cfg, spe) == pytest.approx(1.0)  # epoch 4
    assert lr_at(50, cfg, spe) == pytest.approx(0.1)  # epoch 5: first decay
    assert lr_at(80, cfg, spe) == pytest.approx(0.01)
    assert lr_at(0, TrainConfig(lr=0.3), spe) == pytest.approx(0.3)  # no warm-up


def test_optimizers():
    p = [torch.nn.Parameter(torch.zeros(2))]
    sgd = build_optimizer(p, TrainConfig(optimizer="sgd", momentum=0.9, nesterov=True, weight_decay=1e-4))
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["nesterov"] and sgd.defaults["weight_decay"] == 1e-4
    assert isinstance(build_optimizer(p, TrainConfig(optimizer="adam", lr=0.1)), torch.optim.Adam)
    adamw = build_optimizer(p, TrainConfig(optimizer="adamw", lr=1e-5, weight_decay=0.1))
    assert isinstance(adamw, torch.optim.AdamW) and adamw.defaults["weight_decay"] == 0.1


def test_p1_text_schedule_warmup_steps_then_linear_decay_to_zero():
    from kdlab.config import resolve

    cfg = resolve({"preset": "p1-text"}).train  # P1 App. C.1
    assert (cfg.steps, cfg.batch_size, cfg.lr, cfg.warmup_steps, cfg.schedule, cfg.optimizer) == \
        (25000, 64, 1e-5, 1000, "linear", "adamw")
    spe = 6136  # MNLI: 392,702 pairs / 64; the count of epochs never enters a linear schedule
    assert lr_at(0, cfg, spe) == pytest.approx(1e-5 / 1000)
    assert lr_at(999, cfg, spe) == pytest.approx(1e-5)
    assert lr_at(1000, cfg, spe) == pytest.approx(1e-5)  # the peak, then down
    assert lr_at(13000, cfg, spe) == pytest.approx(1e-5 * 12000 / 24000)
    assert lr_at(24999, cfg, spe) == pytest.approx(1e-5 / 24000)
    assert cfg.total_epochs(spe) == 5 and cfg.total_steps(spe) == 25000
