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
