"""OFD: margin ReLU on the teacher's pre-ReLU features, a conv + BN connector, partial L2."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kdlab.errors import ConfigError
from kdlab.losses import LOSS_TERMS
from kdlab.losses.ofd import margin_bn_of
from tests.losses.feature_terms import (batch_norm_train, build, conv, double_leaves, finite, leaves,
                                        same_value_and_gradients, step, value)


class Teacher(nn.Module):
    """Two batch norms whose outputs are the pre-ReLU features (as `@preact` names them)."""

    feature_paths = {"preact": ["stem", "bn1", "bn2"]}

    def __init__(self):
        super().__init__()
        self.block = nn.Conv2d(3, 3, 1)
        self.bn1, self.bn2 = nn.BatchNorm2d(3), nn.BatchNorm2d(2)
        with torch.no_grad():
            self.bn1.weight.copy_(torch.tensor([2.0, 1.0, -0.5]))
            self.bn1.bias.copy_(torch.tensor([1.0, 4.0, 0.0]))
            self.bn2.weight.copy_(torch.tensor([0.7, 1.3]))
            self.bn2.bias.copy_(torch.tensor([-0.4, 0.9]))


class Student(nn.Module):
    feature_paths = {"preact": ["stem", "s1", "s2"]}


def Phi(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def phi(x):
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def margin_by_hand(gamma, beta):
    """E[x | x < 0] for x ~ N(beta, gamma^2); -3|gamma| where P(x < 0) <= 0.001."""
    s = abs(gamma)
    return beta - s * phi(beta / s) / Phi(-beta / s) if Phi(-beta / s) > 1e-3 else -3 * s


def features(n=4, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    s = {"s1": torch.randn(n, 4, 4, 4, generator=g) * scale, "s2": torch.randn(n, 5, 2, 2, generator=g) * scale}
    t = {"bn1": torch.randn(n, 3, 4, 4, generator=g) * scale, "bn2": torch.randn(n, 2, 4, 4, generator=g) * scale}
    return s, t


def make(s, t, **options):
    return build("ofd", s, t, student_model=Student(), teacher_model=Teacher(), **options)


def test_margins_from_the_batch_norms():
    s, t = features()
    term = make(s, t)
    # @preact[1:] by default: the stem's entry is left out
    assert term.student_features == ("s1", "s2") and term.teacher_features == ("bn1", "bn2")
    hand = [margin_by_hand(2.0, 1.0), -3.0, -0.5 * phi(0) / 0.5]  # P(x<0) = Phi(-4) < 0.001 for the second
    assert hand[0] == pytest.approx(1 - 2 * 0.3520653 / 0.3085375, rel=1e-6)
    assert term.margin0.flatten().tolist() == pytest.approx(hand, rel=1e-6)
    assert term.margin1.flatten().tolist() == pytest.approx([margin_by_hand(0.7, -0.4), margin_by_hand(1.3, 0.9)], rel=1e-6)


def test_hand_computation_of_the_partial_l2_distance():
    # One channel, margin m = E[x|x<0] of N(1, 2^2); each element one case of the paper's distance.
    m = margin_by_hand(2.0, 1.0)  # about -1.28
    s_vals = [1.0, 0.0, -1.0, 0.0, -2.0, 0.5]
    t_vals = [2.0, -0.5, -0.5, -3.0, -3.0, -0.2]
    # t > 0: (s - t)^2; m < t <= 0: (s - t)^2 only where s > t; t <= m: (s - m)^2 only where s > m
    by_case = [(1 - 2) ** 2, (0 + 0.5) ** 2, 0.0, (0 - m) ** 2, 0.0, (0.5 + 0.2) ** 2]
    s = {"s1": torch.tensor(s_vals).view(2, 1, 1, 3), "s2": torch.tensor(s_vals).view(2, 1, 3, 1)}

    class OneChannel(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn1, self.bn2 = nn.BatchNorm2d(1), nn.BatchNorm2d(1)
            for bn in (self.bn1, self.bn2):
                nn.init.constant_(bn.weight, 2.0), nn.init.constant_(bn.bias, 1.0)

    t = {"bn1": torch.tensor(t_vals).view(2, 1, 1, 3), "bn2": torch.tensor(t_vals).view(2, 1, 3, 1)}
    term = build("ofd", s, t, teacher_model=OneChannel(), student=["s1", "s2"], teacher=["bn1", "bn2"])
    term.eval()  # connectors: the identity convolution and a batch norm at its initial running statistics
    with torch.no_grad():
        for c in term.connectors:
            c[0].weight.fill_(1.0)
    shrink = 1 / math.sqrt(1 + 1e-5)  # the batch norm's eps
    by_case_eval = []
    for sv, tv in zip(s_vals, t_vals):
        sv, target = sv * shrink, max(tv, m)
        by_case_eval.append(0.0 if sv <= target <= 0 else (sv - target) ** 2)
    assert by_case_eval == pytest.approx(by_case, abs=1e-4)
    per_sample = sum(by_case_eval) / 2  # summed over elements, averaged over the batch of 2
    expected = per_sample / 2 + per_sample  # the shallower pair weighs 1/2, the deepest 1
    assert value(term, step(s, t)).item() == pytest.approx(expected, rel=1e-6)


def ofd_from_paper(s_maps, t_maps, params, bns, kernel):
    """Float64: connector conv + batch norm (batch statistics), the teacher pooled to its size,
    t' = max(t, m), sum of (s - t')^2 except where s <= t' <= 0, batch mean; pair i of F weighs 2^-(F-1-i)."""
    total, n = 0.0, len(s_maps)
    for i, (s, t) in enumerate(zip(s_maps, t_maps)):
        x = conv(s, params[f"connectors.{i}.0.weight"])
        x = batch_norm_train(x, params[f"connectors.{i}.1.weight"], params[f"connectors.{i}.1.bias"])
        t = F.adaptive_avg_pool2d(t, x.shape[2:])
        m = torch.tensor([margin_by_hand(g, b) for g, b in zip(bns[i].weight.tolist(), bns[i].bias.tolist())],
                         dtype=torch.float64)[None, :, None, None]
        target = torch.maximum(t, m)
        kept = ~((x <= target) & (target <= 0))
        total = total + ((x - target) ** 2 * kept).sum() / len(s) / 2 ** (n - 1 - i)
    return total


