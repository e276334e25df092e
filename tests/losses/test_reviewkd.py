"""ReviewKD: attention-based fusion of the student's levels from deep to shallow, hierarchical context loss."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kdlab.errors import ConfigError
from kdlab.losses import LOSS_TERMS
from kdlab.losses.reviewkd import hcl
from tests.losses.feature_terms import (batch_norm_train, build, conv, double_leaves, finite, leaves,
                                        same_value_and_gradients, step, value)

S_PATHS, T_PATHS = ["s1", "s2", "s3", "se"], ["t1", "t2", "t3", "te"]


def features(n=4, seed=0, scale=1.0, embedding=True):
    """Student levels 8x8, 4x4, 2x2 and a vector; the teacher's at 8x8, 4x4, 4x4 (another size) and a vector."""
    g = torch.Generator().manual_seed(seed)
    s = {"s1": torch.randn(n, 3, 8, 8, generator=g), "s2": torch.randn(n, 4, 4, 4, generator=g),
         "s3": torch.randn(n, 6, 2, 2, generator=g), "se": torch.randn(n, 6, generator=g)}
    t = {"t1": torch.randn(n, 5, 8, 8, generator=g), "t2": torch.randn(n, 2, 4, 4, generator=g),
         "t3": torch.randn(n, 7, 4, 4, generator=g), "te": torch.randn(n, 7, generator=g)}
    if not embedding:
        s.pop("se"), t.pop("te")
    return {k: v * scale for k, v in s.items()}, {k: v * scale for k, v in t.items()}


def test_hand_computation_of_the_hierarchical_context_loss():
    s = torch.zeros(1, 1, 4, 4)
    t = torch.arange(16.0).view(1, 1, 4, 4)
    # the maps: mean of t^2 = 1240 / 16; 2x2 pools (2.5, 4.5, 10.5, 12.5): 293 / 4; 1x1 pool 7.5: 56.25;
    # pools of 4 are not smaller than the map and are left out; weights 1, 1/2, 1/4
    level = (1240 / 16 + 293 / 4 / 2 + 56.25 / 4) / (1 + 1 / 2 + 1 / 4)
    assert level == pytest.approx(73.25)
    vec_s, vec_t = torch.tensor([[1.0, 2.0]]).view(1, 2, 1, 1), torch.tensor([[0.0, 4.0]]).view(1, 2, 1, 1)
    assert hcl([s, vec_s], [t, vec_t]).item() == pytest.approx(level + (1 + 4) / 2)  # a 1x1 level: its mse alone
    big_s, big_t = torch.zeros(1, 1, 8, 8), torch.ones(1, 1, 8, 8)
    assert hcl([big_s], [big_t]).item() == pytest.approx(1.0)  # four pyramid levels of an error of 1


def test_shapes_follow_the_reference():
    s, t = features()
    term = build("reviewkd", s, t, student=S_PATHS, teacher=T_PATHS)
    assert [abf.att_conv is not None for abf in term.abfs] == [True, True, True, False]  # the deepest does not fuse
    assert [abf.conv1[0].out_channels for abf in term.abfs] == [6] * 4  # mid = min(512, the deepest's channels)
    assert [abf.conv2[0].out_channels for abf in term.abfs] == [5, 2, 7, 7]  # the teacher's channels
    assert term.out_sizes == [(8, 8), (4, 4), (4, 4), (1, 1)]
    fused = term.fuse([s[p] for p in S_PATHS])
    assert [tuple(f.shape) for f in fused] == [(4, 5, 8, 8), (4, 2, 4, 4), (4, 7, 4, 4), (4, 7, 1, 1)]
    assert build("reviewkd", s, t, student=S_PATHS, teacher=T_PATHS, max_mid_channel=4).abfs[0].conv1[0].out_channels == 4


def abf_from_paper(x, residual, out_size, p, prefix):
    a = batch_norm_train(conv(x, p[f"{prefix}.conv1.0.weight"]), p[f"{prefix}.conv1.1.weight"], p[f"{prefix}.conv1.1.bias"])
    if residual is not None:
        residual = F.interpolate(residual, size=a.shape[2:], mode="nearest")
        att = torch.sigmoid(conv(torch.cat([a, residual], 1), p[f"{prefix}.att_conv.0.weight"], p[f"{prefix}.att_conv.0.bias"]))
        a = a * att[:, :1] + residual * att[:, 1:]
    if tuple(a.shape[2:]) != out_size:
        a = F.interpolate(a, size=out_size, mode="nearest")
    y = batch_norm_train(conv(a, p[f"{prefix}.conv2.0.weight"]), p[f"{prefix}.conv2.1.weight"], p[f"{prefix}.conv2.1.bias"])
    return y, a


