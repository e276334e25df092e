import pytest
import torch

from kdlab.config import LossConfig
from kdlab.distill.objective import Objective
from kdlab.losses import StepOutputs


def test_objective_uses_teacher_only_while_kd_weighs():
    obj = Objective(LossConfig(onehot_weight=1, kd_weight=0, switch={"to": "kd", "at_step": 10, "window": 4}))
    assert not obj.needs_teacher(10) and obj.needs_teacher(11)
    logits, labels = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    total, terms = obj(StepOutputs(logits, {"label": labels}, torch.randn(4, 3)), 12)
    assert total.item() == pytest.approx(0.5 * terms["onehot"].item() + 0.5 * terms["kd"].item(), rel=1e-6)
    assert set(terms) == {"onehot", "kd", "kl", "loss"}