@pytest.mark.parametrize("kernel", [1, 3])
# float64: the margins were computed in float64 but are kept as float32 buffers
@pytest.mark.parametrize("dtype,rel", [(torch.float32, 1e-5), (torch.float64, 1e-7)])
def test_value_and_gradient_match_the_paper_in_float64(kernel, dtype, rel):
    s, t = features()
    teacher = Teacher()
    term = build("ofd", s, t, student_model=Student(), teacher_model=teacher, kernel_size=kernel).to(dtype)
    s, t = {k: v.to(dtype) for k, v in s.items()}, {k: v.to(dtype) for k, v in t.items()}
    with torch.no_grad():  # batch-norm affine parameters away from their initial values
        for c in term.connectors:
            c[1].weight.uniform_(0.5, 1.5), c[1].bias.uniform_(-0.5, 0.5)
    params = double_leaves(term)
    fs = leaves(s)
    loss = value(term, step(fs, t))
    loss.backward()
    ds = {k: v.detach().double().requires_grad_() for k, v in s.items()}
    ref = ofd_from_paper([ds["s1"], ds["s2"]], [t["bn1"].double(), t["bn2"].double()], params,
                         [teacher.bn1, teacher.bn2], kernel)
    ref.backward()
    same_value_and_gradients(term, loss, ref, fs, ds, params, rel)


@pytest.mark.parametrize("case", ["huge", "zero", "one"])
def test_extreme_inputs_give_finite_values_and_gradients(case):
    s, t = features(n=1 if case == "one" else 4, scale={"huge": 1e15, "zero": 0.0}.get(case, 1.0))
    term = make(s, t)
    fs = leaves(s)
    loss = value(term, step(fs, t))
    loss.backward()
    assert finite(loss, *fs.values(), *term.parameters())


def test_the_margins_batch_norms_are_found_or_named():
    s, t = features()
    t_blocks = {"block": t["bn1"], "bn2": t["bn2"]}
    with pytest.raises(ConfigError, match="no batch norm makes the teacher's 'block' \\(a Conv2d\\)"):
        build("ofd", s, t_blocks, student_model=Student(), teacher_model=Teacher(), teacher=["block", "bn2"])
    named = build("ofd", s, t_blocks, student_model=Student(), teacher_model=Teacher(), teacher=["block", "bn2"],
                  margin_bn=["bn1", "bn2"])
    assert named.margin0.flatten().tolist() == pytest.approx(make(s, t).margin0.flatten().tolist())
    with pytest.raises(ConfigError, match="margin_bn names 1 batch norms for 2 teacher features"):
        build("ofd", s, t, student_model=Student(), teacher_model=Teacher(), margin_bn=["bn1"])
    with pytest.raises(ConfigError, match="pair up one to one"):
        build("ofd", s, t, student_model=Student(), teacher_model=Teacher(), student=["s1"])
    with pytest.raises(ConfigError, match="margin_bn 'block' is a Conv2d of the teacher"):
        build("ofd", s, t, student_model=Student(), teacher_model=Teacher(), margin_bn=["block", "bn2"])
    with pytest.raises(ConfigError, match="kernel_size 2 must be odd"):
        LOSS_TERMS.build("ofd", {"kernel_size": 2})


def test_kdlab_models_margins_batch_norms():
    """Post-activation blocks: the residual branch's last batch norm (not the shortcut's); batch norms
    named in @preact: themselves; a pre-activation ResNet's block outputs: none (tap its batch norms)."""
    from kdlab.models import build_model

    v1 = build_model("resnet8_v1", 10, (1, 8, 8))  # stage2.0 has a projection shortcut with a batch norm
    assert [margin_bn_of(v1, p) for p in v1.feature_paths["preact"][1:]] == [
        "stage1.0.bn2", "stage2.0.bn2", "stage3.0.bn2"]
    wrn = build_model("wrn_16_1", 10, (3, 8, 8))
    assert [margin_bn_of(wrn, p) for p in wrn.feature_paths["preact"][1:]] == wrn.feature_paths["preact"][1:]
    v2 = build_model("resnet8", 10, (1, 8, 8))
    assert margin_bn_of(v2, "blocks.0") is None and margin_bn_of(v2, "blocks.1.bn1") == "blocks.1.bn1"
    with pytest.raises(ConfigError, match="no batch norm makes the teacher's 'blocks.0' \\(a PreActBlock\\)"):
        LOSS_TERMS.build("ofd", {}).bind(v2, v2)


def test_a_batch_of_one_at_a_1x1_feature_is_a_one_line_error_in_training():
    s, t = features(n=1)
    s = {"s1": s["s1"], "s2": s["s2"][:, :, :1, :1]}
    term = make(s, t)
    with pytest.raises(ConfigError, match="ofd: 's2' gives one value per channel in this batch"):
        value(term, step(s, t))
    term.eval()
    assert torch.isfinite(value(term, step(s, t)))