def reviewkd_from_paper(s_maps, t_maps, p):
    """Float64: ABFs from the deepest level up (each output to the teacher's size), then HCL per level."""
    out, residual = [None] * len(s_maps), None
    for i in reversed(range(len(s_maps))):
        out[i], residual = abf_from_paper(s_maps[i], residual, tuple(t_maps[i].shape[2:]), p, f"abfs.{i}")
    total = 0.0
    for o, t in zip(out, t_maps):
        loss, w, ws = ((o - t) ** 2).mean(), 1.0, 1.0
        for size in (4, 2, 1):
            if size < o.shape[2]:
                w /= 2
                loss = loss + w * ((F.adaptive_avg_pool2d(o, size) - F.adaptive_avg_pool2d(t, size)) ** 2).mean()
                ws += w
        total = total + loss / ws
    return total


@pytest.mark.parametrize("dtype,rel", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_value_and_gradient_match_the_paper_in_float64(dtype, rel):
    s, t = features()
    term = build("reviewkd", s, t, student=S_PATHS, teacher=T_PATHS).to(dtype)
    s, t = {k: v.to(dtype) for k, v in s.items()}, {k: v.to(dtype) for k, v in t.items()}
    with torch.no_grad():  # batch-norm affine parameters away from their initial values
        for name, p in term.named_parameters():
            if ".1." in name:
                p.uniform_(0.5, 1.5) if name.endswith("weight") else p.uniform_(-0.5, 0.5)
    params = double_leaves(term)
    fs = leaves(s)
    loss = value(term, step(fs, t))
    loss.backward()
    ds = {k: v.detach().double().requires_grad_() for k, v in s.items()}
    as_map = lambda x: x[:, :, None, None] if x.dim() == 2 else x  # noqa: E731
    ref = reviewkd_from_paper([as_map(ds[k]) for k in S_PATHS], [as_map(t[k].double()) for k in T_PATHS], params)
    ref.backward()
    same_value_and_gradients(term, loss, ref, fs, ds, params, rel)


@pytest.mark.parametrize("case", ["huge", "zero", "one"])
def test_extreme_inputs_give_finite_values_and_gradients(case):
    # A batch of one is defined without a 1x1 level (its batch norms would see one value per channel).
    s, t = features(n=1 if case == "one" else 4, scale={"huge": 1e15, "zero": 0.0}.get(case, 1.0),
                    embedding=case != "one")
    paths = (S_PATHS, T_PATHS) if case != "one" else (S_PATHS[:3], T_PATHS[:3])
    term = build("reviewkd", s, t, student=paths[0], teacher=paths[1])
    fs = leaves(s)
    loss = value(term, step(fs, t))
    loss.backward()
    assert finite(loss, *fs.values(), *term.parameters())


def test_reads_stages_and_embedding_by_default():
    class Net(nn.Module):
        feature_paths = {"stages": ["stem", "a", "b"], "preact": ["stem", "pa", "pb"], "embedding": ["e"]}

    term = LOSS_TERMS.build("reviewkd", {})
    term.bind(Net(), Net())
    assert term.student_features == ("a", "b", "e") and term.teacher_features == ("pa", "pb", "e")
    s, t = features()
    with pytest.raises(ConfigError, match="pair up level by level"):
        build("reviewkd", s, t, student=S_PATHS, teacher=T_PATHS[:3])


def test_a_batch_of_one_at_a_1x1_level_is_a_one_line_error_in_training_only():
    s, t = features(n=1)
    term = build("reviewkd", s, t, student=S_PATHS, teacher=T_PATHS)
    with pytest.raises(ConfigError, match="reviewkd: 'se' gives one value per channel in this batch.*train.batch_size"):
        value(term, step(s, t))
    term.eval()  # running statistics: defined
    assert torch.isfinite(value(term, step(s, t)))


def test_under_bf16_autocast_it_computes_in_float32():
    s, t = features()
    term = build("reviewkd", s, t, student=S_PATHS, teacher=T_PATHS)
    expected = value(term, step(s, t))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = value(term, step({k: v.bfloat16() for k, v in s.items()}, {k: v.bfloat16() for k, v in t.items()}))
    assert half.dtype == torch.float32 and half.item() == pytest.approx(expected.item(), rel=2e-2)
