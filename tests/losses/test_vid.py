"""VID: the Gaussian negative log-likelihood of the teacher's features given the student's."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kdlab.errors import ConfigError
from kdlab.losses import LOSS_TERMS
from tests.losses.feature_terms import build, double_leaves, finite, leaves, same_value_and_gradients, step, value


def features(n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = {"s1": torch.randn(n, 4, 4, 4, generator=g), "s2": torch.randn(n, 6, 2, 2, generator=g)}
    t = {"t1": torch.randn(n, 5, 2, 2, generator=g), "t2": torch.randn(n, 3, 4, 4, generator=g)}
    return s, t


def test_hand_computation_and_initial_variance():
    s = {"s": torch.tensor([0.5, -1.0]).view(2, 1, 1, 1)}
    t = {"t": torch.tensor([-1.0, 2.0]).view(2, 1, 1, 1)}
    term = build("vid", s, t, student=["s"], teacher=["t"])
    (pair,) = term.pairs
    assert torch.allclose(pair.variance(), torch.tensor([5.0]))  # the reference's init_pred_var
    with torch.no_grad():
        for conv, w in zip(pair.regressor[::2], (2.0, 1.5, -1.0)):
            conv.weight.fill_(w)
        pair.log_scale.fill_(math.log(math.e - 1))  # softplus = 1: variance 1 + eps
    # mu = -1 * relu(1.5 * relu(2 s)): -1.5 for s = 0.5, 0 for s = -1; squared errors 0.25 and 4
    var = 1 + 1e-5
    expected = (0.5 * (0.25 / var + math.log(var)) + 0.5 * (4 / var + math.log(var))) / 2
    assert value(term, step(s, t)).item() == pytest.approx(expected, rel=1e-6)


def vid_from_paper(s_maps, t_maps, params, eps=1e-5):
    """Float64: per pair, pool the larger map to the smaller, mu = W3 relu(W2 relu(W1 s)) per position,
    sigma_c^2 = log(1 + exp(alpha_c)) + eps, mean of log sigma_c + (t - mu)^2 / (2 sigma_c^2); summed."""
    total = 0.0
    for i, (s, t) in enumerate(zip(s_maps, t_maps)):
        if s.shape[2] > t.shape[2]:
            s = F.adaptive_avg_pool2d(s, t.shape[2:])
        elif s.shape[2] < t.shape[2]:
            t = F.adaptive_avg_pool2d(t, s.shape[2:])
        w = [params[f"pairs.{i}.regressor.{j}.weight"][:, :, 0, 0] for j in (0, 2, 4)]
        h = torch.relu(torch.einsum("oc,nchw->nohw", w[0], s))
        h = torch.relu(torch.einsum("oc,nchw->nohw", w[1], h))
        mu = torch.einsum("oc,nchw->nohw", w[2], h)
        var = torch.log(1 + torch.exp(params[f"pairs.{i}.log_scale"])) + eps
        var = var[None, :, None, None]
        total = total + (0.5 * torch.log(var) + (t - mu) ** 2 / (2 * var)).mean()
    return total


@pytest.mark.parametrize("dtype,rel", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_value_and_gradient_match_the_paper_in_float64(dtype, rel):
    s, t = features()
    term = build("vid", s, t, student=["s1", "s2"], teacher=["t1", "t2"]).to(dtype)
    s, t = {k: v.to(dtype) for k, v in s.items()}, {k: v.to(dtype) for k, v in t.items()}
    with torch.no_grad():  # away from the initial variance, so alpha's gradient is not special
        for pair, scale in zip(term.pairs, (0.3, 2.0)):
            pair.log_scale.copy_(torch.linspace(-1, 1, len(pair.log_scale)) * scale)
    params = double_leaves(term)
    fs = leaves(s)
    loss = value(term, step(fs, t))
    loss.backward()
    ds = {k: v.detach().double().requires_grad_() for k, v in s.items()}
    ref = vid_from_paper([ds["s1"], ds["s2"]], [t["t1"].double(), t["t2"].double()], params)
    ref.backward()
    same_value_and_gradients(term, loss, ref, fs, ds, params, rel)


@pytest.mark.parametrize("case", ["huge", "zero", "one"])
def test_extreme_inputs_give_finite_values_and_gradients(case):
    s, t = features(n=1 if case == "one" else 3)
    if case == "huge":
        s, t = {k: v * 1e15 for k, v in s.items()}, {k: v * 1e15 for k, v in t.items()}
    elif case == "zero":
        s, t = {k: torch.zeros_like(v) for k, v in s.items()}, {k: torch.zeros_like(v) for k, v in t.items()}
    term = build("vid", s, t, student=["s1", "s2"], teacher=["t1", "t2"])
    fs = leaves(s)
    loss = value(term, step(fs, t))
    loss.backward()
    assert finite(loss, *fs.values(), *term.parameters())


def test_reads_the_stages_by_default_and_vectors_as_maps():
    class Net(nn.Module):
        feature_paths = {"stages": ["stem", "a", "b"], "embedding": ["e"]}

    term = LOSS_TERMS.build("vid", {})
    term.bind(Net(), Net())
    assert term.student_features == ("a", "b") and term.teacher_features == ("a", "b")  # all stages but the stem
    vec = build("vid", {"e": torch.randn(4, 6)}, {"e": torch.randn(4, 3)}, student=["e"], teacher=["e"])
    assert value(vec, step({"e": torch.randn(4, 6)}, {"e": torch.randn(4, 3)})).isfinite()


def test_pairs_must_match_and_options_are_checked():
    s, t = features()
    with pytest.raises(ConfigError, match="pair up one to one"):
        build("vid", s, t, student=["s1", "s2"], teacher=["t1"])
    with pytest.raises(ConfigError, match="init_pred_var"):
        build("vid", s, t, init_pred_var=1e-6)
    with pytest.raises(ConfigError, match="option 'eps'"):
        build("vid", s, t, eps=0)
